"""Every recipe in configs/ loads, builds its model (pretrained weights off: offline) and runs one forward pass."""

from pathlib import Path

import pytest
import torch
import yaml

from detection.config import DetectionConfig
from detection.models import MODELS as DETECTORS
from detection.models import build_model as build_detector
from detection.models import needs_masks
from ghost_backbones.engine import load_config
from segmentation.config import SegmentationConfig
from segmentation.models import MODELS as SEGMENTERS
from segmentation.models import build_model as build_segmenter

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
OFFLINE = ["model.backbone.pretrained=false"]


def _task(path: Path) -> str:
    arch = yaml.safe_load(path.read_text())["model"]["arch"]
    assert (arch in DETECTORS) != (arch in SEGMENTERS), (
        f"{path.name}: model.arch {arch!r} in neither or both registries"
    )
    return "detection" if arch in DETECTORS else "segmentation"


def test_every_architecture_has_a_recipe() -> None:
    archs = {yaml.safe_load(p.read_text())["model"]["arch"] for p in CONFIGS}
    assert set(DETECTORS.names(baselines=False)) | set(SEGMENTERS.names(baselines=False)) <= archs


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_recipe_loads_builds_and_runs(path: Path) -> None:
    if _task(path) == "detection":
        cfg = load_config(DetectionConfig, path, [*OFFLINE, "model.num_classes=3", "model.backbone.width=0.5"])
        model = build_detector(cfg.model).eval()
        with torch.no_grad():
            out = model([torch.rand(3, 96, 128)])
        assert set(out[0]) == {"boxes", "labels", "scores"} | ({"masks"} if needs_masks(cfg.model.arch) else set())
        head = model.roi_heads.box_predictor.cls_score if hasattr(model, "roi_heads") else None
        assert head is None or head.out_features == 3
    else:
        cfg = load_config(SegmentationConfig, path, [*OFFLINE, "model.backbone.width=0.5"])
        model = build_segmenter(cfg.model).eval()
        with torch.no_grad():
            out = model(torch.rand(1, 3, 64, 80))
        assert out["out"].shape == (1, len(cfg.data.class_names), 64, 80)
        assert ("aux" in out) is cfg.model.aux_loss
    assert cfg.model.backbone.name in ("ghostnet", "ghostnetv2", "ghostnetv3")
