"""Classic CNN architectures, written here from their published definitions, built from any ``Conv2d``/``Linear``.

Every builder takes ``layers``: a namespace with ``Conv2d`` and ``Linear`` (``torch.nn`` itself, or cnnlab's own
layers), everything else is ``torch.nn``. That is how a user swaps the layers in real model code; each model also
initialises its weights the way its reference code does, with an ``isinstance(m, nn.Conv2d)`` loop, so layers that
were not ``nn.Conv2d``/``nn.Linear`` subclasses would silently keep a different initialisation. ``width`` scales
every channel count (1.0 = the paper's), so tests can build narrow copies with the full structure.

Definitions followed (layer counts, kernel sizes, strides, paddings, groups, dilations as published):

- CIFAR-10 tutorial net (PyTorch's "Training a classifier"): two 5x5 convs with max pooling, three linear layers,
  flattened with ``x.view(x.size(0), -1)``.
- AlexNet (Krizhevsky 2014, "one weird trick" single-tower variant): five convs (11x11/4, 5x5, 3x3 x3), overlapping
  3x3/2 max pooling, dropout + three linear layers.
- VGG-11 (Simonyan & Zisserman 2015, configuration A), with and without batch norm (Ioffe & Szegedy).
- ResNet-18 and ResNet-50 (He et al. 2016): basic blocks (2, 2, 2, 2) and bottlenecks (3, 4, 6, 3), the stride of a
  bottleneck on its 3x3 conv, 1x1 projection shortcuts where the shape changes.
- ResNeXt-50 32x4d (Xie et al. 2017): bottlenecks whose 3x3 conv has 32 groups of width 4 (x stage multiplier).
- Dilated ResNet (Yu et al. 2017; DeepLab's output stride 8): the last two stages keep the resolution, dilation 2
  and 4 instead of stride 2.
- DeepLabV3 (Chen et al. 2017): atrous spatial pyramid pooling -- a 1x1 conv, three 3x3 convs with rates 12, 24,
  36, image-level pooling -- concatenated, projected by a 1x1 conv, then a 3x3 conv and the 1x1 classifier.
- SqueezeNet 1.1 (Iandola et al. 2016): 3x3/2 stem, eight Fire modules (1x1 squeeze, 1x1 and 3x3 expand).
- MobileNetV2 (Sandler et al. 2018): inverted residual blocks, depthwise 3x3 convs (groups = channels), ReLU6.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

TORCH_LAYERS = SimpleNamespace(Conv2d=nn.Conv2d, Linear=nn.Linear)


def scaled(channels: int, width: float, divisor: int = 1) -> int:
    """``channels * width`` rounded to a multiple of ``divisor`` (at least ``divisor``)."""
    return max(divisor, round(channels * width / divisor) * divisor)


def init_like_resnet(model: nn.Module, linear: bool = True) -> None:
    """He-normal (fan out) convs, unit/zero batch norms and (``linear``) N(0, 0.01) linear layers, as in the ResNet
    and MobileNet reference code (ResNet keeps torch's default for its fc)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear:
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


# ------------------------------------------------------------------------------------------------ small classics
class TutorialNet(nn.Module):
    """PyTorch's CIFAR-10 tutorial network, flattening with ``.view`` (needs a contiguous conv/pool output)."""

    def __init__(self, layers: Any, width: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()
        c1, c2 = scaled(6, width), scaled(16, width)
        self.conv1 = layers.Conv2d(3, c1, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = layers.Conv2d(c1, c2, 5)
        self.fc1 = layers.Linear(c2 * 5 * 5, 120)
        self.fc2 = layers.Linear(120, 84)
        self.fc3 = layers.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(x.size(0), -1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class AlexNet(nn.Module):
    def __init__(self, layers: Any, width: float = 1.0, num_classes: int = 10, hidden: int = 4096) -> None:
        super().__init__()
        c = [scaled(n, width) for n in (64, 192, 384, 256, 256)]
        self.features = nn.Sequential(
            layers.Conv2d(3, c[0], 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            layers.Conv2d(c[0], c[1], 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            layers.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU(inplace=True),
            layers.Conv2d(c[2], c[3], 3, padding=1), nn.ReLU(inplace=True),
            layers.Conv2d(c[3], c[4], 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), layers.Linear(c[4] * 36, hidden), nn.ReLU(inplace=True),
            nn.Dropout(0.5), layers.Linear(hidden, hidden), nn.ReLU(inplace=True),
            layers.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.view(x.size(0), -1))


VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG(nn.Module):
    def __init__(self, layers: Any, width: float = 1.0, num_classes: int = 10, batch_norm: bool = False,
                 hidden: int = 4096, config: tuple[Any, ...] = VGG11) -> None:
        super().__init__()
        body: list[nn.Module] = []
        channels = 3
        for entry in config:
            if entry == "M":
                body.append(nn.MaxPool2d(2, 2))
                continue
            out = scaled(entry, width)
            body.append(layers.Conv2d(channels, out, 3, padding=1))
            body += [nn.BatchNorm2d(out), nn.ReLU(inplace=True)] if batch_norm else [nn.ReLU(inplace=True)]
            channels = out
        self.features = nn.Sequential(*body)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            layers.Linear(channels * 49, hidden), nn.ReLU(True), nn.Dropout(0.5),
            layers.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(0.5),
            layers.Linear(hidden, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --------------------------------------------------------------------------------------------------------- ResNets
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, layers: Any, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = layers.Conv2d(inplanes, planes, 3, stride=stride, padding=dilation, dilation=dilation,
                                   bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = layers.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, grouped, dilated), 1x1 expand by 4; ResNeXt's width = planes * base/64 * groups."""

    expansion = 4

    def __init__(self, layers: Any, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = layers.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = layers.Conv2d(width, width, 3, stride=stride, padding=dilation, dilation=dilation,
                                   groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = layers.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(nn.Module):
    def __init__(self, layers: Any, block: type[BasicBlock] | type[Bottleneck], blocks: tuple[int, int, int, int],
                 width: float = 1.0, num_classes: int = 10, groups: int = 1, width_per_group: int = 64,
                 dilate: tuple[bool, bool, bool] = (False, False, False)) -> None:
        super().__init__()
        self.layers, self.block, self.groups, self.base_width = layers, block, groups, width_per_group
        self.inplanes, self.dilation = scaled(64, width), 1
        self.conv1 = layers.Conv2d(3, self.inplanes, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        planes = [scaled(p, width) for p in (64, 128, 256, 512)]
        self.layer1 = self._stage(planes[0], blocks[0])
        self.layer2 = self._stage(planes[1], blocks[1], 2, dilate[0])
        self.layer3 = self._stage(planes[2], blocks[2], 2, dilate[1])
        self.layer4 = self._stage(planes[3], blocks[3], 2, dilate[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = layers.Linear(planes[3] * block.expansion, num_classes)
        init_like_resnet(self, linear=False)

    def _stage(self, planes: int, count: int, stride: int = 1, dilate: bool = False) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * self.block.expansion:
            downsample = nn.Sequential(
                self.layers.Conv2d(self.inplanes, planes * self.block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * self.block.expansion))
        blocks = [self.block(self.layers, self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                             previous_dilation)]
        self.inplanes = planes * self.block.expansion
        blocks += [self.block(self.layers, self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                              dilation=self.dilation) for _ in range(1, count)]
        return nn.Sequential(*blocks)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def resnet18(layers: Any, width: float = 1.0, num_classes: int = 10) -> ResNet:
    return ResNet(layers, BasicBlock, (2, 2, 2, 2), width, num_classes)


def resnet50(layers: Any, width: float = 1.0, num_classes: int = 10) -> ResNet:
    return ResNet(layers, Bottleneck, (3, 4, 6, 3), width, num_classes)


def resnext50_32x4d(layers: Any, width: float = 1.0, num_classes: int = 10) -> ResNet:
    return ResNet(layers, Bottleneck, (3, 4, 6, 3), width, num_classes, groups=32, width_per_group=4)


def dilated_resnet50(layers: Any, width: float = 1.0, num_classes: int = 10) -> ResNet:
    return ResNet(layers, Bottleneck, (3, 4, 6, 3), width, num_classes, dilate=(False, True, True))


# ------------------------------------------------------------------------------------------------------ DeepLabV3
class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: parallel 1x1 and dilated 3x3 convs plus image pooling, fused by a 1x1."""

    def __init__(self, layers: Any, in_channels: int, rates: tuple[int, int, int], out_channels: int = 256) -> None:
        super().__init__()

        def conv_bn_relu(conv: nn.Module) -> nn.Sequential:
            return nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.ReLU())

        self.branches = nn.ModuleList([conv_bn_relu(layers.Conv2d(in_channels, out_channels, 1, bias=False))])
        self.branches.extend(conv_bn_relu(layers.Conv2d(in_channels, out_channels, 3, padding=rate, dilation=rate,
                                                        bias=False)) for rate in rates)
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), layers.Conv2d(in_channels, out_channels, 1,
                                                                               bias=False),
                                        nn.BatchNorm2d(out_channels), nn.ReLU())
        self.project = nn.Sequential(layers.Conv2d(out_channels * (len(rates) + 2), out_channels, 1, bias=False),
                                     nn.BatchNorm2d(out_channels), nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(self.image_pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat([branch(x) for branch in self.branches] + [pooled], dim=1))


class DeepLabV3(nn.Module):
    """A dilated ResNet-50 backbone (output stride 8), the ASPP head, bilinear upsampling to the input size."""

    def __init__(self, layers: Any, width: float = 1.0, num_classes: int = 21,
                 rates: tuple[int, int, int] = (12, 24, 36)) -> None:
        super().__init__()
        self.backbone = dilated_resnet50(layers, width)
        self.backbone.fc = nn.Identity()  # the backbone's features only
        channels = scaled(256, width)
        self.head = nn.Sequential(ASPP(layers, scaled(512, width) * 4, rates, channels),
                                  layers.Conv2d(channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU(), layers.Conv2d(channels, num_classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.backbone.features(x))
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------------------------------- SqueezeNet
class Fire(nn.Module):
    def __init__(self, layers: Any, inplanes: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__()
        self.squeeze = layers.Conv2d(inplanes, squeeze, 1)
        self.expand1x1 = layers.Conv2d(squeeze, expand1x1, 1)
        self.expand3x3 = layers.Conv2d(squeeze, expand3x3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1x1(x)), F.relu(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """SqueezeNet 1.1; the classifier is dropout, a 1x1 conv to the classes, ReLU and global average pooling."""

    def __init__(self, layers: Any, width: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()

        def s(n: int) -> int:
            return scaled(n, width)

        self.features = nn.Sequential(
            layers.Conv2d(3, s(64), 3, stride=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(layers, s(64), s(16), s(64), s(64)), Fire(layers, 2 * s(64), s(16), s(64), s(64)),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(layers, 2 * s(64), s(32), s(128), s(128)), Fire(layers, 2 * s(128), s(32), s(128), s(128)),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(layers, 2 * s(128), s(48), s(192), s(192)), Fire(layers, 2 * s(192), s(48), s(192), s(192)),
            Fire(layers, 2 * s(192), s(64), s(256), s(256)), Fire(layers, 2 * s(256), s(64), s(256), s(256)),
        )
        final = layers.Conv2d(2 * s(256), num_classes, 1)
        self.classifier = nn.Sequential(nn.Dropout(0.5), final, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final:
                    nn.init.normal_(m.weight, 0, 0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


# ---------------------------------------------------------------------------------------------------- MobileNetV2
def conv_bn_relu6(layers: Any, c_in: int, c_out: int, kernel: int = 3, stride: int = 1,
                  groups: int = 1) -> nn.Sequential:
    return nn.Sequential(layers.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """1x1 expansion (ratio ``t``), depthwise 3x3, linear 1x1 projection; a residual when the shape is kept."""

    def __init__(self, layers: Any, c_in: int, c_out: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(c_in * expand_ratio)
        self.use_residual = stride == 1 and c_in == c_out
        body: list[nn.Module] = [conv_bn_relu6(layers, c_in, hidden, 1)] if expand_ratio != 1 else []
        body += [conv_bn_relu6(layers, hidden, hidden, 3, stride, groups=hidden),
                 layers.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                         (6, 320, 1, 1))


class MobileNetV2(nn.Module):
    def __init__(self, layers: Any, width: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()
        channels = scaled(32, width, 8)
        last = scaled(1280, max(1.0, width), 8)
        body: list[nn.Module] = [conv_bn_relu6(layers, 3, channels, stride=2)]
        for t, c, n, s in MOBILENET_V2_SETTINGS:
            out = scaled(c, width, 8)
            for i in range(n):
                body.append(InvertedResidual(layers, channels, out, s if i == 0 else 1, t))
                channels = out
        body.append(conv_bn_relu6(layers, channels, last, 1))
        self.features = nn.Sequential(*body)
        self.classifier = nn.Sequential(nn.Dropout(0.2), layers.Linear(last, num_classes))
        init_like_resnet(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


#: name -> builder(layers, width); the widths and input sizes the tests and the benchmark use are theirs to pick.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "tutorial-net": TutorialNet,
    "alexnet": AlexNet,
    "vgg11": VGG,
    "vgg11-bn": lambda layers, width=1.0, **kw: VGG(layers, width, batch_norm=True, **kw),
    "resnet18": resnet18,
    "resnet50": resnet50,
    "resnext50-32x4d": resnext50_32x4d,
    "dilated-resnet50": dilated_resnet50,
    "deeplabv3-aspp": DeepLabV3,
    "squeezenet1.1": SqueezeNet,
    "mobilenet-v2": MobileNetV2,
}
