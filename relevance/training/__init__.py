"""Fine-tuning a cross-encoder on the user's judgments (`rerank-sidecar train-reranker`)."""
