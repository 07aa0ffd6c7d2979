"""The export command both tasks share: ``python -m detection.export`` / ``python -m segmentation.export``.

A task's ``export.py`` only says how to turn its checkpoint into a `Deployable` (the whole-model graph, its
metadata, where its sample images are and how to score a model on its validation split); `export_main` writes the
file, checks it on sample images against the eager model (`ghost_backbones.export.check`) and, with ``--int8``,
quantizes it and prints the accuracy before and after. The output is first written under a temporary name and
moved into place only once it passed: a file that fails the check is never left at ``--output``, and an existing
file is never replaced.

Examples::

    python -m detection.export --weights runs/frcnn/best.pth --output frcnn.onnx
    python -m segmentation.export --weights runs/dl3/best.pth --output dl3.pt2 --format pt2
    python -m segmentation.export --weights runs/dl3/best.pth --output dl3_int8.onnx --int8 --calib-images photos/
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.transforms.v2.functional import pil_to_tensor

from ..data.images import list_images, read_rgb
from ..errors import ExportError
from .check import Outputs, check_outputs
from .formats import FORMATS, ExportFormat, GraphSpec, OutputCheck, write_model
from .quantize import DEFAULT_CONVS, QUANTIZE_CONVS

__all__ = ["Deployable", "ExportSpec", "export_main", "export_model"]

#: ``evaluate(run) -> metrics`` on the validation split, ``run`` being a model's image -> outputs function.
Evaluate = Callable[[Callable[[Tensor], Outputs]], dict[str, Any]]


@dataclass
class Deployable:
    """A trained model ready to export.

    Args:
        graph: the whole model (`DetectionGraph` / `SegmentationGraph`), eval mode.
        metadata: what the file records (task, architecture, categories, input size; JSON-able values).
        check_images: default sample images for the check (the checkpoint's validation split; may be empty).
        calib_images: default calibration images for ``--int8`` (its training split; may be empty).
        evaluate: scores a model on the validation split (``None``: the split is not on this machine).
        metric: the key of ``evaluate``'s result that is printed (``"mIoU"``, ``"AP"``).
        spec: the graph's inputs, outputs and check (``None``: the graph's own ``spec``).
    """

    graph: nn.Module
    metadata: dict[str, Any]
    check_images: list[Path] = field(default_factory=list)
    calib_images: list[Path] = field(default_factory=list)
    evaluate: Evaluate | None = None
    metric: str = ""
    spec: GraphSpec | None = None

    def __post_init__(self) -> None:
        self.spec = self.spec or getattr(self.graph, "spec", None)
        if not isinstance(self.spec, GraphSpec):
            raise TypeError(f"{type(self.graph).__name__} declares no GraphSpec (a `spec` property); pass spec=")


@dataclass(frozen=True)
class ExportSpec:
    """A task's export: its name and ``load(weights) -> Deployable``."""

    task: str
    load: Callable[[Path], Deployable]


def _as_input(image: Tensor, batched: bool, dtype: str) -> Tensor:
    """A uint8 ``(3, H, W)`` image as the graph's input: ``(1, 3, H, W)`` for a graph taking batches."""
    image = image[None] if batched else image
    return image if dtype == "uint8" else image.float()


