"""cnnlab: convolutional networks from scratch (NumPy and PyTorch), proven against PyTorch."""

from cnnlab.geometry import calculate_conv_output, conv_output_size

__version__ = "0.1.0"
__all__ = ["__version__", "calculate_conv_output", "conv_output_size"]
