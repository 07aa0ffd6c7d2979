"""Confusion-matrix metric against hand-computed values, absent classes and 255.

The cross-rank reduction is checked end to end by tests/test_segmentation_distributed.py (torchrun, 2 processes).
"""

import pytest
import torch

from segmentation.metrics import ConfusionMatrix

NAMES = ["bg", "a", "b", "c"]
TARGET = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 255, 0])
PRED = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0, 1, 0])


def test_matrix_and_metrics_by_hand() -> None:
    cm = ConfusionMatrix(4)
    cm.update(TARGET.reshape(2, 5), PRED.reshape(2, 5))
    assert cm.mat.tolist() == [[3, 1, 0, 0], [0, 1, 1, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    m = cm.compute(NAMES)
    # IoU: bg 3/5, a 1/3, b 2/4; c appears nowhere and is left out of the means
    assert m["per_class_IoU"] == pytest.approx({"bg": 60.0, "a": 100 / 3, "b": 50.0, "c": None})
    assert m["absent_classes"] == ["c"]
    assert m["mIoU"] == pytest.approx(100 * (3 / 5 + 1 / 3 + 1 / 2) / 3)
    assert m["pixel_acc"] == pytest.approx(100 * 6 / 9)
    assert m["mean_acc"] == pytest.approx(100 * (3 / 4 + 1 / 2 + 2 / 3) / 3)
    assert m["fw_IoU"] == pytest.approx(100 * (4 / 9 * 3 / 5 + 2 / 9 * 1 / 3 + 3 / 9 * 1 / 2))


def test_class_only_predicted_counts_as_zero_iou() -> None:
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 2, 1, 1]))
    m = cm.compute()
    assert m["per_class_IoU"] == pytest.approx({"0": 50.0, "1": 100.0, "2": 0.0})
    assert m["mIoU"] == pytest.approx(50.0)
    assert m["mean_acc"] == pytest.approx(75.0)  # accuracy only over classes with ground truth
    assert m["absent_classes"] == []


def test_updates_accumulate() -> None:
    whole, parts = ConfusionMatrix(4), ConfusionMatrix(4)
    whole.update(TARGET, PRED)
    parts.update(TARGET[:4], PRED[:4])
    parts.update(TARGET[4:], PRED[4:])
    assert torch.equal(whole.mat, parts.mat)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda cm: cm.update(torch.zeros(3), torch.zeros(4)), r"shapes differ: \(3,\) vs \(4,\)"),
        (lambda cm: cm.update(torch.tensor([5]), torch.tensor([0])), r"label value\(s\) \[5\] outside \[0, 4\)"),
        (lambda cm: cm.update(torch.tensor([0]), torch.tensor([9])), r"predicted class outside \[0, 4\): \[9\]"),
        (lambda cm: cm.compute(), r"no labelled pixels were evaluated"),
        (lambda cm: (cm.update(TARGET, PRED), cm.compute(["x"])), r"expected 4 class names, got 1"),
        (lambda cm: ConfusionMatrix(0), r"num_classes must be >= 1, got 0"),
    ],
)
def test_bad_input(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(ConfusionMatrix(4))
