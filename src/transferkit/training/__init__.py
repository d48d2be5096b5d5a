"""The training loop every neural strategy shares, and the batching that makes it fast."""
