"""Detections drawn on their image (boxes, labels and scores; Mask R-CNN's masks), for predict and the previews."""

from __future__ import annotations

import torch
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from .data.coco import CategoryMap
from .evaluate import MASK_THRESHOLD

__all__ = ["draw_detections"]


def draw_detections(
    image: torch.Tensor, output: dict[str, torch.Tensor], categories: CategoryMap, *, width: int = 2
) -> torch.Tensor:
    """``image`` (uint8 CHW) with the boxes of ``output`` drawn, labelled ``name score``, one colour per class.

    Mask R-CNN's ``masks`` (probabilities, above :data:`detection.evaluate.MASK_THRESHOLD`) are painted
    half-transparent in the same colours, under the boxes.

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
        masks = output["masks"].reshape(-1, *image.shape[-2:]) > MASK_THRESHOLD
        image = draw_segmentation_masks(image, masks, alpha=0.5, colors=colors)
    return draw_bounding_boxes(image, output["boxes"].float(), labels=texts, colors=colors, width=width)
