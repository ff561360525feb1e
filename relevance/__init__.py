"""Relevance tooling: offline evaluation, window choice, score calibration and reranker fine-tuning."""
