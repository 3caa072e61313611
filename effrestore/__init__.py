"""effrestore: efficient-attention image restoration, exported and run under a measured memory budget."""

__version__ = "0.1.0"

__all__ = ["__version__"]
