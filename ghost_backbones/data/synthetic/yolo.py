"""Shapes detection dataset in the ultralytics YOLO layout (txt labels, ``data.yaml``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml
from tqdm import tqdm

from .checks import SceneOptions, check_options, prepare_output
from .scenes import SHAPE_CLASSES, Scene, draw_scene, image_rng

__all__ = ["make_shapes_yolo", "yolo_label_lines"]

_SPLITS = ("train", "val")


def yolo_label_lines(scene: Scene) -> str:
    """The label file of a scene: one ``class cx cy w h`` line per shape (the tight box of its full polygon, as
    fractions of the image width / height, 6 decimals); empty for an image without objects.

    Examples::

        >>> scene = draw_scene(image_rng(0, "yolo", "train", 0), (64, 64), SHAPE_CLASSES, 2)
        >>> print(yolo_label_lines(scene), end="")
        2 0.245547 0.487891 0.366406 0.356094
    """
    width, height = scene.size
    lines = []
    for shape in scene.shapes:
        xs, ys = [x for x, _ in shape.polygon], [y for _, y in shape.polygon]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        values = ((x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height)
        lines.append(f"{shape.class_index} " + " ".join(f"{v:.6f}" for v in values) + "\n")
    return "".join(lines)


def _write_split(root: Path, split: str, options: SceneOptions, num_empty: int, first: int, bar: tqdm) -> None:
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    count = options.num_train if split == "train" else options.num_val
    for index in range(count):
        empty = index >= count - num_empty
        rng = image_rng(options.seed, "yolo", split, index)
        scene = draw_scene(rng, options.size_range, options.classes, 0 if empty else options.max_objects)
        stem = f"{first + index:06d}"
        if index % 4 == 3:  # a real dataset mixes formats: every 4th image is a PNG
            scene.image.save(images / f"{stem}.png")
        else:
            scene.image.save(images / f"{stem}.jpg", quality=92)
        (labels / f"{stem}.txt").write_text(yolo_label_lines(scene))
        bar.update()


def make_shapes_yolo(
    root: str | Path,
    *,
    num_train: int = 64,
    num_val: int = 16,
    image_size: int | Sequence[int] = (256, 256),
    max_objects: int = 4,
    seed: int = 0,
    classes: Sequence[str] = SHAPE_CLASSES,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write a shapes detection dataset in the ultralytics YOLO layout.

    Files: ``root/data.yaml`` (``train: images/train``, ``val: images/val``, ``names: {0: circle, ...}``; no
    ``path``, so the dataset can move), ``root/images/{train,val}/<id>.jpg`` (every 4th a ``.png``) and
    ``root/labels/{train,val}/<id>.txt``. Ids run ``000001 ...`` from train to val. The scenes are those of
    ``make_shapes_coco``; class ``k`` is ``classes[k]``. The last val image holds no object (an empty label file)
    when ``num_val > 1``.

    Args:
        root: output directory (created if missing).
        num_train: number of train images (>= 1).
        num_val: number of val images (>= 1).
        image_size: side of square images, or a ``(min, max)`` range from which width and height are drawn
            independently. Sides must be >= 32.
        max_objects: most shapes per image (>= 1).
        seed: non-negative seed; the same seed gives the same files.
        classes: shapes to draw, names from ``AVAILABLE_SHAPES``.
        overwrite: regenerate over an existing dataset instead of raising ``FileExistsError``.
        progress: show a tqdm progress bar.

    Returns:
        ``root`` as a ``Path`` (pass it as ``--data-path`` with ``data.format=yolo``).

    Examples::

        >>> import tempfile
        >>> root = make_shapes_yolo(f"{tempfile.mkdtemp()}/shapes_yolo", num_train=4, num_val=2, image_size=64)
        >>> print((root / "data.yaml").read_text(), end="")
        names:
          0: circle
          1: square
          2: triangle
        train: images/train
        val: images/val
        >>> sorted(p.name for p in (root / "images" / "val").iterdir()), (root / "labels/val/000006.txt").read_text()
        (['000005.jpg', '000006.jpg'], '')
    """
    options = check_options(
        num_train=num_train, num_val=num_val, image_size=image_size, max_objects=max_objects, seed=seed, classes=classes
    )
    root = Path(root)
    prepare_output(root, [root / "data.yaml"], overwrite)
    root.mkdir(parents=True, exist_ok=True)
    num_empty = {"train": 0, "val": int(options.num_val > 1)}
    with tqdm(total=options.num_train + options.num_val, desc="shapes (YOLO)", unit="img", disable=not progress) as bar:
        for split in _SPLITS:
            _write_split(root, split, options, num_empty[split], 1 + options.num_train * (split == "val"), bar)
    spec = {"names": dict(enumerate(options.classes)), "train": "images/train", "val": "images/val"}
    (root / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root
