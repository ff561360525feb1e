"""A cache shared by replicas (Redis or Valkey) behind the window, score and query-embedding caches."""
