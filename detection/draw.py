"""Detections drawn on their image (boxes, labels and scores; Mask R-CNN's masks), for predict and the previews."""

from __future__ import annotations

import torch
from PIL import ImageColor
from torchvision.utils import draw_bounding_boxes

from .data.coco import CategoryMap
from .evaluate import MASK_THRESHOLD

__all__ = ["draw_detections"]


def draw_detections(
    image: torch.Tensor, output: dict[str, torch.Tensor], categories: CategoryMap, *, width: int = 2
) -> torch.Tensor:
    """``image`` (uint8 CHW) with the boxes of ``output`` drawn, labelled ``name score``, one colour per class.

    Mask R-CNN's ``masks`` (``bool``, or probabilities above :data:`detection.evaluate.MASK_THRESHOLD`) are painted
    half-transparent in the same colours, under the boxes, one after another (see :func:`_paint_masks`).

    Args:
        image: the image, uint8, ``(3, H, W)``.
        output: detections (``boxes``, ``labels``, ``scores``, optional ``masks`` ``(N, 1, H, W)``) in the image's
            pixels.
        categories: label -> name mapping.
        width: box line width.

    Examples::

        >>> out = {"boxes": torch.tensor([[2.0, 2.0, 20.0, 20.0]]), "labels": torch.tensor([1]),
        ...        "scores": torch.tensor([0.9])}
        >>> draw_detections(torch.zeros(3, 32, 32, dtype=torch.uint8), out, CategoryMap((3,), ("square",))).shape
        torch.Size([3, 32, 32])
    """
    if len(output["boxes"]) == 0:
        return image
    palette = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4"]
    labels = output["labels"].tolist()
    texts = [f"{categories.name(label)} {score:.2f}" for label, score in zip(labels, output["scores"].tolist())]
    colors = [palette[(label - 1) % len(palette)] for label in labels]
    if "masks" in output:
        masks = output["masks"].reshape(-1, *image.shape[-2:])
        masks = masks if masks.dtype == torch.bool else masks > MASK_THRESHOLD
        image = _paint_masks(image, masks, colors, alpha=0.5)
    return draw_bounding_boxes(image, output["boxes"].float(), labels=texts, colors=colors, width=width)


def _paint_masks(image: torch.Tensor, masks: torch.Tensor, colors: list[str], alpha: float) -> torch.Tensor:
    """``image`` with each ``bool`` mask blended in its colour, working within the mask's bounding rectangle only.

    torchvision's ``draw_segmentation_masks`` indexes the whole image once per mask (gigabytes on a 12-megapixel
    photo with many masks); here the memory a mask needs is the size of its rectangle.

    Examples::

        >>> mask = torch.zeros(1, 4, 4, dtype=torch.bool)
        >>> mask[0, 1:3, 1:3] = True
        >>> _paint_masks(torch.zeros(3, 4, 4, dtype=torch.uint8), mask, ["#ff0000"], 0.5)[0].tolist()
        [[0, 0, 0, 0], [0, 128, 128, 0], [0, 128, 128, 0], [0, 0, 0, 0]]
    """
    out = image.clone()
    for mask, color in zip(masks, colors):
        rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
        if len(rows) == 0:
            continue
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        crop, inside = out[:, y0:y1, x0:x1], mask[y0:y1, x0:x1]
        rgb = torch.tensor(ImageColor.getrgb(color), dtype=torch.float32)[:, None, None]
        blended = (crop.float() * (1 - alpha) + rgb * alpha).round().to(torch.uint8)
        crop.copy_(torch.where(inside, blended, crop))
    return out
