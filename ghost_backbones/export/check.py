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

__all__ = [
    "BOX_ATOL",
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


def check_outputs(
    kind: str,
    reference: Callable[[Any], Outputs],
    candidate: Callable[[Any], Outputs],
    images: Sequence[tuple[str, Any]],
    *,
    what: str,
) -> dict[str, Any]:
    """Run ``reference`` and ``candidate`` on each ``(name, image)``; raise `ExportError` at the first difference.

    Args:
        kind: ``"detection"`` or ``"segmentation"``.
        reference: the eager model (image -> output arrays).
        candidate: the exported model.
        images: the sample images, named for the message.
        what: the exported file, for the message.

    Returns:
        ``{"images": n, "detections": compared}`` (detection) or ``{"images": n, "min_pixel_agreement": a}``.
    """
    summary: dict[str, Any] = {"images": len(images)}
    worst, compared = 1.0, 0
    for name, image in images:
        expected = reference(image)
        try:
            got = candidate(image)
        except Exception as e:  # the runtimes raise their own types: any failure is the file's
            raise ExportError(f"{what} fails on {name}: {type(e).__name__}: {e}") from e
        if kind == "detection":
            problem = compare_detections(expected, got)
            compared += int((expected[2] > SCORE_MIN).sum())
        else:
            agreement = pixel_agreement(expected[0], got[0])
            worst = min(worst, agreement)
            problem = None
            if agreement < PIXEL_AGREEMENT:
                problem = f"output 'mask': {agreement:.4%} of the pixels agree (at least {PIXEL_AGREEMENT:.1%} needed)"
        if problem:
            raise ExportError(f"{what} does not reproduce the eager model on {name}: {problem}")
    summary.update({"detections": compared} if kind == "detection" else {"min_pixel_agreement": worst})
    return summary
