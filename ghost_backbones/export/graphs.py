"""The whole model as one graph: image in (uint8 or float 0-255 pixels), the user's answer out.

`DetectionGraph` wraps a torchvision detector (its transform normalises and resizes, its post-processing maps the
boxes back to the input's pixels after NMS) and turns the contiguous labels into the original category ids;
`SegmentationGraph` wraps a ``{"out": logits}`` model with the evaluation preprocessing of the training code (the
shorter side resized to ``base_size`` with torchvision's antialiased bilinear resize, rounded to 8-bit levels as a
``uint8`` resize is, then normalised) and returns the class map at the input resolution. Both trace with dynamic
image sizes (TorchScript, ONNX) and run eagerly as the reference the exported files are checked against.

Examples::

    >>> import torch
    >>> from torchvision.models.segmentation import lraspp_mobilenet_v3_large
    >>> graph = SegmentationGraph(lraspp_mobilenet_v3_large(num_classes=3, weights_backbone=None).eval(), base_size=64,
    ...                           mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    >>> graph(torch.zeros(2, 3, 50, 70, dtype=torch.uint8)).shape
    torch.Size([2, 50, 70])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from .check import DetectionCheck, SegmentationCheck
from .formats import GraphSpec

__all__ = ["DetectionGraph", "SegmentationGraph", "antialiased_resize", "class_map", "resize_pixels", "resize_weights"]


def _size(x: Tensor, dim: int) -> Tensor | int:
    """``x.shape[dim]``: a traced tensor while tracing (so the graph keeps the size dynamic), else an int."""
    return torch._shape_as_tensor(x)[dim] if torch.jit.is_tracing() else x.shape[dim]


def resize_weights(in_size: Tensor | int, out_size: Tensor | int) -> Tensor:
    """``(out_size, in_size)`` matrix of torch's antialiased bilinear resize along one axis (rows sum to 1).

    The triangle filter stretched by the scale when shrinking, as ``F.interpolate(..., antialias=True)`` (and PIL)
    weigh the input pixels; written with plain ops so that ONNX runtimes compute the same (ONNX ``Resize`` with
    ``antialias=1`` weighs differently in onnxruntime: up to 11 levels apart on 8-bit images).

    Examples::

        >>> x = torch.rand(1, 1, 7, 9)
        >>> ref = F.interpolate(x, size=(3, 9), mode="bilinear", antialias=True)
        >>> torch.allclose(resize_weights(7, 3) @ x[0, 0], ref[0, 0], atol=1e-6)
        True
    """
    scale = torch.ones(()) * in_size / out_size  # a tensor whether the sizes are ints, traced or symbolic
    support = torch.clamp(scale, min=1.0)  # the filter's half-width in input pixels
    centers = (torch.arange(out_size, dtype=torch.float32) + 0.5) * scale
    taps = torch.arange(in_size, dtype=torch.float32) + 0.5
    weights = torch.clamp(1.0 - (taps[None, :] - centers[:, None]).abs() / support, min=0.0)
    return weights / weights.sum(1, keepdim=True)


def antialiased_resize(image: Tensor, short_side: int) -> Tensor:
    """``(N, C, H, W)`` float image with its shorter side resized to ``short_side`` (``TF.resize(x, [short_side],
    antialias=True)``'s size rule: the longer side ``int(short_side * long / short)``).

    Examples::

        >>> antialiased_resize(torch.rand(1, 3, 30, 45), 20).shape
        torch.Size([1, 3, 20, 30])
    """
    height, width = _size(image, -2), _size(image, -1)
    if torch.jit.is_tracing():
        short = torch.minimum(torch.as_tensor(height), torch.as_tensor(width))
    else:  # torch.sym_min keeps torch.export's sizes symbolic (min() would specialise them)
        short = torch.sym_min(height, width)
    new_height = height * short_side // short
    new_width = width * short_side // short
    rows = resize_weights(height, new_height)
    cols = resize_weights(width, new_width)
    return torch.matmul(torch.matmul(rows, image), cols.t())


def resize_pixels(image: Tensor, base_size: int) -> Tensor:
    """``(N, 3, H, W)`` float pixels with the shorter side resized to ``base_size`` (0: unchanged), rounded to 8-bit
    levels as a ``uint8`` resize is: what a segmentation model is fed.

    Examples::

        >>> resize_pixels(torch.full((1, 3, 30, 45), 7.4), 20).unique()
        tensor([7.])
    """
    return torch.clamp(torch.round(antialiased_resize(image, base_size)), 0.0, 255.0) if base_size else image


def class_map(logits: Tensor, size: Sequence[int] | torch.Size, upsample: bool) -> Tensor:
    """The class index of every pixel of ``logits`` ``(N, C, h, w)`` (bilinear to ``size`` first when ``upsample``),
    ``uint8`` for at most 256 classes."""
    if upsample:
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    classes = logits.argmax(1)
    return classes.to(torch.uint8) if logits.shape[1] <= 256 else classes


class _TracedResizeTransform(GeneralizedRCNNTransform):
    """torchvision's detection transform, whose traced resize computes the eager size (float64).

    Traced, torchvision's ``resize`` computes the scale in float32: where the longer side lands on ``max_size``
    (``159 * (128 / 159)``), the float32 product falls just under it and the graph resizes to one pixel less than
    eager PyTorch, moving the boxes by more than half a pixel. Eager, this is torchvision's own ``resize``.
    """

    def resize(self, image: Tensor, target: dict[str, Tensor] | None = None) -> tuple[Tensor, Any]:
        if not torch.jit.is_tracing() or self.fixed_size is not None or self.training:
            return super().resize(image, target)
        shape = torch._shape_as_tensor(image)[-2:].to(torch.float64)
        # 1-d tensors throughout: the ONNX exporter computes python scalars and 0-d tensors in float32
        limits = torch.tensor([self.min_size[-1], self.max_size], dtype=torch.float64)
        scale = (limits / torch.cat([shape.amin(0, keepdim=True), shape.amax(0, keepdim=True)])).amin(0, keepdim=True)
        size = torch.floor(shape * scale).to(torch.int64)
        image = F.interpolate(image[None], size=(size[0], size[1]), mode="bilinear", align_corners=False)[0]
        return image, target


class DetectionGraph(nn.Module):
    """A torchvision detector from image pixels to ``boxes`` (input pixels), ``labels`` (category ids), ``scores``.

    Args:
        detector: an eval-mode torchvision detector (``model([image]) -> [{"boxes", "labels", "scores"}]``; Mask
            R-CNN's ``masks`` too).
        category_ids: the original category id of each training label 1..N.

    Input: one image ``(3, H, W)`` (``uint8`` or float in 0-255). Outputs: ``boxes`` ``(K, 4)`` xyxy,
    ``labels`` ``(K,)`` int64 category ids, ``scores`` ``(K,)``, ``masks`` ``(K, 1, H, W)`` when the detector
    returns masks.
    """

    def __init__(self, detector: nn.Module, category_ids: Sequence[int]) -> None:
        super().__init__()
        self.detector = detector
        if type(detector.transform) is GeneralizedRCNNTransform:
            transform = _TracedResizeTransform.__new__(_TracedResizeTransform)
            transform.__dict__.update(detector.transform.__dict__)  # the same settings and submodules
            detector.transform = transform
        self.register_buffer("category_ids", torch.tensor([0, *category_ids], dtype=torch.int64), persistent=False)
        roi_heads = getattr(detector, "roi_heads", None)
        self.has_masks = bool(roi_heads is not None and roi_heads.has_mask())

    @property
    def spec(self) -> GraphSpec:
        """One image ``(3, H, W)`` of any size in; ``boxes``, ``labels``, ``scores`` (``masks``) per detection out."""
        outputs = ("boxes", "labels", "scores", "masks") if self.has_masks else ("boxes", "labels", "scores")
        axes: dict[str, dict[int, str]] = {"image": {1: "height", 2: "width"}}
        axes.update({name: {0: "detections"} for name in outputs})
        if self.has_masks:
            axes["masks"] = {0: "detections", 2: "height", 3: "width"}
        note = "torchvision's detection post-processing has data-dependent shapes"
        return GraphSpec(outputs, axes, task="detection", check=DetectionCheck, note=note)

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        if image.dim() == 4:  # (1, 3, H, W)
            image = image[0]
        out = self.detector([image.float() / 255.0])[0]
        outputs = (out["boxes"], self.category_ids[out["labels"]], out["scores"])
        return (*outputs, out["masks"]) if "masks" in out else outputs


class SegmentationGraph(nn.Module):
    """A ``{"out": logits}`` model from image pixels to the class map at the input resolution.

    Args:
        model: an eval-mode segmentation model.
        base_size: the shorter side images are resized to before the model (0: the input's own size).
        mean, std: the normalisation (0-1 scale) the model was trained with.

    Input: ``(N, 3, H, W)`` or ``(3, H, W)`` ``uint8`` (or float 0-255). Output: ``mask`` ``(N, H, W)`` class
    indices, ``uint8`` (``int64`` for more than 256 classes).
    """

    def __init__(self, model: nn.Module, *, base_size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if base_size < 0:
            raise ValueError(f"base_size must be >= 0 (0 keeps the input size), got {base_size}")
        self.model = model
        self.base_size = base_size
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0, persistent=False)

    @property
    def spec(self) -> GraphSpec:
        """A batch ``(N, 3, H, W)`` of any size in, the class map ``mask`` ``(N, H, W)`` out."""
        axes = {"image": {0: "batch", 2: "height", 3: "width"}, "mask": {0: "batch", 1: "height", 2: "width"}}
        return GraphSpec(("mask",), axes, task="segmentation", check=SegmentationCheck)

    def forward(self, image: Tensor) -> Tensor:
        if image.dim() == 3:
            image = image[None]
        logits = self.model((resize_pixels(image.float(), self.base_size) - self.mean) / self.std)["out"]
        # without a resize the logits are at the input's resolution already (the models' contract)
        return class_map(logits, image.shape[-2:], upsample=bool(self.base_size))
