"""Export a trained segmentation model whole: ``python -m segmentation.export --weights OUT/best.pth --output m.onnx``.

The file holds the model with its pre- and post-processing: images ``(N, 3, H, W)`` of any size (``uint8``, or
float 0-255 with ``--input-dtype float32``) in, resized to the recipe's ``data.base_size`` shorter side as the
evaluation does (antialiased bilinear, in the graph) and normalised; the class map ``mask`` ``(N, H, W)`` at the
input resolution out. The class names and ``base_size`` are in its metadata. The file is checked on images of the
checkpoint's validation split (or ``--check-images``) against the eager model before it is kept; ``--int8``
prints the validation mIoU before and after quantization and writes it beside the file; ``predict --weights
model.onnx`` runs it.

Examples::

    python -m segmentation.export --weights runs/dl3/best.pth --output dl3.onnx
    python -m segmentation.export --weights runs/dl3/best.pth --output dl3_int8.onnx --int8
    python -m segmentation.predict --weights dl3.onnx --input photos/ --output-dir masks
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torchvision.transforms.v2.functional import pil_to_tensor

from ghost_backbones.engine import pretrained_mean_std, run_cli
from ghost_backbones.export import Deployable, ExportSpec, SegmentationGraph, export_main

from .config import SegmentationConfig
from .data.formats import SegmentationDataset
from .metrics import ConfusionMatrix
from .task import build_dataset, load_segmenter

__all__ = ["SPEC", "load_deployable", "main"]


def _split(cfg: SegmentationConfig, *, train: bool) -> SegmentationDataset | None:
    """The split of the checkpoint's recipe, or ``None`` when its data are not on this machine."""
    try:
        return build_dataset(cfg.data, train=train, transforms=None, num_classes=cfg.model.num_classes)
    except (OSError, ValueError):
        return None


def _evaluator(dataset: SegmentationDataset, class_names: list[str]) -> Callable[[Callable], dict[str, Any]]:
    """mIoU (%) of a graph runner on ``dataset``, at the original resolution as in training's evaluation."""

    def evaluate(run: Callable) -> dict[str, Any]:
        confmat = ConfusionMatrix(dataset.num_classes)
        for index in range(len(dataset)):
            image, mask = dataset.load(index)
            pixels = pil_to_tensor(image)[None]
            pred = torch.as_tensor(run(pixels)[0]).long()
            confmat.update(torch.from_numpy(mask).long()[None], pred)
        metrics = confmat.compute(class_names)
        return {"mIoU": metrics["mIoU"], "images": len(dataset)}

    return evaluate


def load_deployable(weights: Path) -> Deployable:
    """The checkpoint's model as a `SegmentationGraph`, with its metadata, sample images and mIoU evaluation."""
    model, cfg = load_segmenter(weights)
    mean, std = pretrained_mean_std(model)
    names = list(cfg.data.class_names)
    metadata = {
        "task": "segmentation",
        "architecture": cfg.model.arch,
        "backbone": cfg.model.backbone.name,
        "categories": [{"id": i, "name": name} for i, name in enumerate(names)],
        "input": "image (N, 3, H, W), RGB pixels 0-255, any size",
        "input_size": {"base_size": cfg.data.base_size},
        "source": str(weights),
    }
    val, train = _split(cfg, train=False), _split(cfg, train=True)
    return Deployable(
        graph=SegmentationGraph(model, base_size=cfg.data.base_size, mean=mean, std=std).eval(),
        metadata=metadata,
        check_images=[val.image_path(i) for i in range(len(val))] if val is not None else [],
        calib_images=[train.image_path(i) for i in range(len(train))] if train is not None else [],
        evaluate=_evaluator(val, names) if val is not None else None,
        metric="mIoU",
    )


SPEC = ExportSpec(task="segmentation", load=load_deployable)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``--weights CKPT --output FILE [--format onnx|torchscript|pt2] [--int8 --calib-images DIR]``."""
    return export_main(SPEC, argv)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
