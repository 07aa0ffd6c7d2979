"""Helpers the test modules share (imported as ``from helpers import ...``, like ``engine_toy``)."""

import dataclasses
import re
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from detection.config import DetectionConfig
from detection.models import MODELS as DETECTORS
from detection.models import build_model as build_detector
from ghost_backbones.engine import ModelRegistry, config_to_dict, convert_section, load_config, save_checkpoint
from segmentation.config import SegmentationConfig
from segmentation.models import MODELS as SEGMENTERS
from segmentation.models import build_model as build_segmenter

#: A Faster R-CNN small enough to train a few epochs in seconds on 2 CPU cores (``--opts`` of the train tests).
TINY_FASTER_RCNN = [
    "model.backbone.width=0.5",
    "model.fpn_channels=32",
    "model.box_head_fcs=[64, 64]",
    "model.box_batch_size_per_image=64",
    "model.rpn_post_nms_top_n_train=200",
    "model.rpn_post_nms_top_n_test=100",
]


def options_for(registry: ModelRegistry, arch: str, **fields: Any) -> Any:
    """``arch``'s ``model`` section from the ``fields`` it reads, the others left out: for tests parametrized over
    every architecture of a registry with one set of small settings (a single architecture's config rejects a key
    it does not read; that is tested on its own)."""
    return convert_section(fields, registry.options(arch), arch=arch)


def overrides_for(registry: ModelRegistry, arch: str, overrides: list[str]) -> list[str]:
    """The ``KEY=VALUE`` overrides of ``overrides`` that ``arch`` reads: every non-``model`` key, and the ``model``
    keys of its options dataclass (one list of small settings for every architecture of a test)."""
    names = {f.name for f in dataclasses.fields(registry.options(arch))}
    return [o for o in overrides if not o.startswith("model.") or o.split("=", 1)[0].split(".")[1] in names]


SMALL = ["model.backbone.width=0.5", "model.backbone.pretrained=false"]
DETECTION_SMALL = [*SMALL, "model.min_size=96", "model.max_size=128", "model.fpn_channels=32",
                   "model.box_head_fcs=[64, 64]", "model.rpn_post_nms_top_n_test=100",
                   "model.ssd_extra_channels=[64, 32, 32, 16]"]  # fmt: skip
SEGMENTATION_SMALL = [*SMALL, "model.head_channels=32", "data.base_size=80",
                      "data.class_names=[background, circle, square, triangle]"]  # fmt: skip


def _save_untrained(cfg: Any, model: torch.nn.Module, task: str, path: Path) -> Path:
    save_checkpoint(path, {"model": model.state_dict(), "config": config_to_dict(cfg), "task": task, "epoch": 0})
    return path


def detection_checkpoint(arch: str, root: Path, folder: Path) -> Path:
    """An untrained small ``arch`` detector (width 0.5, 96 px, 4 classes) saved as ``detection.train`` saves it, its
    one-stage heads' scores raised so that it detects something."""
    overrides = [*DETECTION_SMALL, f"data.root={root}", "data.categories=[{id: 1, name: circle}, "
                 "{id: 3, name: square}, {id: 7, name: triangle}]", "model.num_classes=4"]  # fmt: skip
    if arch == "ssdlite":
        overrides += ["model.max_size=96"]
    if arch in ("retinanet", "fcos"):  # their GroupNorm(32) heads need 2 channels a group on the 1x1 P7 map
        overrides += ["model.fpn_channels=64"]
    cfg = load_config(DetectionConfig, DETECTORS.recipe(arch), overrides_for(DETECTORS, arch, overrides))
    torch.manual_seed(0)
    model = build_detector(cfg.model)
    for name, module in model.named_modules():  # one-stage heads start at scores of 0.01: give them detections
        if name.endswith("cls_logits"):
            module.bias.data.zero_()
            module.bias.data[:: cfg.model.num_classes] = -10.0  # and no background class (label 0) among them
    return _save_untrained(cfg, model, "detection", folder / f"{arch}.pth")


def segmentation_checkpoint(arch: str, root: Path, folder: Path) -> Path:
    """An untrained small ``arch`` segmenter (width 0.5, 4 classes) saved as ``segmentation.train`` saves it."""
    overrides = overrides_for(SEGMENTERS, arch, [*SEGMENTATION_SMALL, f"data.root={root}", "model.num_classes=4"])
    cfg = load_config(SegmentationConfig, SEGMENTERS.recipe(arch), overrides)
    torch.manual_seed(0)
    model = build_segmenter(cfg.model)
    for m in model.modules():  # random BatchNorm statistics: a model whose class map is not all one class
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
    return _save_untrained(cfg, model, "segmentation", folder / f"{arch}.pth")


def said(err: str) -> list[str]:
    """The ``error:`` / ``warning:`` / ``note:`` lines of stderr (without tqdm's progress bars)."""
    return [line for line in re.split(r"[\r\n]", err) if line.startswith(("error: ", "warning: ", "note: "))]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and modification time of every file in ``folder``: equal snapshots mean nothing was rewritten."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


def photos(folder: Path, *names: str) -> Path:
    """``folder`` (created) holding a 48x40 photo of each name, each of another colour."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (48, 40), (40 * i, 90, 160)).save(folder / name)
    return folder
