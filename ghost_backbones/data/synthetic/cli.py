"""Command line: ``python -m ghost_backbones.data.synthetic {coco,voc,voc-det,yolo} --output ROOT [options]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .coco import make_shapes_coco
from .scenes import AVAILABLE_SHAPES, SHAPE_CLASSES
from .voc import make_shapes_voc
from .voc_detection import VOC_DETECTION_YEARS, make_shapes_voc_detection
from .yolo import make_shapes_yolo

__all__ = ["main"]

_LAYOUTS = {"coco": "COCO", "voc": "VOC", "voc-det": "VOC detection", "yolo": "YOLO"}


def _parse_image_size(text: str) -> int | tuple[int, int]:
    """``"256"`` -> 256, ``"192,320"`` -> (192, 320)."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected SIDE or MIN,MAX (integers), got {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ghost_backbones.data.synthetic",
        description="Write a synthetic shapes dataset in the COCO (detection), Pascal VOC (segmentation), Pascal "
        "VOC detection or ultralytics YOLO (detection) layout.",
    )
    parser.add_argument("format", choices=tuple(_LAYOUTS), help="on-disk layout to write")
    parser.add_argument("--output", required=True, type=Path, help="dataset root (use it as --data-path)")
    parser.add_argument("--num-train", type=int, default=64, help="train images (default: 64)")
    parser.add_argument("--num-val", type=int, default=16, help="val images (default: 16)")
    parser.add_argument(
        "--image-size", type=_parse_image_size, default=256, help="SIDE or MIN,MAX side range (default: 256)"
    )
    parser.add_argument("--max-objects", type=int, default=4, help="most shapes per image (default: 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--classes", default=",".join(SHAPE_CLASSES), help=f"comma-separated names from {','.join(AVAILABLE_SHAPES)}"
    )
    parser.add_argument("--crowd", action="store_true", help="coco only: add iscrowd=1 regions")
    parser.add_argument(
        "--year", choices=VOC_DETECTION_YEARS, help="voc-det only: write VOCdevkit/VOC<year> (default: 2007)"
    )
    parser.add_argument(
        "--difficult-fraction", type=float, help="voc-det only: fraction of objects marked difficult (default: 0.1)"
    )
    parser.add_argument("--overwrite", action="store_true", help="regenerate over an existing dataset")
    return parser


def main(argv: Sequence[str] | None = None) -> Path:
    """Command line: ``python -m ghost_backbones.data.synthetic {coco,voc,voc-det,yolo} --output ROOT [options]``.

    Args:
        argv: arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The dataset root that was written.

    Examples::

        >>> import tempfile
        >>> out = f"{tempfile.mkdtemp()}/cli_coco"
        >>> root = main(["coco", "--output", out, "--num-train", "8", "--crowd"])  # doctest: +ELLIPSIS
        wrote shapes dataset in COCO layout (8 train + 16 val images) to .../cli_coco
        >>> args = ["voc-det", "--output", out, "--num-train", "4", "--num-val", "2", "--year", "2012"]
        >>> root = main(args)  # doctest: +ELLIPSIS
        wrote shapes dataset in VOC2012 detection layout (4 train + 2 val images) to .../cli_coco
        >>> root = main(["yolo", "--output", f"{out}/yolo", "--num-train", "4", "--num-val", "2"])  # doctest: +ELLIPSIS
        wrote shapes dataset in YOLO layout (4 train + 2 val images) to .../cli_coco/yolo
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.crowd and args.format != "coco":
        parser.error("--crowd applies to the coco format only")
    for option, value in (("--year", args.year), ("--difficult-fraction", args.difficult_fraction)):
        if value is not None and args.format != "voc-det":
            parser.error(f"{option} applies to the voc-det format only")
    options = {
        "num_train": args.num_train,
        "num_val": args.num_val,
        "image_size": args.image_size,
        "max_objects": args.max_objects,
        "seed": args.seed,
        "classes": tuple(name.strip() for name in args.classes.split(",")),
        "overwrite": args.overwrite,
        "progress": True,
    }
    if args.format == "voc-det":
        options["year"] = args.year or "2007"
        if args.difficult_fraction is not None:
            options["difficult_fraction"] = args.difficult_fraction
    make = {"coco": make_shapes_coco, "voc": make_shapes_voc, "voc-det": make_shapes_voc_detection,
            "yolo": make_shapes_yolo}[args.format]  # fmt: skip
    try:
        root = make(args.output, **options, **({"crowd": True} if args.crowd else {}))
    except (ValueError, FileExistsError, NotADirectoryError) as error:
        parser.error(str(error))
    layout = f"VOC{options['year']} detection" if args.format == "voc-det" else _LAYOUTS[args.format]
    print(f"wrote shapes dataset in {layout} layout ({args.num_train} train + {args.num_val} val images) to {root}")
    return root
