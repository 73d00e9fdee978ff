"""aftersale: a self-hosted post-purchase platform."""

__version__ = "0.1.0"
