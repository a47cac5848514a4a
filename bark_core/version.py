"""The package's version (bundles record it, next to the versions of torch and transformers)."""

__version__ = "0.5.1"
