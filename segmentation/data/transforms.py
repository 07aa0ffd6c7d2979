"""Joint image + mask transforms for semantic segmentation (``torchvision.transforms.v2`` and ``tv_tensors.Mask``).

Training follows torchvision's reference recipe: resize the shorter side to a random size in
``scale_range * base_size``, flip, then crop ``crop_size`` (padding the image with 0 and the mask with the ignore
index 255). Masks are ``tv_tensors.Mask``, so v2 resizes them with nearest neighbour and never blends labels.
Evaluation resizes only the image (shorter side to ``base_size``); the mask keeps the original resolution, and
the logits are resized back to it, so metrics are computed at the original resolution.

Examples::

    >>> from timm.data import IMAGENET_DEFAULT_MEAN as MEAN, IMAGENET_DEFAULT_STD as STD
    >>> image, mask = Image.new("RGB", (200, 150)), Image.new("P", (200, 150))
    >>> x, y = SegmentationTrainTransform(96, 128, (0.5, 2.0), 0.5, mean=MEAN, std=STD)(image, mask)
    >>> x.shape, x.dtype, y.shape, y.dtype
    (torch.Size([3, 96, 96]), torch.float32, torch.Size([96, 96]), torch.int64)
    >>> x, y = SegmentationEvalTransform(128, mean=MEAN, std=STD)(image, mask)
    >>> x.shape, y.shape
    (torch.Size([3, 128, 170]), torch.Size([150, 200]))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

__all__ = [
    "IGNORE_INDEX",
    "SegmentationTrainTransform",
    "SegmentationEvalTransform",
    "to_mask",
]

#: Label of void / unlabelled pixels: ignored by the loss and the metric.
IGNORE_INDEX = 255


def to_mask(mask: Image.Image | np.ndarray) -> tv_tensors.Mask:
    """Class-index mask as a ``tv_tensors.Mask`` (``P``/``L`` PIL images are read as indices, never as colours).

    Examples::

        >>> to_mask(Image.new("P", (4, 3), 2)).tolist()[0]
        [2, 2, 2, 2]
    """
    return tv_tensors.Mask(torch.from_numpy(np.asarray(mask, dtype=np.uint8).copy()))


class SegmentationTrainTransform:
    """Random scale, horizontal flip and crop applied jointly to an image and its mask.

    Args:
        crop_size: side of the square training crop (padded with 0 / 255 when the image is smaller).
        base_size: reference shorter side; the random scale is drawn in ``scale_range * base_size``.
        scale_range: min and max scale factors (torchvision's recipe: 0.5 to 2.0).
        hflip_prob: probability of a horizontal flip.
        mean: per-channel normalisation mean (the backbone's ``pretrained_cfg``).
        std: per-channel normalisation std.

    Examples::

        >>> from timm.data import IMAGENET_DEFAULT_MEAN as MEAN, IMAGENET_DEFAULT_STD as STD
        >>> t = SegmentationTrainTransform(64, 80, (0.5, 1.0), 0.5, mean=MEAN, std=STD)
        >>> t(Image.new("RGB", (80, 60)), Image.new("P", (80, 60)))[1].shape
        torch.Size([64, 64])
    """

    def __init__(
        self,
        crop_size: int,
        base_size: int,
        scale_range: Sequence[float],
        hflip_prob: float,
        *,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        if crop_size < 1 or base_size < 1:
            raise ValueError(f"crop_size and base_size must be >= 1, got {crop_size} and {base_size}")
        if len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must be [min, max] with 0 < min <= max, got {list(scale_range)}")
        if not 0.0 <= hflip_prob <= 1.0:
            raise ValueError(f"hflip_prob must be in [0, 1], got {hflip_prob}")
        low = max(1, int(scale_range[0] * base_size))
        high = max(low + 1, int(scale_range[1] * base_size))  # RandomResize draws from [low, high)
        self.transform = v2.Compose(
            [
                v2.RandomResize(low, high),
                v2.RandomHorizontalFlip(hflip_prob),
                v2.RandomCrop(crop_size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}),
                v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64}, scale=True),
                v2.Normalize(mean, std),
            ]
        )

    def __call__(self, image: Image.Image, mask: Image.Image | np.ndarray) -> tuple[Tensor, Tensor]:
        image_t, mask_t = self.transform(TF.to_image(image), to_mask(mask))
        return image_t.as_subclass(Tensor), mask_t.as_subclass(Tensor)


class SegmentationEvalTransform:
    """Resize the image's shorter side to ``base_size`` and normalise it; the mask keeps its resolution.

    Args:
        base_size: target shorter side of the image (0 keeps the original size).
        mean: per-channel normalisation mean (the backbone's ``pretrained_cfg``).
        std: per-channel normalisation std.

    Examples::

        >>> from timm.data import IMAGENET_DEFAULT_MEAN as MEAN, IMAGENET_DEFAULT_STD as STD
        >>> t = SegmentationEvalTransform(0, mean=MEAN, std=STD)
        >>> x, y = t(Image.new("RGB", (40, 30)), Image.new("P", (40, 30)))
        >>> x.shape, y.shape
        (torch.Size([3, 30, 40]), torch.Size([30, 40]))
    """

    def __init__(self, base_size: int, *, mean: Sequence[float], std: Sequence[float]) -> None:
        if base_size < 0:
            raise ValueError(f"base_size must be >= 0 (0 keeps the original size), got {base_size}")
        self.base_size = base_size
        self.mean = list(mean)
        self.std = list(std)

    def image(self, image: Image.Image) -> Tensor:
        """The normalised, resized image tensor alone (used by prediction)."""
        x = TF.to_image(image)
        if self.base_size:
            x = TF.resize(x, [self.base_size], antialias=True)
        x = TF.to_dtype(x, torch.float32, scale=True)
        return TF.normalize(x, self.mean, self.std).as_subclass(Tensor)

    def __call__(self, image: Image.Image, mask: Image.Image | np.ndarray) -> tuple[Tensor, Tensor]:
        return self.image(image), to_mask(mask).as_subclass(Tensor).long()
