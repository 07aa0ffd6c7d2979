"""Run pictures: each plot is written as a PNG, opened back, and shows what it should (not a blank canvas)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ghost_backbones.engine import plots

pytest.importorskip("matplotlib")


def _opened(path: Path) -> np.ndarray:
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.std() > 10, f"{path.name} is blank"
    return image


def test_training_curves(tmp_path: Path) -> None:
    records = [{"type": "train", "epoch": 0, "iter": i, "step": i, "loss": 1 / i, "loss_aux": 0.5 / i, "lr": 0.01 * i}
               for i in range(1, 20)] + [{"type": "eval", "epoch": 0, "bbox": {"AP": 0.3}}]  # fmt: skip
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    path = plots.plot_training_curves(tmp_path / "log.jsonl", tmp_path / "plots", metric="bbox.AP")
    assert path == tmp_path / "plots" / "training_curves.png"
    assert _opened(path).shape[1] > 3 * _opened(path).shape[0] // 2  # three panels side by side
    (tmp_path / "empty.jsonl").write_text(json.dumps({"type": "eval", "epoch": 0}) + "\n")
    assert plots.plot_training_curves(tmp_path / "empty.jsonl", tmp_path / "none", metric="mIoU") is None


def test_pr_curves_bars_and_confusion_matrix(tmp_path: Path) -> None:
    precision = np.tile(np.linspace(1, 0, 101)[None, :, None, None, None], (10, 1, 2, 4, 3))
    precision[:, :, 1] = -1  # a class without ground truth is skipped, not drawn at -1
    _opened(plots.plot_pr_curves(precision, ["circle", "square"], tmp_path))
    _opened(plots.plot_per_class_bars({"circle": 0.7, "square": 0.2}, tmp_path, name="per_class_ap", title="AP"))
    confmat = np.array([[50, 2, 0], [3, 40, 1], [0, 0, 0]])
    image = _opened(plots.plot_confusion_matrix(confmat, ["background", "circle", "square"], tmp_path))
    assert {p.name for p in tmp_path.iterdir()} == {"pr_curves.png", "per_class_ap.png", "confusion_matrix.png"}
    assert image.shape[0] > 100


def test_missing_matplotlib_warns_once_and_skips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    monkeypatch.setattr(plots, "_WARNED", False)
    with pytest.warns(UserWarning, match=r"plots skipped: matplotlib is not installed \(pip install"):
        assert plots.plot_confusion_matrix(np.eye(2), ["a", "b"], tmp_path) is None
    assert plots.plot_per_class_bars({"a": 1.0}, tmp_path, name="x", title="x") is None  # no second warning
    assert list(tmp_path.iterdir()) == []


def test_training_curves_count_a_resumed_epoch_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Epoch 1 trained twice (killed, then resumed): the curves show the resumed try only (read deduplicated)."""
    records = [{"type": "train", "epoch": e, "step": s, "loss": loss, "lr": 0.01}
               for e, s, loss in ((0, 1, 4.0), (0, 2, 3.0), (1, 3, 9.0), (1, 4, 9.0))]  # fmt: skip
    records.append({"type": "resume", "epoch": 1})
    records += [{"type": "train", "epoch": 1, "step": s, "loss": 2.0 / s, "lr": 0.01} for s in (3, 4)]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig) or path)
    plots.plot_training_curves(tmp_path / "log.jsonl", tmp_path, metric="mIoU")
    line = drawn[0].axes[0].lines[0]
    assert list(line.get_xdata()) == [1, 2, 3, 4]
    assert list(line.get_ydata()) == [4.0, 3.0, 2.0 / 3, 0.5]
