"""The check every exported file passes when it is written: its outputs against the eager model's, image by image.

Detection: every detection scoring above `SCORE_MIN` on one side has one on the other side with the same label, a
box within `BOX_ATOL` pixels (each coordinate) and a score within `SCORE_ATOL` (detections within `SCORE_ATOL` of
`SCORE_MIN` may fall on either side of the model's own score threshold and are not required); Mask R-CNN's masks
of matched detections agree on at least `PIXEL_AGREEMENT` of the pixels. Segmentation: at least
`PIXEL_AGREEMENT` of the pixels get the same class. A failure raises `ExportError` naming the image and the
output that differs, with the numbers (the export CLI adds the first layer that differs: :mod:`.locate`).

Examples::

    >>> import numpy as np
    >>> ref = (np.array([[0, 0, 10, 10.0]]), np.array([3]), np.array([0.9]))
    >>> compare_detections(ref, (ref[0] + 0.2, ref[1], ref[2] + 1e-4)) is None
    True
    >>> compare_detections(ref, (ref[0] + 2.0, ref[1], ref[2]))
    "output 'boxes': detection 0 (label 3, score 0.9000) is 2.00 px away (tolerance 0.5 px) in the exported model"
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ExportError
from .formats import OutputCheck

__all__ = [
    "BOX_ATOL",
    "DetectionCheck",
    "SegmentationCheck",
    "PIXEL_AGREEMENT",
    "SCORE_ATOL",
    "SCORE_MIN",
    "check_outputs",
    "compare_detections",
    "pixel_agreement",
]

BOX_ATOL = 0.5
SCORE_ATOL = 1e-3
SCORE_MIN = 0.05
PIXEL_AGREEMENT = 0.999

Outputs = Sequence[np.ndarray]
Runner = Callable[[Any], Outputs]


def pixel_agreement(expected: np.ndarray, got: np.ndarray) -> float:
    """Fraction of equal elements (0 when the shapes differ; 1 for two empty arrays)."""
    if expected.shape != got.shape:
        return 0.0
    return float((expected == got).mean()) if expected.size else 1.0


def _unmatched(ref: Outputs, other: Outputs, side: str) -> str | None:
    """The first detection of ``ref`` above the score bar that ``other`` lacks, said as the output that differs."""
    boxes, labels, scores = ref[:3]
    o_boxes, o_labels, o_scores = other[:3]
    for i in np.flatnonzero(scores > SCORE_MIN + SCORE_ATOL):
        same_label = o_labels == labels[i]
        box_gap = np.abs(o_boxes - boxes[i]).max(1) if len(o_boxes) else np.zeros(0)
        score_gap = np.abs(o_scores - scores[i])
        if (same_label & (box_gap <= BOX_ATOL) & (score_gap <= SCORE_ATOL)).any():
            continue
        what = f"detection {i} (label {labels[i]}, score {scores[i]:.4f})"
        if (same_label & (score_gap <= SCORE_ATOL)).any():
            gap = box_gap[same_label & (score_gap <= SCORE_ATOL)].min()
            return f"output 'boxes': {what} is {gap:.2f} px away (tolerance {BOX_ATOL} px) in the {side}"
        if (same_label & (box_gap <= BOX_ATOL)).any():
            gap = score_gap[same_label & (box_gap <= BOX_ATOL)].min()
            return f"output 'scores': {what} differs by {gap:.2e} (tolerance {SCORE_ATOL}) in the {side}"
        if (box_gap <= BOX_ATOL).any() and not same_label.any():
            return f"output 'labels': {what} has another label in the {side}"
        return f"{what}, box {np.round(boxes[i], 2).tolist()}, has no counterpart in the {side}"
    return None


def compare_detections(expected: Outputs, got: Outputs) -> str | None:
    """``None`` when ``got`` (boxes, labels, scores[, masks]) matches ``expected`` within tolerance, else why not."""
    problem = _unmatched(expected, got, "exported model") or _unmatched(got, expected, "eager model (extra)")
    if problem or len(expected) < 4:
        return problem
    # masks of the detections both sides agree on exactly (same order): binarised at 0.5, pixel by pixel
    count = min(len(expected[2]), len(got[2]))
    same = [i for i in range(count) if expected[1][i] == got[1][i] and abs(expected[2][i] - got[2][i]) <= SCORE_ATOL]
    agreement = pixel_agreement(expected[3][same] > 0.5, got[3][same] > 0.5) if same else 1.0
    if agreement < PIXEL_AGREEMENT:
        return f"output 'masks': {agreement:.4%} of the mask pixels agree (at least {PIXEL_AGREEMENT:.1%} needed)"
    return None


class DetectionCheck:
    """The check of a detection graph (outputs ``boxes, labels, scores[, masks]``): `compare_detections`."""

    def __init__(self) -> None:
        self.compared = 0

    def compare(self, expected: Outputs, got: Outputs) -> str | None:
        self.compared += int((expected[2] > SCORE_MIN).sum())
        return compare_detections(expected, got)

    def summary(self) -> dict[str, Any]:
        return {"detections": self.compared}

    def said(self) -> str:
        return f"{self.compared} detection(s) above {SCORE_MIN} match"

    def warning(self) -> str | None:
        if self.compared:
            return None
        return (
            f"no detection scored above {SCORE_MIN} on the check images: only empty outputs were compared; "
            "pass --check-images DIR with images the model detects objects in"
        )

    def int8_agreement(self, fp32: Runner, int8: Runner, images: Sequence[tuple[str, Any]]) -> dict[str, Any]:
        return {"detections_fp32_int8": [(len(fp32(x)[2]), len(int8(x)[2])) for _, x in images]}


class SegmentationCheck:
    """The check of a segmentation graph (output ``mask``): at least `PIXEL_AGREEMENT` of the pixels agree."""

    def __init__(self) -> None:
        self.worst = 1.0

    def compare(self, expected: Outputs, got: Outputs) -> str | None:
        agreement = pixel_agreement(expected[0], got[0])
        self.worst = min(self.worst, agreement)
        if agreement < PIXEL_AGREEMENT:
            return f"output 'mask': {agreement:.4%} of the pixels agree (at least {PIXEL_AGREEMENT:.1%} needed)"
        return None

    def summary(self) -> dict[str, Any]:
        return {"min_pixel_agreement": self.worst}

    def said(self) -> str:
        return f"at least {self.worst:.4%} of the pixels agree"

    def warning(self) -> str | None:
        return None

    def int8_agreement(self, fp32: Runner, int8: Runner, images: Sequence[tuple[str, Any]]) -> dict[str, Any]:
        agreement = [pixel_agreement(fp32(x)[0], int8(x)[0]) for _, x in images]
        return {"pixel_agreement_with_fp32": float(np.mean(agreement))}


def check_outputs(
    check: OutputCheck,
    reference: Runner,
    candidate: Runner,
    images: Sequence[tuple[str, Any]],
    *,
    what: str,
) -> dict[str, Any]:
    """Run ``reference`` and ``candidate`` on each ``(name, image)``; raise `ExportError` at the first difference.

    Args:
        check: how the outputs are compared (`DetectionCheck`, `SegmentationCheck`: the graph's
            ``GraphSpec.check``); it keeps the figures of the summary.
        reference: the eager model (image -> output arrays).
        candidate: the exported model.
        images: the sample images, named for the message.
        what: the exported file, for the message.

    Returns:
        ``{"images": n, **check.summary()}``: ``"detections"`` compared, or ``"min_pixel_agreement"``.
    """
    for name, image in images:
        expected = reference(image)
        try:
            got = candidate(image)
        except Exception as e:  # the runtimes raise their own types: any failure is the file's
            raise ExportError(f"{what} fails on {name}: {type(e).__name__}: {e}") from e
        problem = check.compare(expected, got)
        if problem:
            raise ExportError(f"{what} does not reproduce the eager model on {name}: {problem}")
    return {"images": len(images), **check.summary()}
