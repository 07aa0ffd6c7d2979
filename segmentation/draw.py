"""Predicted masks as pictures: VOC-palette PNGs and overlays on the photo, for predict and the previews."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ghost_backbones.data import voc_palette

__all__ = ["colorize", "overlay"]


def colorize(mask: np.ndarray) -> Image.Image:
    """The mask as a ``P``-mode PNG-ready image with the VOC palette (pixel values stay class indices).

    Examples::

        >>> colorize(np.array([[0, 1]], dtype=np.uint8)).convert("RGB").getpixel((1, 0))
        (128, 0, 0)
    """
    image = Image.fromarray(mask.astype(np.uint8))  # mode "L"; putpalette turns it into "P"
    image.putpalette(voc_palette())
    return image


def overlay(image: Image.Image, mask: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """The photo with class colours blended in at ``alpha`` where the mask is not background (0) or void (255).

    Examples::

        >>> overlay(Image.new("RGB", (2, 1)), np.array([[0, 1]], dtype=np.uint8)).getpixel((1, 0))
        (64, 0, 0)
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    photo = image.convert("RGB")
    blended = Image.blend(photo, colorize(mask).convert("RGB"), alpha)
    keep = Image.fromarray(((mask != 0) & (mask != 255)).astype(np.uint8) * 255)
    return Image.composite(blended, photo, keep)
