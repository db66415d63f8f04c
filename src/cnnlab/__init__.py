"""cnnlab: convolutional networks from scratch (NumPy and PyTorch), proven against PyTorch."""

from cnnlab.geometry import conv_output_size

__version__ = "0.1.0"
__all__ = ["__version__", "conv_output_size"]