def sample_images(
    folder: str | None, defaults: list[Path], count: int, *, batched: bool, dtype: str, side: int, seed: int = 0
) -> list[tuple[str, Tensor]]:
    """``count`` named graph inputs: from ``folder``, else the first ``defaults``, else random images near ``side``."""
    paths = list_images(folder) if folder else defaults
    if paths:
        chosen = paths[:count]
        return [(str(p), _as_input(pil_to_tensor(read_rgb(p)), batched, dtype))
                for p in chosen]  # fmt: skip
    generator = torch.Generator().manual_seed(seed)
    shapes = [(side, side * 5 // 4), (side * 5 // 4, side), (side + 7, side + 13)]
    images = []
    for i in range(count):
        height, width = shapes[i % len(shapes)]
        image = torch.randint(0, 256, (3, height, width), generator=generator, dtype=torch.uint8)
        images.append((f"random image {i} ({height}x{width})", _as_input(image, batched, dtype)))
    return images


def resized_variant(name: str, image: Tensor) -> tuple[str, Tensor]:
    """``image`` at another size (and, for a batch, as a batch of two, the second flipped): the check proves the
    exported file follows the input's size, not the size it was traced with."""
    batched = image.dim() == 4
    x = image.float() if batched else image.float()[None]
    height, width = x.shape[-2:]
    x = torch.nn.functional.interpolate(x, size=(height * 5 // 4 + 3, width * 3 // 4 + 5), mode="bilinear")
    x = torch.cat([x, x.flip(-1)]) if batched else x[0]
    x = x.round().clamp(0, 255).to(image.dtype)
    return f"{name} resized to {x.shape[-2]}x{x.shape[-1]}" + (" (batch of 2)" if batched else ""), x


def eager_runner(graph: nn.Module) -> Callable[[Tensor], Outputs]:
    """``image -> output arrays`` of the eager graph."""

    def run(image: Tensor) -> Outputs:
        with torch.no_grad():
            out = graph(image)
        return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]

    return run


def file_runner(path: Path, fmt: str, *, threads: int | None = None) -> Callable[[Tensor], Outputs]:
    """``image -> output arrays`` of an exported file in format ``fmt``, run as its users run it."""
    return FORMATS.get(fmt).load(path, threads=threads).run


def _refuse_existing(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise FileExistsError(f"{path} already exists; refusing to overwrite it (choose another --output)")


def _side(meta: dict[str, Any]) -> int:
    size = meta.get("input_size", {})
    side = size.get("base_size") or size.get("min_size") or (size.get("fixed_size") or [224])[0]
    return int(min(max(side, 32), 512))


def export_model(deployable: Deployable, output: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Write, check and (``--int8``) quantize ``deployable`` to ``output``; returns the report printed."""
    return _export(deployable, output, args)[0]


def _export(deployable: Deployable, output: Path, args: argparse.Namespace) -> tuple[dict[str, Any], OutputCheck]:
    """`export_model`'s report and the check that ran (what it says of the agreement)."""
    spec, fmt = deployable.spec, FORMATS.get(args.format)
    meta = {**deployable.metadata, "format": fmt.name, "input_dtype": args.input_dtype, "outputs": list(spec.outputs)}
    checks = sample_images(args.check_images, deployable.check_images, args.num_check_images, batched=spec.batched,
                           dtype=args.input_dtype, side=_side(meta))  # fmt: skip
    checks.append(resized_variant(*checks[0]))
    check = spec.check()
    report: dict[str, Any] = {"output": str(output), "format": fmt.name}
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.") as tmp:
        fp32 = Path(tmp) / f"model{output.suffix or fmt.suffix}"
        write_model(deployable.graph, checks[0][1], fp32, fmt=fmt.name, spec=spec, meta=meta)
        reference = eager_runner(deployable.graph)
        try:
            report["check"] = check_outputs(check, reference, file_runner(fp32, fmt.name), checks, what=str(output))
        except ExportError as e:
            raise ExportError(f"{e}{_divergent_layer(deployable.graph, fp32, fmt, checks)}") from e
        final = fp32
        if args.int8:
            final = Path(tmp) / f"model_int8{fmt.suffix}"
            calib = sample_images(args.calib_images, deployable.calib_images, args.num_calib_images,
                                  batched=spec.batched, dtype=args.input_dtype, side=_side(meta), seed=1)  # fmt: skip
            images = (x.numpy() for _, x in calib)
            report["quantization"] = fmt.quantize(fp32, final, images, convs=args.int8_convs or DEFAULT_CONVS,
                                                  graph=deployable.graph)  # fmt: skip
            report["accuracy"] = _accuracy(deployable, fmt, fp32, final, checks)
        _refuse_existing(*fmt.files(output))
        for written, target in zip(fmt.files(final), fmt.files(output)):
            os.replace(written, target)
    if args.int8:
        accuracy_file = output.with_name(f"{output.stem}.accuracy.json")
        accuracy_file.write_text(json.dumps(report["accuracy"], indent=2) + "\n")
        report["accuracy_file"] = str(accuracy_file)
    return report, check


def _divergent_layer(graph: nn.Module, path: Path, fmt: ExportFormat, checks: list[tuple[str, Tensor]]) -> str:
    """``"; first layer that differs ..."`` for a failed check of a format that can locate it (on the first check
    image that shows one)."""
    if fmt.locate is None:
        return ""
    for name, image in checks:
        try:
            found = fmt.locate(graph, path, image)
        except Exception:  # locating is a courtesy: the check's own error stands
            return ""
        if found:
            return f"; first layer that differs (on {name}): {found}"
    return "; every layer's output agrees, so the difference is in the post-processing"


def _accuracy(
    deployable: Deployable, fmt: ExportFormat, fp32: Path, int8: Path, checks: list[tuple[str, Tensor]]
) -> dict[str, Any]:
    """The validation metric of the float and the INT8 model (when the split is here) and their agreement."""
    runs = {"fp32": file_runner(fp32, fmt.name), "int8": file_runner(int8, fmt.name)}
    result: dict[str, Any] = {}
    if deployable.evaluate is not None:
        for name, run in runs.items():
            metrics = deployable.evaluate(run)
            result[name] = {deployable.metric: metrics[deployable.metric], "images": metrics.get("images")}
        result["metric"] = deployable.metric
        result["change"] = result["int8"][deployable.metric] - result["fp32"][deployable.metric]
    result.update(deployable.spec.check().int8_agreement(runs["fp32"], runs["int8"], checks))
    return result


def build_parser(task: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=f"Export a trained {task} model whole (pre- and post-processing included) and check it"
    )
    p.add_argument("--weights", required=True, help=f"checkpoint written by {task}.train (best.pth)")
    p.add_argument("--output", required=True, help="the file to write (never replaced if it exists)")
    p.add_argument("--format", default="onnx", help=f"one of {FORMATS.names()} (default: onnx)")
    p.add_argument("--input-dtype", default="uint8", help="the graph's input type: uint8 or float32 (0-255)")
    p.add_argument("--check-images", help="folder of images to check the export on (default: the validation split)")
    p.add_argument("--num-check-images", type=int, default=4, help="images the export is checked on")
    quantizable = [f.name for f in FORMATS if f.can_quantize]
    p.add_argument("--int8", action="store_true", help=f"quantize to INT8 ({quantizable}) and measure the change")
    p.add_argument("--calib-images", help="folder of calibration images for --int8 (default: the training split)")
    p.add_argument("--num-calib-images", type=int, default=200, help="calibration images used by --int8")
    p.add_argument(
        "--int8-convs",
        help=f"convolutions --int8 quantizes, one of {list(QUANTIZE_CONVS)} (default: {DEFAULT_CONVS}): heavy (the "
        "dense ones INT8 speeds up on x86 without VNNI) or all (to try on VNNI / ARM CPUs)",
    )
    return p


def _check_args(args: argparse.Namespace) -> Path:
    if args.format not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS.names()}, got {args.format!r}")
    fmt = FORMATS.get(args.format)
    if args.input_dtype not in ("uint8", "float32"):
        raise ValueError(f"--input-dtype must be uint8 or float32, got {args.input_dtype!r}")
    if args.int8_convs is not None and args.int8_convs not in QUANTIZE_CONVS:
        raise ValueError(f"--int8-convs must be one of {list(QUANTIZE_CONVS)}, got {args.int8_convs!r}")
    if args.int8_convs is not None and not args.int8:
        raise ValueError("--int8-convs chooses what --int8 quantizes; add --int8 (or leave --int8-convs out)")
    if args.int8 and not fmt.can_quantize:
        quantizable = [f for f in FORMATS if f.can_quantize]
        titles, flags = (" or ".join(x) for x in zip(*((f.title, f"--format {f.name}") for f in quantizable)))
        raise ValueError(f"--int8 quantizes {titles} models; it needs {flags}, got --format {args.format}")
    if args.int8_convs is not None and not fmt.selects_convs:
        choosers = " or ".join(f"--format {f.name}" for f in FORMATS if f.selects_convs)
        raise ValueError(f"--int8-convs chooses the convolutions of {choosers}; {fmt.title} quantizes what its "
                         "quantizer supports (leave --int8-convs out)")  # fmt: skip
    if args.num_check_images < 1 or args.num_calib_images < 1:
        raise ValueError(
            f"--num-check-images and --num-calib-images must be >= 1, got {args.num_check_images}, "
            f"{args.num_calib_images}"
        )
    for flag in ("check_images", "calib_images"):
        folder = getattr(args, flag)
        if folder and not Path(folder).is_dir():
            raise FileNotFoundError(f"--{flag.replace('_', '-')}: folder not found: {folder}")
    weights, output = Path(args.weights), Path(args.output)
    if not weights.is_file():
        raise FileNotFoundError(f"--weights: checkpoint not found: {weights}")
    other = FORMATS.for_path(output)
    if other is not None and other is not fmt:
        raise ValueError(f"--output {output} is a {other.title} file name; --format {fmt.name} writes {fmt.suffix}")
    _refuse_existing(*fmt.files(output))
    fmt.require()
    if args.int8:
        _refuse_existing(output.with_name(f"{output.stem}.accuracy.json"))
    if not output.parent.is_dir():
        raise FileNotFoundError(f"--output: folder not found: {output.parent}")
    return output


def export_main(spec: ExportSpec, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line of ``<task>.export``: parse, load the checkpoint, export, check, print; returns the report."""
    args = build_parser(spec.task).parse_args(argv)
    output = _check_args(args)
    deployable = spec.load(Path(args.weights))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        report, check = _export(deployable, output, args)
    images = report["check"]["images"]
    print(f"wrote {output} ({args.format}); checked against the eager model on {images} image(s): {check.said()}")
    if check.warning():
        warnings.warn(check.warning(), UserWarning, stacklevel=2)
    if args.int8:
        accuracy = report["accuracy"]
        if "metric" in accuracy:
            metric = accuracy["metric"]
            print(f"INT8 {metric}: {accuracy['int8'][metric]:.2f} (fp32 {accuracy['fp32'][metric]:.2f}, "
                  f"change {accuracy['change']:+.2f}) on {accuracy['fp32']['images']} validation image(s)")  # fmt: skip
        else:
            print("INT8 accuracy not measured: the validation split of the checkpoint's recipe is not on this machine")
        if "pixel_agreement_with_fp32" in accuracy:
            print(f"INT8 vs fp32 on the check images: {accuracy['pixel_agreement_with_fp32']:.2%} of the pixels agree")
        print(f"accuracy written to {report['accuracy_file']}")
    return report
