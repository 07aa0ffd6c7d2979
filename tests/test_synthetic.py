"""Synthetic shapes datasets: real COCO / VOC formats, geometry consistency, determinism, CLI and input checks.

The VOC detection layout has its own file, ``test_synthetic_voc_detection.py``.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from ghost_backbones.data.palette import voc_palette
from ghost_backbones.data.synthetic import (
    AVAILABLE_SHAPES,
    SHAPE_CATEGORY_IDS,
    SHAPE_CLASSES,
    main,
    make_shapes_coco,
    make_shapes_voc,
    make_shapes_voc_detection,
)
from ghost_backbones.data.synthetic.scenes import place, rasterise, shape_outline

SPLITS = ("train", "val")
TINY = {"num_train": 3, "num_val": 2, "image_size": (48, 80)}


def _load(coco_root: Path, split: str) -> COCO:
    return COCO(str(coco_root / "annotations" / f"instances_{split}2017.json"))


def _voc_split(voc_root: Path, split: str) -> list[str]:
    return (voc_root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------------------------------------- COCO


@pytest.mark.parametrize("split", SPLITS)
def test_coco_json_is_valid_and_images_match(coco_root: Path, split: str) -> None:
    coco = _load(coco_root, split)
    expected_count = {"train": 12, "val": 6}[split]
    assert len(coco.getImgIds()) == expected_count
    assert coco.getCatIds() == [1, 3, 7]  # deliberately not contiguous
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(SHAPE_CLASSES)
    assert all(c["supercategory"] == "shape" for c in coco.loadCats(coco.getCatIds()))
    for info in coco.loadImgs(coco.getImgIds()):
        with Image.open(coco_root / f"{split}2017" / info["file_name"]) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert image.size == (info["width"], info["height"])
            assert 112 <= info["width"] <= 160 and 112 <= info["height"] <= 160
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert ann["category_id"] in {1, 3, 7}
        assert ann["iscrowd"] in (0, 1)
        assert all(isinstance(v, float) for v in ann["bbox"]) and isinstance(ann["area"], float)


@pytest.mark.parametrize("split", SPLITS)
def test_coco_boxes_inside_images_and_match_masks(coco_root: Path, split: str) -> None:
    coco = _load(coco_root, split)
    anns = coco.loadAnns(coco.getAnnIds())
    assert anns
    for ann in anns:
        info = coco.imgs[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert x + w <= info["width"] and y + h <= info["height"]
        mask = coco.annToMask(ann).astype(bool)
        rows, cols = np.nonzero(mask)
        tight = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        if ann["iscrowd"]:  # RLE region: bbox and area are exactly the decoded mask's
            assert (x, y, x + w, y + h) == tight and ann["area"] == mask.sum()
        else:  # polygon: bbox from the vertices, within a sub-pixel sliver of the rasterised mask
            assert np.allclose((x, y, x + w, y + h), tight, atol=2.0)
            assert abs(ann["area"] - mask.sum()) <= 0.03 * ann["area"] + 2
            assert len(ann["segmentation"]) == 1 and len(ann["segmentation"][0]) >= 6
            side = min(info["width"], info["height"])
            assert 0.1 * side <= max(w, h) <= 0.7 * side


@pytest.mark.parametrize("shape", AVAILABLE_SHAPES)
def test_pixels_follow_pycocotools_polygon_convention(shape: str) -> None:
    # image, VOC mask and COCO area all come from rasterise: it must agree with pycocotools' decoding of the polygon
    # (a half-pixel shift of the pixel-centre convention gives 6-15% mismatch; the right one about 1%)
    rng, mismatched, total = np.random.default_rng(0), 0, 0
    for _ in range(40):
        polygon = place(shape_outline(shape, rng.uniform(8, 40), rng), (80, 64), rng)
        ours = rasterise(polygon, (80, 64))
        rle = coco_mask.frPyObjects([[c for point in polygon for c in point]], 64, 80)
        reference = coco_mask.decode(rle)[:, :, 0].astype(bool)
        mismatched, total = mismatched + (ours ^ reference).sum(), total + reference.sum()
    assert mismatched / total < 0.03


def test_coco_ids_unique_and_val_has_empty_and_crowd_images(coco_root: Path) -> None:
    train, val = _load(coco_root, "train"), _load(coco_root, "val")
    image_ids = train.getImgIds() + val.getImgIds()
    ann_ids = train.getAnnIds() + val.getAnnIds()
    assert len(set(image_ids)) == len(image_ids) and len(set(ann_ids)) == len(ann_ids)
    empty = [i for i in val.getImgIds() if not val.getAnnIds(imgIds=i)]
    assert len(empty) == 1  # max(1, 6 // 8)
    assert all(train.getAnnIds(imgIds=i) for i in train.getImgIds())
    crowd = [a for a in train.loadAnns(train.getAnnIds()) if a["iscrowd"]]
    assert len(crowd) == 3  # fixture uses crowd=True: train images 0, 4, 8
    assert all(isinstance(a["segmentation"]["counts"], list) for a in crowd)  # uncompressed RLE, like COCO
    decoded = coco_mask.decode(coco_mask.frPyObjects(crowd[0]["segmentation"], *crowd[0]["segmentation"]["size"]))
    assert decoded.sum() == crowd[0]["area"]


@pytest.mark.parametrize("classes", [("triangle", "circle"), ("square", "star"), AVAILABLE_SHAPES])
def test_coco_classes_keep_their_fixed_ids(tmp_path: Path, classes: tuple[str, ...]) -> None:
    root = make_shapes_coco(tmp_path, classes=classes, num_train=4, num_val=2, image_size=64, num_empty_val=0)
    coco = _load(root, "train")
    assert [c["id"] for c in coco.dataset["categories"]] == [SHAPE_CATEGORY_IDS[n] for n in classes]
    used = {a["category_id"] for a in coco.loadAnns(coco.getAnnIds())}
    assert used <= {SHAPE_CATEGORY_IDS[n] for n in classes}
    assert not any(a["iscrowd"] for a in coco.loadAnns(coco.getAnnIds()))  # crowd is off by default


def test_coco_loads_in_torchvision(coco_root: Path) -> None:
    from torchvision.datasets import CocoDetection

    dataset = CocoDetection(str(coco_root / "val2017"), str(coco_root / "annotations" / "instances_val2017.json"))
    image, target = dataset[0]
    info = dataset.coco.imgs[dataset.ids[0]]
    assert len(dataset) == 6 and image.size == (info["width"], info["height"])
    assert all(t["image_id"] == dataset.ids[0] for t in target)


# ------------------------------------------------------------------------------------------------------------ VOC


def test_voc_palette_is_the_standard_colour_map() -> None:
    palette = voc_palette()
    assert len(palette) == 768 and all(0 <= v <= 255 for v in palette)
    colours = [tuple(palette[3 * i : 3 * i + 3]) for i in range(256)]
    assert colours[0] == (0, 0, 0) and colours[1] == (128, 0, 0) and colours[2] == (0, 128, 0)
    assert colours[3] == (128, 128, 0) and colours[15] == (192, 128, 128)  # 15: person
    assert colours[255] == (224, 224, 192)  # void
    assert len(set(colours)) == 256


@pytest.mark.parametrize("split", ("train", "val", "trainval"))
def test_voc_splits_list_existing_pairs_of_equal_size(voc_root: Path, split: str) -> None:
    names = _voc_split(voc_root, split)
    assert len(names) == {"train": 12, "val": 6, "trainval": 18}[split] and len(set(names)) == len(names)
    base = voc_root / "VOCdevkit" / "VOC2012"
    for name in names:
        with (
            Image.open(base / "JPEGImages" / f"{name}.jpg") as image,
            Image.open(base / "SegmentationClass" / f"{name}.png") as mask,
        ):
            assert image.mode == "RGB" and mask.mode == "P" and image.size == mask.size
            assert mask.getpalette()[:768] == voc_palette()
            values = set(np.unique(np.asarray(mask)).tolist())
            assert values <= {0, 1, 2, 3, 255} and 255 in values and values & {1, 2, 3}


def test_voc_train_and_val_are_disjoint(voc_root: Path) -> None:
    train, val = _voc_split(voc_root, "train"), _voc_split(voc_root, "val")
    assert not set(train) & set(val)
    assert _voc_split(voc_root, "trainval") == train + val


def test_voc_void_separates_every_class_region(voc_root: Path) -> None:
    for name in _voc_split(voc_root, "trainval"):
        label = np.asarray(Image.open(voc_root / "VOCdevkit" / "VOC2012" / "SegmentationClass" / f"{name}.png"))
        for a, b in ((label[1:], label[:-1]), (label[:, 1:], label[:, :-1])):
            touching = (a != b) & (a != 255) & (b != 255)
            assert not touching.any(), f"{name}: class pixels touch another label without a void band"


def test_voc_objects_are_visible_in_the_image(voc_root: Path) -> None:
    base = voc_root / "VOCdevkit" / "VOC2012"
    for name in _voc_split(voc_root, "val"):
        image = np.asarray(Image.open(base / "JPEGImages" / f"{name}.jpg"), dtype=np.float32)
        label = np.asarray(Image.open(base / "SegmentationClass" / f"{name}.png"))
        inside, outside = image[(label > 0) & (label < 255)], image[label == 0]
        assert np.abs(inside.mean(0) - outside.mean(0)).max() > 25  # shapes are darker / more saturated


def test_voc_loads_in_torchvision(voc_root: Path) -> None:
    from torchvision.datasets import VOCSegmentation

    dataset = VOCSegmentation(str(voc_root), year="2012", image_set="train")
    image, mask = dataset[0]
    assert len(dataset) == 12 and mask.mode == "P" and image.size == mask.size


# ------------------------------------------------------------------------------------------ determinism and sizes


@pytest.mark.parametrize("make", [make_shapes_coco, make_shapes_voc, make_shapes_voc_detection])
def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, make) -> None:
    first, again, other = (make(tmp_path / n, seed=s, **TINY) for n, s in (("a", 3), ("b", 3), ("c", 4)))
    reference = _tree_bytes(first)
    assert reference == _tree_bytes(again)
    differing = _tree_bytes(other)
    assert differing.keys() == reference.keys() and differing != reference


def test_train_images_do_not_depend_on_num_val(tmp_path: Path) -> None:
    small = make_shapes_voc(tmp_path / "a", **{**TINY, "num_val": 1})
    large = make_shapes_voc(tmp_path / "b", **{**TINY, "num_val": 4})
    images = Path("VOCdevkit/VOC2012/JPEGImages")
    for name in _voc_split(small, "train"):
        assert (small / images / f"{name}.jpg").read_bytes() == (large / images / f"{name}.jpg").read_bytes()


@pytest.mark.parametrize("image_size, expected", [(64, {(64, 64)}), ((64, 64), {(64, 64)}), ((40, 90), None)])
def test_image_size_fixed_or_range(tmp_path: Path, image_size, expected) -> None:
    root = make_shapes_coco(tmp_path, num_train=8, num_val=1, image_size=image_size)
    sizes = {(i["width"], i["height"]) for i in _load(root, "train").dataset["images"]}
    if expected is not None:
        assert sizes == expected
    else:
        assert all(40 <= s <= 90 for size in sizes for s in size)
        assert len(sizes) > 1 and any(w != h for w, h in sizes)  # varied sizes and aspect ratios


def test_max_objects_bounds_annotations(tmp_path: Path) -> None:
    root = make_shapes_coco(tmp_path, num_train=10, num_val=1, image_size=96, max_objects=2)
    coco = _load(root, "train")
    counts = [len(coco.getAnnIds(imgIds=i)) for i in coco.getImgIds()]
    assert min(counts) >= 1 and max(counts) <= 2


def test_overwrite(tmp_path: Path) -> None:
    make_shapes_coco(tmp_path, **TINY)
    with pytest.raises(FileExistsError, match=r"instances_train2017\.json already exists; pass overwrite=True"):
        make_shapes_coco(tmp_path, **TINY)
    make_shapes_coco(tmp_path, **{**TINY, "num_train": 5}, overwrite=True)
    assert len(_load(tmp_path, "train").getImgIds()) == 5
    make_shapes_voc(tmp_path / "voc", **TINY)
    with pytest.raises(FileExistsError, match=r"train\.txt already exists"):
        make_shapes_voc(tmp_path / "voc", **TINY)


# -------------------------------------------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_train": 0}, r"num_train must be an integer >= 1, got 0"),
        ({"num_val": -2}, r"num_val must be an integer >= 1, got -2"),
        ({"num_train": 2.5}, r"num_train must be an integer >= 1, got 2\.5"),
        ({"max_objects": 0}, r"max_objects must be an integer >= 1, got 0"),
        ({"seed": -1}, r"seed must be an integer >= 0, got -1"),
        ({"image_size": 16}, r"image_size must be an int >= 32 or a \(min, max\) pair .* got 16"),
        ({"image_size": (100, 50)}, r"image_size must be .* got \(100, 50\)"),
        ({"image_size": (64, 64, 64)}, r"image_size must be .* got \(64, 64, 64\)"),
        ({"image_size": "64"}, r"image_size must be .* got '64'"),
        ({"image_size": None}, r"image_size must be .* got None"),
        ({"classes": ("circle", "hexagon")}, r"classes must be distinct names from .* \(unknown: \['hexagon'\]\)"),
        ({"classes": ()}, r"classes must be distinct names from .* got \(\)"),
        ({"classes": ("circle", "circle")}, r"classes must be distinct names .* got \('circle', 'circle'\)"),
    ],
)
@pytest.mark.parametrize("make", [make_shapes_coco, make_shapes_voc, make_shapes_voc_detection])
def test_bad_arguments_raise(tmp_path: Path, make, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())  # nothing written before the checks


@pytest.mark.parametrize("num_empty_val, match", [(2, r"num_empty_val must be < num_val \(2\), got 2"), (-1, ">= 0")])
def test_bad_num_empty_val(tmp_path: Path, num_empty_val: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_shapes_coco(tmp_path, num_val=2, num_empty_val=num_empty_val)


@pytest.mark.parametrize("make", [make_shapes_coco, make_shapes_voc, make_shapes_voc_detection])
def test_root_that_is_a_file_raises(tmp_path: Path, make) -> None:
    target = tmp_path / "data.txt"
    target.write_text("not a directory")
    with pytest.raises(NotADirectoryError, match=r"output root .*data\.txt exists and is not a directory"):
        make(target, **TINY)


# ---------------------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    "fmt, check, layout",
    [
        ("coco", "annotations/instances_val2017.json", "COCO"),
        ("voc", "VOCdevkit/VOC2012/SegmentationClass", "VOC"),
        ("voc-det", "VOCdevkit/VOC2007/Annotations", "VOC2007 detection"),
    ],
)
def test_cli_writes_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture, fmt: str, check: str, layout: str
) -> None:
    args = [fmt, "--output", str(tmp_path / fmt), "--num-train", "2", "--num-val", "2", "--image-size", "48,64"]
    root = main([*args, "--seed", "5", "--classes", "square,star"])
    assert root == tmp_path / fmt and (root / check).exists()
    assert f"wrote shapes dataset in {layout} layout (2 train + 2 val images) to {root}" in capsys.readouterr().out


@pytest.mark.slow  # a subprocess or a profiler run: ~10 s on our 2-core machines
def test_cli_as_module(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "ghost_backbones.data.synthetic", "coco", "--output", str(tmp_path)]
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [*command, "--num-train", "2", "--num-val", "1", "--crowd"], capture_output=True, text=True, cwd=repo
    )
    assert done.returncode == 0, done.stderr
    assert f"to {tmp_path}" in done.stdout
    data = json.loads((tmp_path / "annotations" / "instances_train2017.json").read_text())
    assert len(data["images"]) == 2 and any(a["iscrowd"] for a in data["annotations"])


@pytest.mark.parametrize(
    "extra, match",
    [
        (["voc", "--crowd"], "--crowd applies to the coco format only"),
        (["coco", "--image-size", "a,b"], r"expected SIDE or MIN,MAX \(integers\), got 'a,b'"),
        (["coco", "--num-train", "0"], "num_train must be an integer >= 1, got 0"),
        (["voc", "--classes", "circle,blob"], r"unknown: \['blob'\]"),
    ],
)
def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], match: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*extra, "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert re.search(match, capsys.readouterr().err)
