"""Predict masks with a trained checkpoint: ``python -m segmentation.predict``.

For each image writes ``DIR/<stem>.png`` (the predicted class-index mask as a VOC-palette PNG, readable by the
dataset reader) and ``DIR/<stem>_overlay.jpg`` (the mask's colours blended over the photo; background left as is).
Photos sharing a stem keep their suffix in the name (``a.jpg``, ``a.png`` -> ``a_jpg.png``, ``a_png.png``). The
output folder is checked before any work: it never holds an input, and a folder already holding a file of an output's
name (an earlier prediction, ground-truth masks) is refused, so nothing is replaced (see
`ghost_backbones.engine.outputs`); an
unreadable photo stops the run with a line saying what was written, or ``--skip-bad-images`` warns with a count and
goes on. The model and its preprocessing (``data.base_size``) come from the checkpoint's saved config.

Examples::

    python -m segmentation.predict --weights runs/dl3/best.pth --input photo.jpg --output-dir preds
    python -m segmentation.predict --weights runs/dl3/best.pth --input data/voc/VOCdevkit/VOC2012/JPEGImages \\
        --output-dir preds --device cpu
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ghost_backbones.data.images import list_images
from ghost_backbones.engine import pretrained_mean_std, progress, resolve_device, run_cli
from ghost_backbones.engine.outputs import iter_images, output_names, prepare_output_dir
from ghost_backbones.export import FORMATS, ExportedSegmenter, is_exported, load_exported

from .data.transforms import SegmentationEvalTransform
from .draw import colorize, overlay
from .task import load_segmenter, predict_logits

__all__ = ["predict_mask", "colorize", "overlay", "predict_paths", "main"]


@torch.no_grad()
def predict_mask(
    model: nn.Module, image: Image.Image, base_size: int, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Class-index mask (``uint8``, the image's size) predicted for a PIL image.

    Args:
        model: an eval-mode segmentation model (``{"out": logits}``).
        image: the photo.
        base_size: shorter side the image is resized to for inference (0: original size).
        device: where to run.

    Examples::

        >>> predict_mask(model, Image.open("photo.jpg"), 520).shape  # doctest: +SKIP
        (375, 500)
    """
    if isinstance(model, ExportedSegmenter):  # the exported graph resizes, normalises and upsamples itself
        return model.predict_mask(image, base_size)
    mean, std = pretrained_mean_std(model)
    x = SegmentationEvalTransform(base_size, mean=mean, std=std).image(image.convert("RGB")).unsqueeze(0).to(device)
    logits = predict_logits(model, x, (image.height, image.width))
    return logits.argmax(1)[0].to(torch.uint8).cpu().numpy()


def predict_paths(
    model: nn.Module,
    images: Sequence[Path],
    output_dir: str | Path,
    base_size: int,
    device: str | torch.device = "cpu",
    alpha: float = 0.5,
    *,
    skip_bad_images: bool = False,
) -> list[Path]:
    """Write ``<name>.png`` and ``<name>_overlay.jpg`` for each image; returns the written files.

    ``<name>`` is the photo's stem, unique per photo (see `ghost_backbones.engine.outputs.output_names`).

    Args:
        model: an eval-mode segmentation model.
        images: the photos (read with their EXIF orientation applied).
        output_dir: created if missing; refused when it holds one of ``images`` or a file of an output's name
            (nothing is replaced).
        base_size: inference shorter side.
        device: where to run.
        alpha: overlay opacity.
        skip_bad_images: warn about unreadable images (with a count) and go on.

    Raises:
        DataError: an image cannot be read (the message names it and says what was written before it).

    Examples::

        >>> predict_paths(model, [Path("a.jpg")], "preds", base_size=520)  # doctest: +SKIP
        [PosixPath('preds/a.png'), PosixPath('preds/a_overlay.jpg')]
    """
    names = output_names(images, keep_suffix=False)
    out = prepare_output_dir(output_dir, inputs=images, outputs=_outputs(names))
    written = []
    readable = iter_images(images, skip_bad_images=skip_bad_images, results=str(out))
    for index, _, image in progress(readable, desc="predict", total=len(images)):
        mask = predict_mask(model, image, base_size, device)
        colorize(mask).save(out / f"{names[index]}.png")
        overlay(image, mask, alpha).save(out / f"{names[index]}_overlay.jpg", quality=90)
        written += [out / f"{names[index]}.png", out / f"{names[index]}_overlay.jpg"]
    return written


def _outputs(names: Sequence[str]) -> list[str]:
    """The files written for photos of output names ``names``: ``<name>.png`` and ``<name>_overlay.jpg`` each."""
    return [f"{name}{end}" for name in names for end in (".png", "_overlay.jpg")]


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Predict VOC-palette masks and overlays with a segmentation checkpoint",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--weights",
        required=True,
        help="checkpoint written by segmentation.train (best.pth), or an exported file "
        f"({', '.join(f.suffix for f in FORMATS)})",
    )
    p.add_argument("--input", required=True, help="an image file or a folder of images")
    p.add_argument(
        "--output-dir",
        required=True,
        help="where masks and overlays are written (not the input folder, nor one holding files of those names)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--base-size", type=int, help="inference shorter side (default: the checkpoint's data.base_size)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity of the class colours")
    p.add_argument("--skip-bad-images", action="store_true", help="warn about unreadable images (with a count), go on")
    return p


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Command-line entry point; returns the written files.

    Examples::

        >>> main(["--weights", "runs/dl3/best.pth", "--input", "photo.jpg", "--output-dir", "preds"])  # doctest: +SKIP
    """
    args = get_parser().parse_args(argv)
    device = resolve_device(args.device)
    images = list_images(args.input)
    outputs = _outputs(output_names(images, keep_suffix=False))
    prepare_output_dir(args.output_dir, inputs=images, outputs=outputs)  # before the model is loaded
    if is_exported(args.weights):
        model = load_exported(args.weights, "segmentation")
        recorded = model.base_size  # fixed in the exported graph
    else:
        model, cfg = load_segmenter(args.weights)
        model.to(device)
        recorded = cfg.data.base_size
    base_size = recorded if args.base_size is None else args.base_size
    written = predict_paths(
        model, images, args.output_dir, base_size, device, args.alpha, skip_bad_images=args.skip_bad_images
    )
    print(f"wrote {len(written) // 2} mask(s) and overlay(s) to {Path(args.output_dir).resolve()}")
    return written


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
