"""The Pascal VOC colour map, shared by the synthetic VOC writer and the segmentation mask writer."""

from __future__ import annotations

__all__ = ["voc_palette"]


def voc_palette() -> list[int]:
    """Return the standard Pascal VOC colour map as a flat PIL palette.

    Colour ``i`` spreads the bits of ``i`` over the high bits of R, G and B (the VOC devkit's ``labelcolormap``):
    index 0 is black, 1 is (128, 0, 0), 255 (void) is (224, 224, 192).

    Examples::

        >>> palette = voc_palette()
        >>> print(len(palette), palette[3:6], palette[3 * 255 : 3 * 256])
        768 [128, 0, 0] [224, 224, 192]
    """
    palette = []
    for index in range(256):
        red = green = blue = 0
        code = index
        for bit in range(8):
            red |= ((code >> 0) & 1) << (7 - bit)
            green |= ((code >> 1) & 1) << (7 - bit)
            blue |= ((code >> 2) & 1) << (7 - bit)
            code >>= 3
        palette.extend((red, green, blue))
    return palette
