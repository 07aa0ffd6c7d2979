"""Hugging Face clients: transformers' ``TimmBackbone`` (``output_hidden_states=True`` too) and the reload rule: a
model saved by smp or transformers names our timm model, so a fresh process imports ``ghost_backbones`` before
loading it (timm has no plug-in hook that would import it on its own).

transformers and smp are optional clients: each test is skipped when its package is not installed.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ghost_backbones  # noqa: F401  (registers our timm models)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["ghostnet", "ghostnetv2", "ghostnetv3"])
def test_transformers_timm_backbone_hidden_states(name: str) -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.TimmBackboneConfig(backbone=name, out_indices=(1, 2, 3, 4), use_pretrained_backbone=False)
    model = transformers.TimmBackbone(config).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        plain = model(x)
        hidden = model(x, output_hidden_states=True)
        again = model(x)
    channels = model._backbone.feature_info.channels()
    assert [f.shape[1] for f in plain.feature_maps] == channels
    assert [h.shape[1] for h in hidden.hidden_states] == [16, *channels]  # every level, the stem's first
    for a, b, c in zip(plain.feature_maps, hidden.feature_maps, again.feature_maps):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, c)


def _in_fresh_process(code: str) -> str:
    """The last line ``code`` prints, run by a new interpreter (nothing of this process imported)."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_smp_model_reloads_after_import(tmp_path: Path) -> None:
    smp = pytest.importorskip("segmentation_models_pytorch")
    smp.Unet("tu-ghostnetv2", encoder_weights=None, classes=2).save_pretrained(tmp_path)
    code = (
        "import ghost_backbones, segmentation_models_pytorch as smp, torch\n"
        f"model = smp.from_pretrained({str(tmp_path)!r}).eval()\n"
        "print(tuple(model(torch.rand(1, 3, 64, 64)).shape))\n"
    )
    assert _in_fresh_process(code) == "(1, 2, 64, 64)"


def test_transformers_detr_reloads_after_import(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    small = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=32, decoder_ffn_dim=32)
    config = transformers.DetrConfig(
        use_timm_backbone=True,
        backbone="ghostnetv2",
        use_pretrained_backbone=False,
        num_queries=5,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_labels=3,
        **small,
    )
    transformers.DetrForObjectDetection(config).save_pretrained(tmp_path)
    code = (
        "import ghost_backbones, torch\n"
        "from transformers import DetrForObjectDetection\n"
        f"model = DetrForObjectDetection.from_pretrained({str(tmp_path)!r}).eval()\n"
        "print(tuple(model(torch.rand(1, 3, 64, 64)).pred_boxes.shape))\n"
    )
    assert _in_fresh_process(code) == "(1, 5, 4)"
