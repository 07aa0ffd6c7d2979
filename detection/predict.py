"""Run a trained detector on images: drawn boxes + ``detections.json`` (COCO results format, original ids).

Examples::

    python -m detection.predict --weights runs/frcnn/best.pth --input photos/ --output-dir predictions
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torchvision.models.detection import FasterRCNN
from torchvision.transforms.v2 import functional as F
from torchvision.utils import draw_bounding_boxes
from tqdm import tqdm

from ghost_backbones.data.images import list_images, read_rgb
from ghost_backbones.engine import resolve_device, run_cli

from .data.coco import CategoryMap
from .evaluate import to_coco_results
from .task import load_detector

__all__ = ["draw_detections", "main", "predict_images"]


def draw_detections(
    image: torch.Tensor, output: dict[str, torch.Tensor], categories: CategoryMap, *, width: int = 2
) -> torch.Tensor:
    """``image`` (uint8 CHW) with the boxes of ``output`` drawn, labelled ``name score``, one colour per class.

    Args:
        image: the image, uint8, ``(3, H, W)``.
        output: detections (``boxes``, ``labels``, ``scores``) in the image's pixels.
        categories: label -> name mapping.
        width: box line width.

    Examples::

        >>> out = {"boxes": torch.tensor([[2.0, 2.0, 20.0, 20.0]]), "labels": torch.tensor([1]),
        ...        "scores": torch.tensor([0.9])}
        >>> draw_detections(torch.zeros(3, 32, 32, dtype=torch.uint8), out, CategoryMap((3,), ("square",))).shape
        torch.Size([3, 32, 32])
    """
    if len(output["boxes"]) == 0:
        return image
    palette = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4"]
    labels = output["labels"].tolist()
    texts = [f"{categories.name(label)} {score:.2f}" for label, score in zip(labels, output["scores"].tolist())]
    colors = [palette[(label - 1) % len(palette)] for label in labels]
    return draw_bounding_boxes(image, output["boxes"].float(), labels=texts, colors=colors, width=width)


def predict_images(
    model: FasterRCNN,
    categories: CategoryMap,
    paths: Sequence[Path],
    output_dir: str | Path,
    *,
    score_thresh: float = 0.5,
    device: torch.device | str = "cpu",
) -> list[dict[str, Any]]:
    """Detect objects in ``paths``; write the drawn images and ``detections.json`` to ``output_dir``.

    Photos are read with their EXIF orientation applied. ``image_id`` in the results is the file name's number when
    every name is a number (COCO's ``000000000139.jpg`` -> 139), else the 1-based position; ``file_name`` is kept.

    Args:
        model: a detector in eval mode.
        categories: label -> original category id / name mapping.
        paths: the images.
        output_dir: created if missing.
        score_thresh: detections below this score are left out.
        device: where the model runs.

    Returns:
        The detections written to ``detections.json``.

    Examples::

        >>> model, cats = load_detector("runs/frcnn/best.pth")  # doctest: +SKIP
        >>> dets = predict_images(model, cats, list_images("photos"), "predictions")  # doctest: +SKIP
    """
    if not 0.0 <= score_thresh <= 1.0:
        raise ValueError(f"score_thresh must be in [0, 1], got {score_thresh}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    model.to(device)
    numeric = all(p.stem.isdigit() for p in paths)
    detections: list[dict[str, Any]] = []
    for position, path in enumerate(tqdm(paths, desc="predict", unit="img"), start=1):
        image = F.pil_to_tensor(read_rgb(path))
        with torch.inference_mode():
            output = model([F.to_dtype(image, torch.float32, scale=True).to(device)])[0]
        keep = output["scores"] >= score_thresh
        output = {k: v[keep].cpu() for k, v in output.items()}
        image_id = int(path.stem) if numeric else position
        detections += [{**d, "file_name": path.name} for d in to_coco_results(image_id, output, categories)]
        drawn = draw_detections(image, output, categories)
        Image.fromarray(drawn.permute(1, 2, 0).numpy()).save(output_dir / path.name)
    (output_dir / "detections.json").write_text(json.dumps(detections, indent=1))
    return detections


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Command line: ``--weights CKPT --input IMAGE_OR_FOLDER --output-dir DIR [--score-thresh 0.5]``.

    Args:
        argv: command-line arguments (``None``: ``sys.argv[1:]``).

    Examples::

        >>> main(["--weights", "runs/frcnn/best.pth", "--input", "photos", "--output-dir", "out"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(description="Detect objects with a trained Faster R-CNN GhostNet-FPN")
    parser.add_argument("--weights", required=True, help="checkpoint written by detection.train (best.pth)")
    parser.add_argument("--input", required=True, help="an image file or a folder of images")
    parser.add_argument("--output-dir", required=True, help="where drawn images and detections.json go")
    parser.add_argument("--score-thresh", type=float, default=0.5, help="minimum detection score")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = parser.parse_args(argv)
    paths = list_images(args.input)
    model, categories = load_detector(args.weights)
    detections = predict_images(
        model, categories, paths, args.output_dir, score_thresh=args.score_thresh, device=resolve_device(args.device)
    )
    print(f"{len(detections)} detections in {len(paths)} image(s) written to {args.output_dir}")
    return detections


if __name__ == "__main__":
    sys.exit(run_cli(main))
