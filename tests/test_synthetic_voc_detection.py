"""Synthetic shapes in the Pascal VOC detection layout: devkit XML, boxes vs drawn shapes, difficult flags, split
files, VOC2007 + VOC2012 in one VOCdevkit, torchvision loading, input checks and the ``voc-det`` command line."""

import io
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ghost_backbones.data.synthetic import SHAPE_CLASSES, main, make_shapes_voc_detection
from ghost_backbones.data.synthetic.scenes import draw_scene, image_rng

TINY = {"num_train": 3, "num_val": 2, "image_size": (48, 80)}
VOCDET = {"num_train": 8, "num_val": 4, "image_size": (64, 112), "max_objects": 4, "seed": 2}
OBJECT_TAGS = ["name", "pose", "truncated", "difficult", "bndbox"]


@pytest.fixture(scope="module")
def vocdet_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VOC2007 (8 + 4 images) and VOC2012 (same seed, difficult_fraction 0.25) in one VOCdevkit ("07+12")."""
    root = make_shapes_voc_detection(tmp_path_factory.mktemp("shapes_vocdet"), **VOCDET)
    return make_shapes_voc_detection(root, **VOCDET, year="2012", difficult_fraction=0.25)


def _main_split(root: Path, year: str, split: str) -> list[str]:
    return (root / "VOCdevkit" / f"VOC{year}" / "ImageSets" / "Main" / f"{split}.txt").read_text().split()


def _parse(root: Path, year: str, image_id: str) -> tuple[ET.Element, list[dict]]:
    """The XML root and its objects as dicts: name, difficult, box (xmin, ymin, xmax, ymax)."""
    annotation = ET.parse(root / "VOCdevkit" / f"VOC{year}" / "Annotations" / f"{image_id}.xml").getroot()
    objects = []
    for obj in annotation.findall("object"):
        assert [child.tag for child in obj] == OBJECT_TAGS
        box = tuple(int(obj.findtext(f"bndbox/{tag}")) for tag in ("xmin", "ymin", "xmax", "ymax"))
        objects.append({"name": obj.findtext("name"), "difficult": int(obj.findtext("difficult")), "box": box})
    return annotation, objects


@pytest.mark.parametrize("year", ["2007", "2012"])
def test_vocdet_xml_is_the_devkit_format(vocdet_root: Path, year: str) -> None:
    ids = _main_split(vocdet_root, year, "trainval")
    assert all(re.fullmatch(r"\d{6}" if year == "2007" else r"2012_\d{6}", i) for i in ids)
    for image_id in ids:
        path = vocdet_root / "VOCdevkit" / f"VOC{year}" / "Annotations" / f"{image_id}.xml"
        assert path.read_text().startswith(f"<annotation>\n\t<folder>VOC{year}</folder>\n\t<filename>{image_id}.jpg<")
        annotation, objects = _parse(vocdet_root, year, image_id)
        tags = [child.tag for child in annotation]
        assert tags[:5] == ["folder", "filename", "source", "size", "segmented"] and set(tags[5:]) == {"object"}
        assert annotation.findtext("segmented") == "0" and annotation.findtext("size/depth") == "3"
        width, height = int(annotation.findtext("size/width")), int(annotation.findtext("size/height"))
        with Image.open(path.parents[1] / "JPEGImages" / annotation.findtext("filename")) as image:
            assert image.size == (width, height) and image.mode == "RGB" and 64 <= min(image.size)
        assert 1 <= len(objects) <= 4
        assert {obj.findtext("pose") for obj in annotation.iter("object")} == {"Unspecified"}
        assert {obj.findtext("truncated") for obj in annotation.iter("object")} == {"0"}
        for obj in objects:
            xmin, ymin, xmax, ymax = obj["box"]
            assert obj["name"] in SHAPE_CLASSES and obj["difficult"] in (0, 1)
            assert 1 <= xmin < xmax <= width and 1 <= ymin < ymax <= height  # 1-based inclusive, inside the image
            assert 0.1 * min(width, height) <= max(xmax - xmin + 1, ymax - ymin + 1) <= 0.7 * min(width, height)


@pytest.mark.parametrize("year, fraction", [("2007", 0.1), ("2012", 0.25)])
def test_vocdet_boxes_match_the_drawn_objects(vocdet_root: Path, year: str, fraction: float) -> None:
    for split, offset in (("train", 0), ("val", VOCDET["num_train"])):
        areas, difficult = [], []
        for index, image_id in enumerate(_main_split(vocdet_root, year, split)):
            assert int(image_id[-6:]) == offset + index + 1
            scene = draw_scene(image_rng(2, f"voc{year}-det", split, index), (64, 112), SHAPE_CLASSES, 4)
            encoded = io.BytesIO()
            scene.image.save(encoded, format="JPEG", quality=92)  # the regenerated scene is the one on disk
            assert (vocdet_root / "VOCdevkit" / f"VOC{year}" / "JPEGImages" / f"{image_id}.jpg").read_bytes() == (
                encoded.getvalue()
            )
            _, objects = _parse(vocdet_root, year, image_id)
            assert [obj["name"] for obj in objects] == [SHAPE_CLASSES[s.class_index] for s in scene.shapes]
            for obj, shape in zip(objects, scene.shapes):
                xmin, ymin, xmax, ymax = obj["box"]  # 0-based continuous box: (xmin - 1, ymin - 1, xmax, ymax)
                low, high = np.array(shape.polygon).min(0), np.array(shape.polygon).max(0)
                # pixels whose centre is inside the polygon: within half a pixel inside its extent, at most 2 px in
                assert np.all(low - 0.5 <= (xmin - 1, ymin - 1)) and np.all((xmax, ymax) <= high + 0.5)
                assert np.all((xmin - 1, ymin - 1) <= low + 2) and np.all(high - 2 <= (xmax, ymax))
                rows, cols = np.nonzero(shape.mask)
                assert (xmin, ymin, xmax, ymax) == (cols.min() + 1, rows.min() + 1, cols.max() + 1, rows.max() + 1)
                areas.append(int(shape.mask.sum()))
                difficult.append(obj["difficult"])
        assert sum(difficult) == math.ceil(fraction * len(areas)) >= 1
        hard = [a for a, d in zip(areas, difficult) if d]
        assert max(hard) <= min(a for a, d in zip(areas, difficult) if not d)  # the smallest objects


@pytest.mark.parametrize("year", ["2007", "2012"])
def test_vocdet_split_files_list_existing_files(vocdet_root: Path, year: str) -> None:
    base = vocdet_root / "VOCdevkit" / f"VOC{year}"
    train, val = _main_split(vocdet_root, year, "train"), _main_split(vocdet_root, year, "val")
    assert len(train) == 8 and len(val) == 4 and not set(train) & set(val)
    assert _main_split(vocdet_root, year, "trainval") == train + val
    assert not (base / "ImageSets" / "Main" / "test.txt").exists()
    assert sorted(p.stem for p in (base / "Annotations").iterdir()) == sorted(train + val)
    assert sorted(p.stem for p in (base / "JPEGImages").iterdir()) == sorted(train + val)
    for split in ("train", "val", "trainval"):
        for name in SHAPE_CLASSES:
            lines = (base / "ImageSets" / "Main" / f"{name}_{split}.txt").read_text().splitlines()
            assert [line.split()[0] for line in lines] == _main_split(vocdet_root, year, split)
            for line in lines:
                flags = [o["difficult"] for o in _parse(vocdet_root, year, line[:-3])[1] if o["name"] == name]
                assert line[-3:] == (" -1" if not flags else "  0" if all(flags) else "  1")


def test_vocdet_07_plus_12_load_in_torchvision(vocdet_root: Path) -> None:
    from torchvision.datasets import VOCDetection

    voc07 = VOCDetection(str(vocdet_root), year="2007", image_set="trainval")
    voc12 = VOCDetection(str(vocdet_root), year="2012", image_set="val")
    assert len(voc07) == 12 and len(voc12) == 4
    image, target = voc12[0]
    assert target["annotation"]["filename"] == "2012_000009.jpg" and target["annotation"]["folder"] == "VOC2012"
    assert image.size == (int(target["annotation"]["size"]["width"]), int(target["annotation"]["size"]["height"]))
    boxes = [
        tuple(int(o["bndbox"][k]) for k in ("xmin", "ymin", "xmax", "ymax")) for o in target["annotation"]["object"]
    ]
    assert boxes == [o["box"] for o in _parse(vocdet_root, "2012", "2012_000009")[1]]
    first = [
        vocdet_root / "VOCdevkit" / y / "JPEGImages" / n
        for y, n in (("VOC2007", "000001.jpg"), ("VOC2012", "2012_000001.jpg"))
    ]
    assert first[0].read_bytes() != first[1].read_bytes()  # same seed, other year: other images


@pytest.mark.parametrize("fraction, expected", [(0.0, 0), (0.3, None), (1.0, "all")])
def test_vocdet_difficult_fraction(tmp_path: Path, fraction: float, expected) -> None:
    root = make_shapes_voc_detection(tmp_path, **TINY, difficult_fraction=fraction)
    objects = [o for i in _main_split(root, "2007", "train") for o in _parse(root, "2007", i)[1]]
    count = sum(o["difficult"] for o in objects)
    assert count == {0: 0, None: math.ceil(0.3 * len(objects)), "all": len(objects)}[expected]


def test_vocdet_overwrite_is_per_year(tmp_path: Path) -> None:
    make_shapes_voc_detection(tmp_path, **TINY)
    with pytest.raises(FileExistsError, match=r"VOC2007/ImageSets/Main/train\.txt already exists"):
        make_shapes_voc_detection(tmp_path, **TINY)
    make_shapes_voc_detection(tmp_path, **TINY, year="2012")  # another year in the same VOCdevkit is fine
    make_shapes_voc_detection(tmp_path, **{**TINY, "num_train": 5}, overwrite=True)
    assert len(_main_split(tmp_path, "2007", "train")) == 5 and len(_main_split(tmp_path, "2012", "train")) == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"year": "2010"}, r"year must be one of \('2007', '2012'\), got '2010'"),
        ({"year": 2007}, r"year must be one of .* got 2007"),
        ({"difficult_fraction": -0.1}, r"difficult_fraction must be a number in \[0, 1\], got -0\.1"),
        ({"difficult_fraction": 1.5}, r"difficult_fraction must be a number in \[0, 1\], got 1\.5"),
        ({"difficult_fraction": True}, r"difficult_fraction must be .* got True"),
        ({"difficult_fraction": "0.1"}, r"difficult_fraction must be .* got '0\.1'"),
    ],
)
def test_vocdet_bad_arguments_raise(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_shapes_voc_detection(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------------------- CLI


def test_cli_writes_both_years(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    common = ["voc-det", "--output", str(tmp_path), "--num-train", "3", "--num-val", "2", "--image-size", "48,64"]
    assert main(common) == tmp_path
    assert main([*common, "--year", "2012", "--difficult-fraction", "1", "--classes", "star"]) == tmp_path
    out = capsys.readouterr().out
    assert f"wrote shapes dataset in VOC2007 detection layout (3 train + 2 val images) to {tmp_path}" in out
    assert f"wrote shapes dataset in VOC2012 detection layout (3 train + 2 val images) to {tmp_path}" in out
    assert _main_split(tmp_path, "2007", "val") == ["000004", "000005"]
    objects = [o for i in _main_split(tmp_path, "2012", "trainval") for o in _parse(tmp_path, "2012", i)[1]]
    assert objects and all(o["name"] == "star" and o["difficult"] == 1 for o in objects)
    star_val = (tmp_path / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main" / "star_val.txt").read_text()
    assert star_val == "2012_000004  0\n2012_000005  0\n"  # only difficult instances: flag 0


@pytest.mark.slow  # a subprocess or a profiler run: ~10 s on our 2-core machines
def test_cli_as_module(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "ghost_backbones.data.synthetic", "voc-det", "--output", str(tmp_path)]
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [*command, "--num-train", "2", "--num-val", "1", "--year", "2012"], capture_output=True, text=True, cwd=repo
    )
    assert done.returncode == 0, done.stderr
    assert f"VOC2012 detection layout (2 train + 1 val images) to {tmp_path}" in done.stdout
    assert _main_split(tmp_path, "2012", "trainval") == ["2012_000001", "2012_000002", "2012_000003"]


@pytest.mark.parametrize(
    "extra, match",
    [
        (["voc", "--year", "2007"], "--year applies to the voc-det format only"),
        (["coco", "--difficult-fraction", "0.2"], "--difficult-fraction applies to the voc-det format only"),
        (["voc-det", "--year", "2010"], r"argument --year: invalid choice: '2010'"),
        (["voc-det", "--difficult-fraction", "2"], r"difficult_fraction must be a number in \[0, 1\], got 2\.0"),
        (["voc-det", "--crowd"], "--crowd applies to the coco format only"),
    ],
)
def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], match: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*extra, "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert re.search(match, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
