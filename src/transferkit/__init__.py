"""transferkit: adapt pretrained language models to your own NLP task with few labels,
and measure what the transfer bought."""

__version__ = "0.1.0"
