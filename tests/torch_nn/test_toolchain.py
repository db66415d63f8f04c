"""The torch toolchain on models built from the own layers: TorchScript (script, trace), torch.fx, ONNX (both
exporters, run in onnxruntime), torch.func (vmap, per-sample gradients, ensembles), batched output gradients
(``is_grads_batched``, vectorized jacobians), torch.compile and autocast.

Every check compares with the same model built from torch.nn (or with the eager own model) on narrow copies of
classic architectures. ``torch.compile`` with the inductor backend (a C++ compile, tens of seconds) and the dynamo
ONNX exporter are in the end-to-end tier; the fast tier compiles with the ``aot_eager`` backend (the same graph
capture and autograd tracing, no code generation).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch import nn
from torch_nn.classic_models import TORCH_LAYERS
from torch_nn.test_drop_in import OWN_LAYERS, build_pair, max_relative_difference

from cnnlab import torch_nn
from cnnlab.models import build_model
from cnnlab.torch_nn import conv_depthwise, conv_im2col
from cnnlab.torch_nn import functional as own_functional

#: Architectures covering view-flattening, batch norm + residuals, depthwise convs, concatenation, dilation.
MODELS = ["tutorial-net", "resnet18", "mobilenet-v2", "squeezenet1.1", "deeplabv3-aspp"]
#: The fast tier: a small net with every kind of layer (below) and the tutorial net; the rest is end to end
#: (scripting, tracing and exporting a whole ResNet or MobileNet takes seconds to a minute on a busy CPU).
FAST = ["mini", "tutorial-net"]
#: Scripting or tracing MobileNet or DeepLab takes 20-50 s each on a busy CPU; these cover the same layer kinds.
SCRIPTED = [*FAST, pytest.param("resnet18", marks=pytest.mark.e2e),
            pytest.param("squeezenet1.1", marks=pytest.mark.e2e)]


class MiniNet(nn.Module):
    """Strided, depthwise, grouped + dilated (reflect padding), 1x1 and linear layers; BatchNorm, a residual,
    concatenation, ``.view`` flattening."""

    def __init__(self, layers: Any) -> None:
        super().__init__()
        self.stem = nn.Sequential(layers.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.depthwise = nn.Sequential(layers.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU6())
        self.grouped = layers.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2, padding_mode="reflect")
        self.pointwise = layers.Conv2d(16, 6, 1)
        self.fc = layers.Linear(6 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.cat([x + self.depthwise(x), self.grouped(x)], dim=1)
        x = nn.functional.max_pool2d(self.pointwise(x), 2)
        return self.fc(x.view(x.size(0), -1))


@pytest.fixture(autouse=True)
def _quiet_toolchain() -> Iterator[None]:
    """torch.jit's deprecation notices and tracer hints are torch's, not ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


def float32_pair(name: str) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """The torch.nn model and its own-layer twin (same weights) in eval mode, and an input batch, in float32."""
    if name == "mini":
        torch.manual_seed(0)
        library = MiniNet(TORCH_LAYERS)
        own = MiniNet(OWN_LAYERS)
        own.load_state_dict(library.state_dict())
        return library.eval(), own.eval(), torch.randn(4, 3, 16, 16)
    library, own, x = build_pair(name)
    return library.float().eval(), own.float().eval(), x.float()


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, what: str, tolerance: float = 1e-5) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert max_relative_difference(actual, expected) < tolerance, what


