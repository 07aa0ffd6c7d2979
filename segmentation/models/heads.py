"""Segmentation heads built from torchvision's blocks: a width-configurable DeepLab head and the DeepLabV3+ decoder.

torchvision's `DeepLabHead` fixes the ASPP width at 256 and its pooling branch crashes on a training batch of
one (BatchNorm over a single 1x1 value). `DeepLabHead` here reuses torchvision's `ASPP`/`ASPPConv` with a chosen
width and a pooling branch that falls back to the running statistics for a lone sample; `DeepLabV3Plus` adds
the DeepLabV3+ decoder (Chen et al., 2018) on the stride-4 features, with depthwise-separable 3x3 convolutions
as in the paper's mobile variants.

Examples::

    >>> import torch
    >>> head = DeepLabHead(960, num_classes=21, atrous_rates=(6, 12, 18), channels=128)
    >>> head.train()(torch.rand(1, 960, 9, 9)).shape  # a batch of one trains without error
    torch.Size([1, 21, 9, 9])
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.segmentation.deeplabv3 import ASPP, ASPPPooling

__all__ = ["BatchSafeASPPPooling", "DeepLabHead", "DeepLabV3PlusHead", "DeepLabV3Plus", "ASPP_RATES"]

#: ASPP dilation rates suited to each output stride (DeepLabV3 paper: (6, 12, 18) at 16, doubled at 8).
ASPP_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


class BatchSafeASPPPooling(ASPPPooling):
    """torchvision's ASPP image-pooling branch that also trains on a batch of one.

    Global pooling leaves one value per channel per image, so BatchNorm cannot compute batch statistics for a
    single image. In that case (plain ``BatchNorm2d`` only) the branch normalises with the running statistics
    and leaves them untouched; ``SyncBatchNorm`` is left alone so all ranks keep running the same collectives.

    Args:
        in_channels: channels of the input feature map.
        out_channels: channels of the branch output.

    Examples::

        >>> BatchSafeASPPPooling(40, 16).train()(torch.rand(1, 40, 5, 7)).shape
        torch.Size([1, 16, 5, 7])
    """

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        pool, conv, norm, act = self
        y = conv(pool(x))
        if self.training and y.shape[0] == 1 and type(norm) is nn.BatchNorm2d:
            y = F.batch_norm(y, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)
        else:
            y = norm(y)
        return F.interpolate(act(y), size=size, mode="bilinear", align_corners=False)


def _aspp(in_channels: int, atrous_rates: Sequence[int], channels: int) -> ASPP:
    aspp = ASPP(in_channels, atrous_rates, channels)
    aspp.convs[-1] = BatchSafeASPPPooling(in_channels, channels)
    return aspp


class DeepLabHead(nn.Sequential):
    """DeepLabV3 head: ASPP, a 3x3 convolution and the classifier, ``channels`` wide.

    With ``channels=256`` the parameters and their names match torchvision's ``DeepLabHead``.

    Args:
        in_channels: channels of the backbone's last feature map.
        num_classes: output channels (classes, background included).
        atrous_rates: three dilation rates of the ASPP 3x3 branches.
        channels: width of every ASPP branch and of the 3x3 convolution.

    Examples::

        >>> DeepLabHead(160, 3, (6, 12, 18), channels=64)(torch.rand(2, 160, 8, 8)).shape
        torch.Size([2, 3, 8, 8])
    """

    def __init__(self, in_channels: int, num_classes: int, atrous_rates: Sequence[int], channels: int) -> None:
        super().__init__(
            _aspp(in_channels, atrous_rates, channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, num_classes, 1),
        )


def _separable(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class DeepLabV3PlusHead(nn.Module):
    """DeepLabV3+ head: ASPP on the deep features, decoded with the stride-4 features.

    The ASPP output is upsampled to the low-level map, concatenated with a 1x1 projection of it
    (``low_proj_channels`` wide, 48 in the paper) and refined by two depthwise-separable 3x3 convolutions.

    Args:
        in_channels: channels of the deep (``"out"``) feature map.
        low_channels: channels of the low-level (stride 4) feature map.
        num_classes: output channels.
        atrous_rates: three ASPP dilation rates.
        channels: width of the ASPP and of the decoder.
        low_proj_channels: width of the low-level projection.

    Examples::

        >>> head = DeepLabV3PlusHead(960, 24, 21, (6, 12, 18), channels=64, low_proj_channels=48)
        >>> head(torch.rand(2, 960, 8, 8), torch.rand(2, 24, 32, 32)).shape
        torch.Size([2, 21, 32, 32])
    """

    def __init__(
        self,
        in_channels: int,
        low_channels: int,
        num_classes: int,
        atrous_rates: Sequence[int],
        channels: int,
        low_proj_channels: int,
    ) -> None:
        super().__init__()
        self.aspp = _aspp(in_channels, atrous_rates, channels)
        self.low_proj = nn.Sequential(
            nn.Conv2d(low_channels, low_proj_channels, 1, bias=False),
            nn.BatchNorm2d(low_proj_channels),
            nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            _separable(channels + low_proj_channels, channels),
            _separable(channels, channels),
        )
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: Tensor, low: Tensor) -> Tensor:
        x = self.aspp(x)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        x = self.decoder(torch.cat([x, self.low_proj(low)], dim=1))
        return self.classifier(x)


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ model, with the interface of torchvision's segmentation models.

    Args:
        backbone: returns ``OrderedDict`` with ``"out"`` (deep features), ``"low"`` (stride 4) and, when
            ``aux_classifier`` is given, ``"aux"``.
        classifier: a `DeepLabV3PlusHead`.
        aux_classifier: optional head on ``"aux"`` used for the auxiliary training loss.

    Examples::

        >>> from segmentation import deeplabv3plus_ghostnet
        >>> out = deeplabv3plus_ghostnet(num_classes=4, backbone={"width": 0.5})(torch.rand(1, 3, 96, 96))
        >>> out["out"].shape
        torch.Size([1, 4, 96, 96])
    """

    def __init__(
        self, backbone: nn.Module, classifier: DeepLabV3PlusHead, aux_classifier: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.aux_classifier = aux_classifier

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        size = x.shape[-2:]
        features = self.backbone(x)
        result = OrderedDict()
        out = self.classifier(features["out"], features["low"])
        result["out"] = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        if self.aux_classifier is not None:
            aux = self.aux_classifier(features["aux"])
            result["aux"] = F.interpolate(aux, size=size, mode="bilinear", align_corners=False)
        return result
