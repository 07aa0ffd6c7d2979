"""Detection augmentation with ``torchvision.transforms.v2`` on ``tv_tensors`` (image, boxes, masks move together)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

__all__ = ["detection_transforms"]


def detection_transforms(
    train: bool, *, min_sizes: Sequence[int] = (), max_size: int = 1333, hflip_prob: float = 0.5
) -> v2.Compose:
    """The transform applied to ``(PIL image, target)`` pairs; boxes are ``tv_tensors.BoundingBoxes``.

    Training: resize so the shorter side is one of ``min_sizes`` drawn at random (multi-scale training when it
    holds several; nothing when it is empty, the model then resizes), horizontal flip, then boxes are clamped to
    the image and boxes left degenerate are removed with their labels. Instance masks (``target["masks"]``, a
    ``tv_tensors.Mask``) are resized (nearest), flipped and removed with their boxes by the same steps. Evaluation
    only converts (the model resizes to its ``min_size`` and maps the boxes back).

    Args:
        train: training pipeline (augmentation) or evaluation pipeline.
        min_sizes: shorter-side sizes for training; one drawn per image.
        max_size: the longer side never exceeds it after the training resize.
        hflip_prob: probability of a horizontal flip in training.

    Examples::

        >>> import torch
        >>> from PIL import Image
        >>> from torchvision import tv_tensors
        >>> image = Image.new("RGB", (64, 32))
        >>> boxes = tv_tensors.BoundingBoxes([[0.0, 0.0, 16.0, 16.0]], format="XYXY", canvas_size=(32, 64))
        >>> out, target = detection_transforms(True, min_sizes=[64], hflip_prob=1.0)(
        ...     image, {"boxes": boxes, "labels": torch.tensor([1])})
        >>> print(tuple(out.shape), target["boxes"].tolist())
        (3, 64, 128) [[96.0, 0.0, 128.0, 32.0]]
    """
    if not 0.0 <= hflip_prob <= 1.0:
        raise ValueError(f"hflip_prob must be in [0, 1], got {hflip_prob}")
    steps: list[v2.Transform] = [v2.ToImage()]
    if train:
        if min_sizes:
            steps.append(v2.RandomShortestSize(min_size=list(min_sizes), max_size=max_size))
        if hflip_prob > 0:
            steps.append(v2.RandomHorizontalFlip(hflip_prob))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if train:
        steps += [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=1.0)]
    return v2.Compose(steps)