def gradients(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Parameter gradients of a loss in eval mode, in the order of the parameter names (an FX graph is traced in
    one mode and registers parameters in the order of use; train-mode equivalence with torch is proven in float64
    in test_drop_in, where small-batch BatchNorm is well conditioned)."""
    named = sorted(model.named_parameters())
    grads = torch.autograd.grad(model(x).square().mean(), [p for _, p in named])
    return list(grads)


# ----------------------------------------------------------------------------------------------------- TorchScript
@pytest.mark.parametrize("name", SCRIPTED)
def test_scripted_model_matches_torch_and_round_trips(name):
    library, own, x = float32_pair(name)
    scripted = torch.jit.script(own)
    assert_matches(scripted(x), library(x), "scripted forward")
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    assert_matches(loaded(x), library(x), "saved and loaded")
    for g_script, g_lib in zip(gradients(scripted, x), gradients(library, x), strict=True):
        assert_matches(g_script, g_lib, "scripted gradient", 1e-4)


@pytest.mark.parametrize("name", SCRIPTED)
def test_traced_model_matches_torch_also_for_another_batch_size(name):
    library, own, x = float32_pair(name)
    traced = torch.jit.trace(own, x, check_trace=False)  # (checked below, on two batch sizes)
    assert_matches(traced(x), library(x), "traced forward")
    other = torch.randn(2, *x.shape[1:])
    assert_matches(traced(other), library(other), "traced forward, batch 2")
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    buffer.seek(0)
    assert_matches(torch.jit.load(buffer)(x), library(x), "saved and loaded")


# ---------------------------------------------------------------------------------------------------------- torch.fx
@pytest.mark.parametrize("name", [*FAST, *(name for name in MODELS if name not in FAST)])
def test_fx_symbolic_trace_keeps_the_own_functions_as_leaves(name):
    library, own, x = float32_pair(name)
    graph_module = torch.fx.symbolic_trace(own)
    targets = {node.target for node in graph_module.graph.nodes if node.op == "call_function"}
    assert own_functional.conv2d_padded in targets
    assert_matches(graph_module(x), library(x), "fx graph forward")
    for g_fx, g_lib in zip(gradients(graph_module, x), gradients(library, x), strict=True):
        assert_matches(g_fx, g_lib, "fx graph gradient", 1e-4)


def test_fx_graph_exposes_intermediate_features():
    """Feature extraction by graph surgery: return the output of the first residual stage as well."""
    library, own, x = float32_pair("resnet18")
    graph_module = torch.fx.symbolic_trace(own)
    stage = [node for node in graph_module.graph.nodes if node.name.startswith("layer1_")][-1]
    output = next(node for node in graph_module.graph.nodes if node.op == "output")
    output.args = ((output.args[0], stage),)
    graph_module.recompile()
    logits, features = graph_module(x)
    assert_matches(logits, library(x), "logits")
    assert_matches(features, library.layer1(library.maxpool(library.relu(library.bn1(library.conv1(x))))), "stage 1")


# ------------------------------------------------------------------------------------------------------------- ONNX
def onnx_outputs(model: nn.Module, x: torch.Tensor, dynamo: bool, path: str) -> object:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    with torch.no_grad():
        torch.onnx.export(model, (x,), path, dynamo=dynamo, input_names=["x"])
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x.numpy()})[0]


@pytest.mark.parametrize("name", FAST)
def test_torchscript_onnx_export_runs_in_onnxruntime(name, tmp_path):
    library, own, x = float32_pair(name)
    result = onnx_outputs(own, x, dynamo=False, path=str(tmp_path / "model.onnx"))
    assert_matches(torch.from_numpy(result), library(x), "onnxruntime output")


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["mini"])  # (a ResNet or MobileNet takes minutes on a busy CPU)
def test_dynamo_onnx_export_runs_in_onnxruntime(name, tmp_path):
    pytest.importorskip("onnxscript")
    library, own, x = float32_pair(name)
    result = onnx_outputs(own, x, dynamo=True, path=str(tmp_path / "model.onnx"))
    assert_matches(torch.from_numpy(result), library(x), "onnxruntime output")


# ------------------------------------------------------------------------------------------------------ torch.func
@pytest.mark.parametrize("name", [*FAST, "mobilenet-v2", "squeezenet1.1"])
def test_vmap_over_a_leading_axis_equals_the_flat_batch(name):
    library, own, x = float32_pair(name)
    stacked = x.view(2, 2, *x.shape[1:])
    assert_matches(torch.func.vmap(own)(stacked).flatten(0, 1), library(x), "vmap over batches")
    single = torch.func.vmap(lambda image: own(image[None])[0])(x)  # per image
    assert_matches(single, library(x), "vmap over images")


@pytest.mark.parametrize("name", [*FAST, "mobilenet-v2"])
def test_per_sample_gradients_with_vmap_of_grad(name):
    library, own, x = float32_pair(name)

    def per_sample(model: nn.Module) -> dict[str, torch.Tensor]:
        params = {k: v.detach() for k, v in model.named_parameters()}
        buffers = {k: v.detach() for k, v in model.named_buffers()}

        def loss(p: dict[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(model, (p, buffers), (image[None],)).square().sum()

        return torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(params, x)

    expected, actual = per_sample(library), per_sample(own)
    for key, value in expected.items():
        assert_matches(actual[key], value, f"per-sample gradient of {key}", 1e-4)


def test_vmap_over_an_ensemble_of_weights():
    """Batched weights (torch.func.stack_module_state): every member computes its own convolution."""
    members = [torch_nn.Conv2d(3, 4, 3, padding=1, groups=1) for _ in range(3)]
    params, buffers = torch.func.stack_module_state(members)
    x = torch.randn(2, 3, 6, 6)

    def run(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.func.functional_call(members[0], (p, b), (x,))

    out = torch.func.vmap(run)(params, buffers)
    for i, member in enumerate(members):
        with torch.no_grad():
            assert_matches(out[i], nn.functional.conv2d(x, member.weight, member.bias, padding=1), f"member {i}")


BATCHED_GRADIENT_LAYERS = {
    "dense, padded": {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1},
    "grouped, strided, reflect": {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1,
                                  "groups": 2, "padding_mode": "reflect"},
    "depthwise, flat runs": {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1,
                             "groups": 4, "size": 30},
    "depthwise, channels-last": {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding": 1, "groups": 4,
                                 "size": 4},
    "depthwise, reflect": {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding": 1, "groups": 4,
                           "padding_mode": "reflect"},  # (padded by F.pad, then the depthwise taps)
}


def seeded_twins(case: dict[str, Any]) -> tuple[list[nn.Module], torch.Tensor]:
    """``nn.Conv2d`` and the own ``Conv2d`` with the same parameters (float64) for a case of
    :data:`BATCHED_GRADIENT_LAYERS`, and an input batch of three."""
    kwargs = dict(case)
    size = kwargs.pop("size", 9)
    layers = []
    for layer in (nn.Conv2d, torch_nn.Conv2d):
        torch.manual_seed(0)
        layers.append(layer(**kwargs, dtype=torch.float64))
    return layers, torch.randn(3, kwargs["in_channels"], size, size, dtype=torch.float64)


@pytest.mark.parametrize("kwargs", list(BATCHED_GRADIENT_LAYERS.values()), ids=list(BATCHED_GRADIENT_LAYERS))
def test_batched_output_gradients_equal_one_at_a_time(kwargs):
    """``torch.autograd.grad(..., is_grads_batched=True)`` runs the backward under torch's legacy vmap; the eager
    layers then take the graph form's gradients, the same as computing each output gradient on its own."""
    (_, conv), x = seeded_twins(kwargs)
    x.requires_grad_()
    y = conv(x)
    upstream = torch.randn(3, *y.shape, dtype=torch.float64)
    wanted = [x, conv.weight, conv.bias]
    batched = torch.autograd.grad(y, wanted, upstream, is_grads_batched=True)
    for k, name in enumerate(["input", "weight", "bias"]):
        one_by_one = torch.stack([torch.autograd.grad(conv(x), wanted, u)[k] for u in upstream])
        assert_matches(batched[k], one_by_one, f"batched gradient of the {name}", 1e-12)


@pytest.mark.parametrize("chunk_bytes", [None, 1], ids=["default chunks", "one image per chunk"])
@pytest.mark.parametrize("kwargs", list(BATCHED_GRADIENT_LAYERS.values()), ids=list(BATCHED_GRADIENT_LAYERS))
def test_double_backward_equals_torch_nn(monkeypatch, kwargs, chunk_bytes):
    """A gradient penalty (``create_graph=True``, then the gradient of ``|dL/dx|^2``) as with ``nn.Conv2d``: the
    weight, input and bias gradients of the penalty."""
    if chunk_bytes is not None:
        monkeypatch.setitem(conv_im2col.IM2COL_CHUNK_BYTES, "cpu", chunk_bytes)
        monkeypatch.setitem(conv_depthwise.DEPTHWISE_CHUNK_BYTES, "cpu", chunk_bytes)
    layers, x = seeded_twins(kwargs)
    results = []
    for conv in layers:
        inputs = x.clone().requires_grad_()
        (grad_x,) = torch.autograd.grad(conv(inputs).pow(2).sum(), inputs, create_graph=True)
        results.append(torch.autograd.grad(grad_x.pow(2).sum(), [conv.weight, inputs, conv.bias]))
    for name, own, library in zip(["weight", "input", "bias"], results[1], results[0], strict=True):
        assert_matches(own, library, f"penalty gradient of the {name}", 1e-10)


@pytest.mark.parametrize("tangents", ["input", "weight", "bias", "input+weight+bias"])
@pytest.mark.parametrize("kwargs", list(BATCHED_GRADIENT_LAYERS.values()), ids=list(BATCHED_GRADIENT_LAYERS))
def test_forward_mode_tangents_equal_torch_nn(kwargs, tangents):
    """``torch.autograd.forward_ad`` dual tensors: the own layers' tangent ``conv(dx, W) + conv(x, dW) + db`` (and
    primal) equal ``nn.Conv2d``'s."""
    layers, x = seeded_twins(kwargs)
    results = []
    for conv in layers:
        generator = torch.Generator().manual_seed(1)
        dual = {name: torch.randn(t.shape, dtype=t.dtype, generator=generator) for name, t in
                (("input", x), ("weight", conv.weight), ("bias", conv.bias))}
        with fwAD.dual_level():
            arguments = {name: fwAD.make_dual(t.detach(), dual[name]) if name in tangents else t.detach()
                         for name, t in (("input", x), ("weight", conv.weight), ("bias", conv.bias))}
            out = torch.func.functional_call(conv, {"weight": arguments["weight"], "bias": arguments["bias"]},
                                             (arguments["input"],))
            results.append(fwAD.unpack_dual(out))
    (library, own) = results
    assert_matches(own.primal, library.primal, "primal", 1e-12)
    assert_matches(own.tangent, library.tangent, "tangent", 1e-12)


def test_vectorized_jacobian_of_the_own_lenet_equals_torch_nn():
    """``torch.autograd.functional.jacobian(..., vectorize=True)`` (batched output gradients) through LeNet."""
    library = build_model("lenet", "torch", seed=0).double()
    own = build_model("lenet", "torch-own", seed=0).double()
    own.load_state_dict(library.state_dict())
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    expected = torch.autograd.functional.jacobian(library, x, vectorize=True)
    assert_matches(torch.autograd.functional.jacobian(own, x, vectorize=True), expected, "jacobian", 1e-10)


# --------------------------------------------------------------------------------------------------- torch.compile
@pytest.mark.e2e  # (dynamo's first compile in a process costs seconds to tens of seconds)
@pytest.mark.parametrize("name", ["tutorial-net", "mini"])
def test_compile_fullgraph_captures_forward_and_backward(name):
    library, own, x = float32_pair(name)
    torch._dynamo.reset()
    compiled = torch.compile(own, fullgraph=True, backend="aot_eager")
    assert_matches(compiled(x), library(x), "compiled forward")
    for g_compiled, g_lib in zip(gradients(compiled, x), gradients(library, x), strict=True):
        assert_matches(g_compiled, g_lib, "compiled gradient", 1e-4)


@pytest.mark.e2e
def test_compile_with_inductor_matches_torch():
    library, own, x = float32_pair("tutorial-net")
    torch._dynamo.reset()
    compiled = torch.compile(own, fullgraph=True)
    assert_matches(compiled(x), library(x), "inductor forward", 1e-4)
    for g_compiled, g_lib in zip(gradients(compiled, x), gradients(library, x), strict=True):
        assert_matches(g_compiled, g_lib, "inductor gradient", 1e-3)


# -------------------------------------------------------------------------------------------------------- autocast
@pytest.mark.parametrize("name", [*FAST, "resnet18", "mobilenet-v2"])
def test_autocast_computes_in_bfloat16_like_torch(name):
    library, own, x = float32_pair(name)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, actual = library(x), own(x)
    assert actual.dtype == expected.dtype == torch.bfloat16
    assert_matches(actual.float(), expected.float(), "bfloat16 logits", 0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = own.train()(x).float().square().mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in own.parameters())


def test_autocast_leaves_float64_alone_and_casts_each_layer_like_torch():
    torch.manual_seed(0)
    pairs = [(nn.Conv2d(3, 4, 3), torch_nn.Conv2d(3, 4, 3)), (nn.Linear(5, 2), torch_nn.Linear(5, 2))]
    for library, own in pairs:
        own.load_state_dict(library.state_dict())
        x = torch.randn(2, 3, 5, 5) if isinstance(own, nn.Conv2d) else torch.randn(2, 5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert own(x).dtype == library(x).dtype == torch.bfloat16
            assert own.double()(x.double()).dtype == library.double()(x.double()).dtype == torch.float64
