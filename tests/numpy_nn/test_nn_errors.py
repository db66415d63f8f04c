"""Bad input gets a clear error naming the layer, what was expected and what arrived -- never a wrong number."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import numpy_nn as nn
from cnnlab.models import build_model


def _img(*shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


def test_wrong_ndim_names_layer_and_shapes():
    conv = nn.Conv2d(3, 8, 5)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8, kernel_size=\(5, 5\).*expected a 4-D input \(N, C, H, W\), "
                                         r"got shape \(3, 32, 32\) \(3-D\)\. For a single image add a batch axis"):
        conv(_img(3, 32, 32))
    with pytest.raises(ValueError, match=r"MaxPool2d.*expected a 4-D input.*got shape \(4, 10\)"):
        nn.MaxPool2d(2)(_img(4, 10))


def test_channel_mismatch_explains_nhwc_and_grayscale():
    model = build_model("lenet", engine="numpy")
    with pytest.raises(ValueError, match=r"conv1: Conv2d\(3, 8.*expected input with 3 channels.*got shape "
                                         r"\(2, 32, 32, 3\) with 32 channels\. The input looks channels-last"):
        model(_img(2, 32, 32, 3))
    with pytest.raises(ValueError, match="A grayscale image was given to a layer that expects RGB"):
        model(_img(2, 1, 32, 32))
    with pytest.raises(ValueError, match="An RGB image was given to a layer that expects grayscale"):
        build_model("mnist-cnn", engine="numpy")(_img(2, 3, 28, 28))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"Conv2d\(1, 1, kernel_size=\(5, 5\).*kernel \(5, 5\) \(dilation \(1, 1\)\) "
                                         r"is larger than the padded input: input 2x8 padded to 4x10"):
        nn.Conv2d(1, 1, 5, padding=1)(_img(1, 1, 2, 8))
    with pytest.raises(ValueError, match=r"kernel covers 5x1"):
        nn.Conv2d(1, 1, (3, 1), dilation=2)(_img(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"MaxPool2d.*window \(3, 3\) does not fit the input 2x2"):
        nn.MaxPool2d(3)(_img(1, 1, 2, 2))


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(stride=0), "stride must be positive"),
    (dict(stride=(1, -1)), "stride must be positive"),
    (dict(dilation=0), "dilation must be positive"),
    (dict(padding=-1), "padding must be non-negative"),
    (dict(groups=2), "in_channels must be divisible by groups"),
    (dict(padding="same", stride=2), "padding='same' is not supported for strided convolutions"),
    (dict(padding="full"), "Invalid padding string 'full'"),
    (dict(padding_mode="mirror"), "padding_mode must be one of"),
    (dict(algorithm="fft"), "algorithm must be one of"),
])
def test_bad_conv_arguments(kwargs, message):
    with pytest.raises(ValueError, match=f"Conv2d.*{message}"):
        nn.Conv2d(3, 4, 3, **kwargs)


def test_bad_pool_and_linear_arguments():
    with pytest.raises(ValueError, match="MaxPool2d: stride must be positive"):
        nn.MaxPool2d(2, stride=0)
    with pytest.raises(ValueError, match="padding should be at most half of the kernel size"):
        nn.AvgPool2d(2, padding=2)
    with pytest.raises(ValueError, match="Linear: in_features must be a positive integer"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="Dropout: probability has to be between 0 and 1"):
        nn.Dropout(1.5)


def test_reflect_padding_larger_than_input():
    with pytest.raises(ValueError, match=r"padding_mode='reflect' needs padding smaller than the input height; "
                                         r"got padding 3 for an input height of 3"):
        nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(_img(1, 1, 3, 9))


@pytest.mark.parametrize("layer", [nn.Conv2d(1, 2, 3), nn.Linear(4, 2), nn.ReLU(), nn.MaxPool2d(2)], ids=repr)
def test_integer_input_is_a_type_error(layer):
    x = _img(1, 1, 4, 4, dtype=np.uint8) if not isinstance(layer, nn.Linear) else _img(2, 4, dtype=np.int64)
    with pytest.raises(TypeError, match=rf"{type(layer).__name__}.*expected a floating-point input \(float32\), got "
                                        rf"dtype {x.dtype}"):
        layer(x)


def test_uint8_images_get_a_conversion_hint():
    with pytest.raises(TypeError, match=r"uint8 images\? Convert with x.astype\(np.float32\) / 255"):
        build_model("mnist-cnn", engine="numpy")(_img(2, 1, 28, 28, dtype=np.uint8))


def test_non_finite_input_is_a_value_error():
    x = _img(1, 1, 4, 4)
    x[0, 0, 2, 1] = np.nan
    with pytest.raises(ValueError, match=r"Conv2d.*contains 1 non-finite value\(s\) \(NaN or inf\), the first at "
                                         r"index \(0, 0, 2, 1\)"):
        nn.Conv2d(1, 1, 2)(x)
    with pytest.raises(ValueError, match="non-finite"):
        nn.Linear(2, 2)(np.array([[1.0, np.inf]], dtype=np.float32))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss.*logits contains"):
        nn.CrossEntropyLoss()(np.array([[np.nan, 0.0]], dtype=np.float32), np.array([0]))


def test_torch_tensor_input_says_how_to_convert():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"is a torch.Tensor.*x.detach\(\).cpu\(\).numpy\(\)"):
        nn.Linear(2, 2)(torch.zeros(1, 2))


@pytest.mark.parametrize("layer", [nn.Conv2d(1, 1, 1), nn.Linear(2, 2), nn.ReLU(), nn.MaxPool2d(2), nn.AvgPool2d(2),
                                   nn.Flatten(), nn.Dropout(), nn.CrossEntropyLoss(), nn.MSELoss()], ids=repr)
def test_backward_before_forward(layer):
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        layer.backward(np.zeros((1, 1, 2, 2), np.float32))


def test_backward_with_wrong_gradient_shape():
    conv = nn.Conv2d(1, 2, 3)
    conv(_img(2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"backward expected grad_out of shape \(2, 2, 3, 3\).*got \(2, 2, 3, 4\)"):
        conv.backward(_img(2, 2, 3, 4))


def test_linear_feature_mismatch():
    with pytest.raises(ValueError, match=r"Linear\(in_features=490.*expected input \(N, 490\).*got shape \(5, 640\)"):
        nn.Linear(490, 10)(_img(5, 640))
    with pytest.raises(ValueError, match=r"got shape \(5, 10, 7, 7\)\. Images or feature maps\? Put a Flatten\(\)"):
        nn.Linear(490, 10)(_img(5, 10, 7, 7))


def test_loss_target_errors():
    crit = nn.CrossEntropyLoss()
    logits = _img(3, 4)
    with pytest.raises(TypeError, match="target must hold integer class indices"):
        crit(logits, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"target must have shape \(3,\) to match logits \(3, 4\), got \(2,\)"):
        crit(logits, np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"target class 4 is out of range for 4 classes \(0..3\)"):
        crit(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"expected logits of shape \(N, classes\), got shape \(4,\)"):
        crit(np.zeros(4, np.float32), np.array([1]))
    with pytest.raises(ValueError, match=r"MSELoss.*same shape"):
        nn.MSELoss()(_img(2, 3), _img(3, 2))


def test_optimizer_argument_errors():
    params = nn.Linear(2, 2).parameters()
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        nn.SGD(params, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        nn.SGD(params, lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        nn.Adam(params, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty parameter list"):
        nn.SGD([], lr=0.1)
    with pytest.raises(TypeError, match=r"expected a cnnlab\.numpy_nn Parameter"):
        nn.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="You must define either total_steps"):
        nn.OneCycleLR(nn.SGD(params, lr=0.1), max_lr=0.1)
