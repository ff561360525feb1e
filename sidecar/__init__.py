"""rerank-sidecar: hybrid retrieval and cross-encoder reranking in front of OpenSearch."""

__version__ = "0.1.0"
