"""Export a trained detector whole: ``python -m detection.export --weights OUT/best.pth --output model.onnx``.

The file holds the detector with its pre- and post-processing: one image ``(3, H, W)`` of any size (``uint8``,
or float 0-255 with ``--input-dtype float32``) in; ``boxes`` (xyxy, input pixels), ``labels`` (the original
category ids), ``scores`` after NMS (and Mask R-CNN's ``masks``, ``(K, 1, H, W)`` probabilities) out. The
categories, the architecture and the input size (``min_size`` / ``max_size``, or SSDLite's fixed size, which the
graph resizes to itself) are in its metadata. The file is checked on images of the checkpoint's validation split
(or ``--check-images``) against the eager model before it is kept; ``predict --weights model.onnx`` runs it (as
it runs the other formats' files, chosen by suffix).
``--format torchscript`` traces the same graph; ``--format pt2`` (``torch.export``) is refused for detectors with
torch.export's reason (torchvision's post-processing has data-dependent shapes).

Examples::

    python -m detection.export --weights runs/frcnn/best.pth --output frcnn.onnx
    python -m detection.export --weights runs/frcnn/best.pth --output frcnn_int8.onnx --int8 --calib-images photos/
    python -m detection.predict --weights frcnn.onnx --input photos/ --output-dir predictions
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torchvision.transforms.v2.functional import pil_to_tensor

from ghost_backbones.engine import config_from_dict, read_trained_checkpoint, run_cli
from ghost_backbones.export import Deployable, DetectionGraph, ExportedDetector, ExportSpec, export_main, load_exported

from .config import DetectionConfig
from .data.coco import CategoryMap
from .data.formats import DetectionDataset
from .evaluate import coco_evaluation, to_coco_results
from .task import DetectionTask, build_dataset
from .trained import load_detector

__all__ = ["SPEC", "load_deployable", "load_exported_detector", "main"]


def _image_paths(dataset: DetectionDataset) -> list[Path]:
    return [dataset.image_path(index) for index in range(len(dataset))]


def _split(cfg: DetectionConfig, categories: CategoryMap, *, train: bool) -> Any:
    """The split of the checkpoint's recipe, or ``None`` when its data are not on this machine."""
    try:
        return build_dataset(cfg.data, train=train, transforms=None, categories=categories)
    except (OSError, ValueError):
        return None


def _evaluator(dataset: Any, categories: CategoryMap) -> Callable[[Callable], dict[str, Any]]:
    """Box AP (COCO, IoU 0.50:0.95) of a graph runner on ``dataset``."""

    def evaluate(run: Callable) -> dict[str, Any]:
        results, ids = [], []
        for index in range(len(dataset)):
            image, target = dataset[index]
            boxes, labels, scores = run(pil_to_tensor(image))[:3]
            labels = torch.tensor([categories.to_label(int(i)) for i in labels], dtype=torch.int64)
            output = {"boxes": torch.as_tensor(boxes), "labels": labels, "scores": torch.as_tensor(scores)}
            results += to_coco_results(target["image_id"], output, categories)
            ids.append(target["image_id"])
        metrics, _ = coco_evaluation(dataset.evaluation_coco, results, ids, verbose=False)
        return {"AP": metrics["bbox"]["AP"], "images": len(ids)}

    return evaluate


def load_deployable(weights: Path) -> Deployable:
    """The checkpoint's detector as a `DetectionGraph`, with its metadata, sample images and box-AP evaluation."""
    model, categories = load_detector(weights)
    cfg = config_from_dict(DetectionConfig, read_trained_checkpoint(weights, DetectionTask.name)["config"])
    fixed = getattr(model.transform, "fixed_size", None)
    size = {"fixed_size": list(fixed)} if fixed else {"min_size": cfg.model.min_size, "max_size": cfg.model.max_size}
    metadata = {
        "task": "detection",
        "architecture": cfg.model.arch,
        "backbone": cfg.model.backbone.name,
        "categories": categories.as_categories(),
        "input": "image (3, H, W), RGB pixels 0-255, any size",
        "input_size": size,
        "score_thresh": cfg.model.box_score_thresh,
        "detections_per_img": cfg.model.box_detections_per_img,
        "source": str(weights),
    }
    val, train = _split(cfg, categories, train=False), _split(cfg, categories, train=True)
    return Deployable(
        graph=DetectionGraph(model, categories.ids).eval(),
        metadata=metadata,
        check_images=_image_paths(val) if val is not None else [],
        calib_images=_image_paths(train) if train is not None else [],
        evaluate=_evaluator(val, categories) if val is not None else None,
        metric="AP",
    )


def load_exported_detector(path: str | Path) -> tuple[ExportedDetector, CategoryMap]:
    """An exported detector (any registered format, by suffix; called as the checkpoint's model is) and its
    categories, for ``predict``."""
    model = load_exported(path, "detection")
    return model, CategoryMap.from_categories(model.categories)


SPEC = ExportSpec(task="detection", load=load_deployable)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``--weights CKPT --output FILE [--format onnx|torchscript|pt2] [--int8 --calib-images DIR]``."""
    return export_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(run_cli(main))
