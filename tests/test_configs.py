"""Every recipe in configs/ loads, builds its model (pretrained weights off: offline) and runs one forward pass;
every segmentation recipe trains one iteration; every pretrained segmentation recipe has a from-scratch sibling."""

from pathlib import Path

import pytest
import torch
import yaml

from detection.config import DetectionConfig
from detection.models import MODELS as DETECTORS
from detection.models import build_model as build_detector
from detection.models import needs_masks
from ghost_backbones.data.synthetic import make_shapes_voc
from ghost_backbones.engine import fit, load_config, read_jsonl
from segmentation.config import SegmentationConfig
from segmentation.models import MODELS as SEGMENTERS
from segmentation.models import build_model as build_segmenter
from segmentation.task import SegmentationTask

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
OFFLINE = ["model.backbone.pretrained=false"]
SEGMENTATION = [p for p in CONFIGS if yaml.safe_load(p.read_text())["model"]["arch"] in SEGMENTERS]


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
        assert ("aux" in out) is getattr(cfg.model, "aux_loss", False)
    assert cfg.model.backbone.name in ("ghostnet", "ghostnetv2", "ghostnetv3")


@pytest.fixture(scope="module")
def two_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VOC shapes with 2 training images: one iteration at batch 2."""
    return make_shapes_voc(tmp_path_factory.mktemp("voc_2"), num_train=2, num_val=1, image_size=64)


@pytest.mark.parametrize("path", SEGMENTATION, ids=[p.stem for p in SEGMENTATION])
def test_segmentation_recipe_trains_one_iteration(path: Path, two_images: Path, tmp_path: Path) -> None:
    tiny = ["model.backbone.width=0.5", "data.crop_size=48", "data.base_size=64", "train.epochs=1",
            "train.batch_size=2", "train.workers=0", "train.device=cpu", "train.eval_every=1", "train.log_every=1",
            "train.tensorboard=false", "train.plots=false", f"data.root={two_images}",
            f"train.output_dir={tmp_path}"]  # fmt: skip
    cfg = load_config(SegmentationConfig, path, [*OFFLINE, *tiny])
    metrics = fit(SegmentationTask(cfg))
    steps = [r for r in read_jsonl(tmp_path / "log.jsonl") if r["type"] == "train"]
    assert len(steps) == 1 and torch.isfinite(torch.tensor(steps[0]["loss"]))
    assert 0 <= metrics["mIoU"] <= 100


@pytest.mark.parametrize("arch", SEGMENTERS.names(baselines=False))
def test_segmentation_recipes_for_and_without_pretrained_weights(arch: str) -> None:
    """Turning the pretrained backbone off has its own recipe (AdamW, warmup), named in the pretrained one."""
    pretrained, scratch = (CONFIGS[0].parent / f"{arch}_ghostnet_{kind}voc.yaml" for kind in ("", "scratch_"))
    assert f"configs/{scratch.name}" in pretrained.read_text()
    tuned = load_config(SegmentationConfig, pretrained, OFFLINE)
    cfg = load_config(SegmentationConfig, scratch)
    assert not cfg.model.backbone.pretrained and cfg.model.arch == arch and "FROM SCRATCH" in scratch.read_text()
    assert (cfg.train.optimizer, cfg.train.lr, tuned.train.optimizer) == ("adamw", 0.003, "sgd")
    assert cfg.train.warmup_iters > 0 and cfg.data == tuned.data and cfg.train.epochs == tuned.train.epochs
