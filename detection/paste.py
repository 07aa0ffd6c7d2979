"""Mask R-CNN's masks pasted into large photos one detection at a time, after the score threshold.

torchvision's ``GeneralizedRCNNTransform.postprocess`` pastes every detection's 28x28 mask into a float image of the
photo's size before any threshold applies: 100 detections of a 12-megapixel photo are 4.8 GB, twice over while they
are stacked. `unpasted_masks` keeps the small masks out of that step; `paste_binary_masks` then pastes only the kept
detections, one at a time, as ``bool`` masks (one byte a pixel).

Examples::

    >>> pasted = paste_binary_masks(torch.ones(2, 1, 28, 28), torch.tensor([[2.0, 2.0, 10.0, 6.0]] * 2), (8, 12))
    >>> pasted.shape, pasted.dtype
    (torch.Size([2, 1, 8, 12]), torch.bool)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torchvision.models.detection.roi_heads import paste_masks_in_image

from .evaluate import MASK_THRESHOLD

__all__ = ["paste_binary_masks", "unpasted_masks"]


@contextlib.contextmanager
def unpasted_masks(model: nn.Module) -> Iterator[None]:
    """Within it, a torchvision Mask R-CNN returns its masks as ``(N, 1, 28, 28)`` probabilities, not pasted.

    Boxes (and keypoints) are rescaled to the photo as usual. Other models are left as they are.
    """
    transform = getattr(model, "transform", None)
    has_mask = getattr(getattr(model, "roi_heads", None), "has_mask", lambda: False)()
    if transform is None or not has_mask:
        yield
        return
    original = transform.postprocess

    def postprocess(result: list[dict[str, Tensor]], image_shapes, original_image_sizes):  # noqa: ANN001
        small = [prediction.pop("masks", None) for prediction in result]
        result = original(result, image_shapes, original_image_sizes)
        for prediction, masks in zip(result, small):
            if masks is not None:
                prediction["masks"] = masks
        return result

    transform.postprocess = postprocess
    try:
        yield
    finally:
        del transform.postprocess  # the class's method again


def paste_binary_masks(masks: Tensor, boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """``(N, 1, H, W)`` ``bool`` masks of ``size`` from ``(N, 1, 28, 28)`` probabilities, pasted one by one.

    Args:
        masks: Mask R-CNN's small mask probabilities of the kept detections.
        boxes: their XYXY boxes in the photo's pixels.
        size: the photo's ``(height, width)``.
    """
    out = torch.zeros((len(masks), 1, *size), dtype=torch.bool)
    for i in range(len(masks)):
        out[i] = paste_masks_in_image(masks[i : i + 1].float(), boxes[i : i + 1].float(), size)[0] > MASK_THRESHOLD
    return out
