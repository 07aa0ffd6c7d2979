"""Detection augmentation with ``torchvision.transforms.v2`` on ``tv_tensors`` (image, boxes, masks move together).

The policies are those of torchvision's detection references (``references/detection/presets.py``,
``--data-augmentation``), built from torchvision's own transforms:

- ``hflip``: horizontal flip (Faster R-CNN, RetinaNet, FCOS, Mask R-CNN recipes);
- ``ssdlite``: SSD's random IoU crop, then the flip (``ssdlite320_mobilenet_v3_large``'s recipe);
- ``ssd``: photometric distortion, zoom out onto a canvas of up to 4x the side filled with the mean colour, the IoU
  crop, then the flip (``ssd300_vgg16``'s recipe).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from ..sections import Augmentation, DataConfig, ModelConfig

__all__ = ["AUGMENTATIONS", "ZOOM_OUT_FILL", "detection_transforms"]

#: The training augmentation policies, as torchvision's references name them (``data.augmentation``'s choices).
AUGMENTATIONS: tuple[str, ...] = get_args(Augmentation)
#: What SSD's zoom out fills the new canvas with: the ImageNet mean in 0..255 (torchvision's references), and no
#: object for instance masks.
ZOOM_OUT_FILL = {tv_tensors.Mask: 0, "others": (123, 117, 104)}


def detection_transforms(
    train: bool,
    *,
    min_sizes: Sequence[int] = (),
    max_size: int = ModelConfig.max_size,
    hflip_prob: float = DataConfig.hflip_prob,
    augmentation: Augmentation = DataConfig.augmentation,
) -> v2.Compose:
    """The transform applied to ``(PIL image, target)`` pairs; boxes are ``tv_tensors.BoundingBoxes``.

    Training: the ``augmentation`` policy's photometric distortion, zoom out and IoU crop (module docstring) on the
    image as read, then a resize so the shorter side is one of ``min_sizes`` drawn at random (multi-scale training
    when it holds several; nothing when it is empty, the model then resizes), the flip; boxes are then clamped to
    the image and boxes left degenerate (or outside an IoU crop) are removed with their labels. Instance masks
    (``target["masks"]``, a ``tv_tensors.Mask``) are cropped, zoomed out, resized (nearest) and flipped with the
    image and removed with their boxes. Evaluation only converts (the model resizes to its ``min_size`` and maps
    the boxes back).

    Args:
        train: training pipeline (augmentation) or evaluation pipeline.
        min_sizes: shorter-side sizes for training; one drawn per image.
        max_size: the longer side never exceeds it after the training resize.
        hflip_prob: probability of a horizontal flip in training (every policy ends with it).
        augmentation: one of :data:`AUGMENTATIONS`.

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
        >>> policy = detection_transforms(True, min_sizes=[320], augmentation="ssdlite").transforms
        >>> [type(t).__name__ for t in policy[1:4]]
        ['RandomIoUCrop', 'RandomShortestSize', 'RandomHorizontalFlip']
    """
    if not 0.0 <= hflip_prob <= 1.0:
        raise ValueError(f"hflip_prob must be in [0, 1], got {hflip_prob}")
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {list(AUGMENTATIONS)}, got {augmentation!r}")
    steps: list[v2.Transform] = [v2.ToImage()]
    if train:
        if augmentation == "ssd":
            steps += [v2.RandomPhotometricDistort(), v2.RandomZoomOut(fill=ZOOM_OUT_FILL)]
        if augmentation in ("ssd", "ssdlite"):
            steps.append(v2.RandomIoUCrop())  # an image without boxes is left whole (no crop keeps one)
        if min_sizes:  # after the crop and zoom out, as torchvision's model transform: they reach the training size
            steps.append(v2.RandomShortestSize(min_size=list(min_sizes), max_size=max_size))
        if hflip_prob > 0:
            steps.append(v2.RandomHorizontalFlip(hflip_prob))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if train:
        steps += [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=1.0)]
    return v2.Compose(steps)
