"""Run a trained detector on images: drawn boxes (and masks) + ``detections.json`` (COCO results format, original
ids; Mask R-CNN's masks as RLE ``segmentation``).

The output folder is checked before any work: it never holds an input, and a folder already holding
``detections.json`` or a file of a drawing's name is refused, so nothing is replaced (see
`ghost_backbones.engine.outputs`);
``detections.json`` is written even when an unreadable photo stops the run (with the photos done before it), or
``--skip-bad-images`` warns about each unreadable photo with a count and goes on.

Examples::

    python -m detection.predict --weights runs/frcnn/best.pth --input photos/ --output-dir predictions
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torchvision.models.detection import FasterRCNN
from torchvision.transforms.v2 import functional as F
from tqdm import tqdm

from ghost_backbones.data.images import list_images
from ghost_backbones.engine import resolve_device, run_cli, write_json
from ghost_backbones.engine.outputs import iter_images, output_names, prepare_output_dir
from ghost_backbones.export import FORMATS, is_exported

from .data.coco import CategoryMap
from .draw import draw_detections
from .evaluate import to_coco_results
from .export import load_exported_detector
from .paste import paste_binary_masks, unpasted_masks
from .trained import load_detector

__all__ = ["draw_detections", "main", "predict_images"]

RESULTS = "detections.json"


def predict_images(
    model: FasterRCNN,
    categories: CategoryMap,
    paths: Sequence[Path],
    output_dir: str | Path,
    *,
    score_thresh: float = 0.5,
    device: torch.device | str = "cpu",
    skip_bad_images: bool = False,
) -> list[dict[str, Any]]:
    """Detect objects in ``paths``; write the drawn images and ``detections.json`` to ``output_dir``.

    Photos are read with their EXIF orientation applied. Mask R-CNN's masks are pasted into the photo only for the
    detections kept by ``score_thresh``, one at a time (see `detection.paste`), so a large photo needs little memory.
    ``image_id`` in the results is the file name's number when every name is a distinct number (COCO's
    ``000000000139.jpg`` -> 139), else the 1-based position; ``file_name`` is kept. A drawn image has its photo's
    name (the same name from two folders: ``a_2.jpg``).

    Args:
        model: a detector in eval mode.
        categories: label -> original category id / name mapping.
        paths: the images.
        output_dir: created if missing; refused when it holds one of ``paths``, a ``detections.json`` or a file of a
            drawing's name (nothing is replaced).
        score_thresh: detections below this score are left out.
        device: where the model runs.
        skip_bad_images: warn about unreadable images (with a count) and go on; otherwise the first one stops
            the run, after ``detections.json`` is written for the images done before it.

    Returns:
        The detections written to ``detections.json``.

    Examples::

        >>> model, cats = load_detector("runs/frcnn/best.pth")  # doctest: +SKIP
        >>> dets = predict_images(model, cats, list_images("photos"), "predictions")  # doctest: +SKIP
    """
    if not 0.0 <= score_thresh <= 1.0:
        raise ValueError(f"score_thresh must be in [0, 1], got {score_thresh}")
    names = output_names(paths, keep_suffix=True)
    output_dir = prepare_output_dir(output_dir, inputs=paths, outputs=[RESULTS, *names])
    device = torch.device(device)
    model.to(device)
    numeric = all(p.stem.isdigit() for p in paths) and len({int(p.stem) for p in paths}) == len(paths)
    detections: list[dict[str, Any]] = []
    results = output_dir / RESULTS
    images = iter_images(paths, skip_bad_images=skip_bad_images, results=str(results))
    try:
        for index, path, photo in tqdm(images, desc="predict", unit="img", total=len(paths)):
            image = F.pil_to_tensor(photo)
            with torch.inference_mode(), unpasted_masks(model):
                output = model([F.to_dtype(image, torch.float32, scale=True).to(device)])[0]
            keep = output["scores"] >= score_thresh
            output = {k: v[keep].cpu() for k, v in output.items()}
            if "masks" in output and output["masks"].shape[-2:] != image.shape[-2:]:  # pasted only when kept
                output["masks"] = paste_binary_masks(output["masks"], output["boxes"], tuple(image.shape[-2:]))
            image_id = int(path.stem) if numeric else index + 1
            results_of_image = to_coco_results(image_id, output, categories, decimals=2)
            detections += [{**d, "file_name": path.name} for d in results_of_image]
            drawn = draw_detections(image, output, categories)
            Image.fromarray(drawn.permute(1, 2, 0).numpy()).save(output_dir / names[index])
    finally:  # also when an image stops the run: the detections of the images done so far are kept
        write_json(results, detections)
    return detections


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Command line: ``--weights CKPT --input IMAGE_OR_FOLDER --output-dir DIR [--score-thresh 0.5]``.

    Args:
        argv: command-line arguments (``None``: ``sys.argv[1:]``).

    Examples::

        >>> main(["--weights", "runs/frcnn/best.pth", "--input", "photos", "--output-dir", "out"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(description="Detect objects (and their masks) with a trained detector")
    parser.add_argument(
        "--weights",
        required=True,
        help="checkpoint written by detection.train (best.pth), or a detection.export file "
        f"({', '.join(f.suffix for f in FORMATS)})",
    )
    parser.add_argument("--input", required=True, help="an image file or a folder of images")
    parser.add_argument(
        "--output-dir",
        required=True,
        help="where drawn images and detections.json go (not the input folder, nor one holding files of those names)",
    )
    parser.add_argument("--score-thresh", type=float, default=0.5, help="minimum detection score")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--skip-bad-images", action="store_true", help="warn about unreadable images (with a count) and go on"
    )
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    paths = list_images(args.input)
    outputs = [RESULTS, *output_names(paths, keep_suffix=True)]
    prepare_output_dir(args.output_dir, inputs=paths, outputs=outputs)  # before the model is loaded
    exported = is_exported(args.weights)
    model, categories = load_exported_detector(args.weights) if exported else load_detector(args.weights)
    detections = predict_images(
        model,
        categories,
        paths,
        args.output_dir,
        score_thresh=args.score_thresh,
        device=device,
        skip_bad_images=args.skip_bad_images,
    )
    print(f"{len(detections)} detections in {len(paths)} image(s) written to {args.output_dir}")
    return detections


if __name__ == "__main__":
    sys.exit(run_cli(main))
