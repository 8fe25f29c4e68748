"""vidlens: learn, extract and understand spatiotemporal features of 3D ConvNets on video."""

__version__ = "0.1.0"
