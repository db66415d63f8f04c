"""Models: layer families (torch.nn, own torch layers, NumPy engine), the assignments' networks defined once, and
engine-neutral introspection.

    from cnnlab.models import build_model
    net = build_model("lenet", engine="numpy")         # same state_dict keys in every family
"""

from cnnlab.models.families import FAMILIES, LayerFamily, all_conv_algorithms, get_family
from cnnlab.models.protocol import Model
from cnnlab.models.zoo import MODELS, ModelInfo, build_model, build_torch_model, count_parameters, get_model_info

__all__ = ["FAMILIES", "MODELS", "LayerFamily", "Model", "ModelInfo", "all_conv_algorithms", "build_model",
           "build_torch_model", "count_parameters", "get_family", "get_model_info"]
