"""PASCAL VOC detection: the XML reader, its bad-input checks, the VOC mAP (checked by hand) and training on VOC."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from helpers import TINY_FASTER_RCNN
from PIL import Image

from detection.config import DetectionConfig
from detection.data import VOC_CLASSES, VocDetection, voc_categories
from detection.data.transforms import detection_transforms
from detection.train import main, parse_args
from detection.voc_eval import voc_ap, voc_evaluate
from ghost_backbones.data.synthetic import make_shapes_voc_detection
from ghost_backbones.data.synthetic.voc_detection import VocObject, voc_annotation_xml
from ghost_backbones.engine import ConfigError, DataError, load_config, run_cli

SHAPES = ["circle", "square", "triangle"]
CATS = voc_categories(SHAPES)


@pytest.fixture(scope="module")
def voc0712(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both years in one VOCdevkit: 4 train / 2 val images of 96 px per year."""
    root = tmp_path_factory.mktemp("voc0712")
    for year in ("2007", "2012"):
        make_shapes_voc_detection(root, num_train=4, num_val=2, image_size=96, year=year, difficult_fraction=0.25)
    return root


def write_voc(root: Path, objects: list[VocObject], *, xml: str | None = None, split: str = "0001\n") -> Path:
    """``root/VOCdevkit/VOC2007`` with one 40x30 image ``0001`` and ``ImageSets/Main/train.txt`` = ``split``."""
    voc = root / "VOCdevkit" / "VOC2007"
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (voc / folder).mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30)).save(voc / "JPEGImages" / "0001.jpg")
    text = xml if xml is not None else voc_annotation_xml("0001", year="2007", size=(40, 30), objects=objects)
    (voc / "Annotations" / "0001.xml").write_text(text)
    (voc / "ImageSets" / "Main" / "train.txt").write_text(split)
    return voc / "Annotations" / "0001.xml"


def read(root: Path, **kwargs) -> VocDetection:
    return VocDetection(root, ["2007"], "train", categories=CATS, **kwargs)


# ------------------------------------------------------------------------------------------------------- reader
def test_boxes_are_converted_and_difficult_objects_split_off(tmp_path):
    objects = [VocObject("square", (1, 2, 10, 30), 0), VocObject("circle", (5, 5, 40, 9), 0, difficult=True)]
    write_voc(tmp_path, objects)
    image, target = read(tmp_path)[0]
    assert sorted(target) == ["boxes", "image_id", "labels"]  # what CocoDetection gives
    assert target["boxes"].tolist() == [[0.0, 1.0, 10.0, 30.0]]  # x1 = xmin - 1, x2 = xmax
    assert target["labels"].tolist() == [2] and target["image_id"] == 0 and image.size == (40, 30)
    val = read(tmp_path, keep_difficult=True, transforms=detection_transforms(False))
    image, target = val[0]
    assert image.shape == (3, 30, 40) and target["labels"].tolist() == [2, 1]
    assert target["difficult"].tolist() == [False, True]
    assert val.aspect_ratio(0) == pytest.approx(40 / 30)
    anns = val.coco["annotations"]
    assert [(a["bbox"], a["iscrowd"]) for a in anns] == [([0.0, 1.0, 10.0, 29.0], 0), ([4.0, 4.0, 36.0, 5.0], 1)]
    assert voc_categories().names == VOC_CLASSES and voc_categories().ids == tuple(range(1, 21))


def test_07_plus_12_reads_both_years(voc0712):
    ds = VocDetection(voc0712, ["2007", "2012"], "trainval", categories=CATS)
    assert len(ds) == 12
    stems = [image.image_path.stem for image in ds.images]
    assert stems[:6] == [f"{i:06d}" for i in range(1, 7)] and stems[6:] == [f"2012_{i:06d}" for i in range(1, 7)]
    train = VocDetection(voc0712, ["2007", "2012"], "train", categories=CATS)
    hard = sum(sum(image.difficult) for image in train.images)
    assert hard >= 2  # some objects are difficult; they stay out of the training targets
    assert sum(len(train[i][1]["labels"]) for i in range(len(train))) == sum(len(i.names) for i in train.images) - hard


# ---------------------------------------------------------------------------------------------------- bad input
def test_malformed_xml_names_the_file(tmp_path):
    xml = write_voc(tmp_path, [], xml="<annotation><size><width>40</width></annotation")
    with pytest.raises(DataError, match=f"{xml}: not a well-formed XML file"):
        read(tmp_path)


def test_unknown_class_names_the_file_and_the_class(tmp_path):
    xml = write_voc(tmp_path, [VocObject("hexagon", (1, 1, 5, 5), 0)])
    with pytest.raises(DataError, match=f"{xml}: object #0 has class 'hexagon', which is not one of"):
        read(tmp_path)


@pytest.mark.parametrize(
    "box, says",
    [((5, 5, 41, 20), "reaches outside the 40x30 image"), ((0, 5, 10, 20), "reaches outside the 40x30 image"),
     ((12, 5, 10, 20), "has an empty box: xmin=12 > xmax=10")],
)  # fmt: skip
def test_bad_boxes_name_the_file(tmp_path, box, says):
    xml = write_voc(tmp_path, [VocObject("circle", box, 0)])
    with pytest.raises(DataError, match=f"{xml}: object #0 \\(circle\\).*{says}"):
        read(tmp_path)


def test_one_pixel_box_is_valid(tmp_path):
    write_voc(tmp_path, [VocObject("circle", (7, 5, 7, 5), 0)])  # inclusive: column 7, row 5 only
    assert read(tmp_path)[0][1]["boxes"].tolist() == [[6.0, 4.0, 7.0, 5.0]]


def test_split_naming_a_missing_file(tmp_path):
    write_voc(tmp_path, [], split="0001\n0002\n")
    with pytest.raises(DataError, match="train.txt: lists '0002', but .*Annotations/0002.xml does not exist"):
        read(tmp_path)
    with pytest.raises(FileNotFoundError, match="VOC split file not found: .*ImageSets/Main/val.txt"):
        VocDetection(tmp_path, ["2007"], "val")
    with pytest.raises(FileNotFoundError, match="VOCdevkit folder not found"):
        VocDetection(tmp_path / "nowhere", ["2007"], "train")


def test_repeated_split_ids_warn_with_a_count(tmp_path):
    write_voc(tmp_path, [VocObject("circle", (1, 1, 5, 5), 0)], split="0001\n0001\n0001\n")
    with pytest.warns(UserWarning, match=r"train.txt: 1 image id\(s\) are listed more than once"):
        ds = read(tmp_path)
    assert len(ds) == 1


def test_unreadable_image_is_skipped_with_a_count(tmp_path):
    xml = write_voc(tmp_path, [VocObject("circle", (1, 1, 5, 5), 0)])
    (xml.parents[1] / "JPEGImages" / "0001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="0001.jpg"):
        read(tmp_path)[0]
    ds = read(tmp_path, skip_bad_images=True)
    with pytest.warns(UserWarning, match=r"skipped bad image: .*0001.jpg.*\(1 skipped so far"):
        assert ds[0] is None


def test_config_checks_format_and_years():
    with pytest.raises(ConfigError, match=r"data.format must be one of \['coco', 'voc', 'yolo'\], got 'xml'"):
        load_config(DetectionConfig, None, ["data.format=xml"])
    with pytest.raises(ConfigError, match=r"data.voc_years must list years among .*got \['2013'\]"):
        load_config(DetectionConfig, None, ["data.format=voc", "data.voc_years=[2013]"])
    assert load_config(DetectionConfig, None, ["data.voc_years=[2007, 2012]"]).data.voc_years == ["2007", "2012"]


# --------------------------------------------------------------------------------------------------- the metric
def box(x, y, w=10, h=10):
    return [x, y, w, h]


def test_voc_metric_matches_a_hand_computed_case():
    """Class "a": 2 free objects (g1 in image 1, g3 in image 2) and a difficult one (g2, image 1).

    Detections by score: d1 0.9 on g1 (TP), d2 0.8 on g2 (difficult: ignored), d3 0.7 on nothing (FP),
    d4 0.6 on g1 again (duplicate: FP), d5 0.5 on g3 (TP, IoU 0.9 / 1.1 = 0.82).
    Cumulative tp = 1 1 1 1 2, fp = 0 0 1 2 2 -> recall .5 .5 .5 .5 1, precision 1 1 .5 1/3 .5.
    Area: the envelope is 1 up to recall .5 and .5 up to 1 -> .5 * 1 + .5 * .5 = 0.75.
    11 points: recall >= 0, .1, ..., .5 -> best precision 1 (6 points); >= .6 ... 1 -> .5 (5 points): 8.5 / 11.
    Class "b": 1 object, its only detection overlaps it by IoU 50/150 = 1/3 < 0.5 -> FP: AP 0 both ways.
    Class "c": no object at all -> AP -1, left out of the means. mAP: (0.75 + 0) / 2 and (8.5 / 11 + 0) / 2.
    """
    gt = {
        "images": [{"id": 1}, {"id": 2}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": box(0, 0), "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": box(50, 50), "difficult": True, "iscrowd": 1},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": box(0, 0), "iscrowd": 0},
            {"id": 4, "image_id": 2, "category_id": 2, "bbox": box(30, 30), "iscrowd": 0},
        ],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": box(0, 0), "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": box(50, 50), "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": box(70, 70), "score": 0.7},
        {"image_id": 1, "category_id": 1, "bbox": box(0, 0), "score": 0.6},
        {"image_id": 2, "category_id": 1, "bbox": box(1, 0), "score": 0.5},
        {"image_id": 2, "category_id": 2, "bbox": box(35, 30), "score": 0.9},
        {"image_id": 3, "category_id": 1, "bbox": box(0, 0), "score": 0.9},  # an image not evaluated
    ]
    voc = voc_evaluate(gt, dets, [1, 2])["voc"]
    a, b, c = voc["per_class"]
    assert a["AP50_area"] == pytest.approx(0.75) and a["AP50_11pt"] == pytest.approx(8.5 / 11)
    assert (a["num_objects"], a["num_detections"]) == (2, 5)
    assert b["AP50_area"] == b["AP50_11pt"] == 0.0
    assert c["AP50_area"] == c["AP50_11pt"] == -1.0 and c["num_objects"] == 0
    assert voc["mAP50_area"] == pytest.approx(0.375) and voc["mAP50_11pt"] == pytest.approx(8.5 / 22)
    with pytest.raises(ValueError, match="no image to evaluate"):
        voc_evaluate(gt, dets, [])


def test_voc_ap_perfect_and_empty():
    import numpy as np

    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 1.0])) == 1.0
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 1.0]), use_07_metric=True) == 1.0
    assert voc_ap(np.zeros(0), np.zeros(0)) == 0.0 and voc_ap(np.zeros(0), np.zeros(0), use_07_metric=True) == 0.0


# ------------------------------------------------------------------------------------------------------ training
TINY = [*TINY_FASTER_RCNN, "train.warmup_iters=2", "data.val_batch_size=2"]


VOC = ["data.format=voc", "data.voc_years=[2007, 2012]", "data.voc_val_years=[2007]", "data.train_split=train",
       "data.val_split=val", f"data.class_names={json.dumps(SHAPES)}"]  # fmt: skip


def voc_args(root: Path, out: Path, *extra: str, opts: tuple[str, ...] = ()) -> list[str]:
    argv = ["--data-path", str(root), "--output-dir", str(out), "--epochs", "1", "--batch-size", "4",
            "--workers", "0", "--device", "cpu", "--min-size", "96", "--max-size", "96", *extra]  # fmt: skip
    return [*argv, "--opts", *TINY, *VOC, *opts]


def test_train_one_epoch_on_voc_07_plus_12(voc0712, tmp_path):
    metrics = main(voc_args(voc0712, tmp_path))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["data_format"] == "voc" and saved["images"] == 2
    assert set(saved["voc"]) >= {"mAP50_11pt", "mAP50_area", "per_class"}
    assert [c["name"] for c in saved["voc"]["per_class"]] == SHAPES
    assert 0.0 <= saved["voc"]["mAP50_area"] <= 1.0 and "AP" in saved["bbox"]  # COCO-style AP over the same boxes
    assert saved["voc"] == metrics["voc"]
    state = torch.load(tmp_path / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert state["config"]["data"]["categories"] == [{"id": i + 1, "name": n} for i, n in enumerate(SHAPES)]
    # Evaluation only, the categories from the checkpoint: the same VOC metrics.
    again = main(voc_args(voc0712, tmp_path / "test_only", "--test-only", "--resume", str(tmp_path / "checkpoint.pth")))
    assert again["voc"]["mAP50_area"] == pytest.approx(metrics["voc"]["mAP50_area"], abs=1e-9)


def test_cli_names_the_bad_voc_file(tmp_path, capsys):
    one_year = ("data.voc_years=[2007]", "data.val_split=train")
    xml = write_voc(tmp_path, [], xml="<annotation>")
    assert run_cli(main, voc_args(tmp_path, tmp_path / "out", opts=one_year)) == 2
    assert f"error: {xml}: not a well-formed XML file" in capsys.readouterr().err
    assert run_cli(main, voc_args(tmp_path / "nowhere", tmp_path / "out")) == 2
    assert "error: VOCdevkit folder not found:" in capsys.readouterr().err
    write_voc(tmp_path, [VocObject("circle", (1, 1, 5, 5), 0, difficult=True)])  # nothing but a difficult object
    assert run_cli(main, voc_args(tmp_path, tmp_path / "out", opts=one_year)) == 2
    split = tmp_path / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main" / "train.txt"
    assert f"error: {split}: no object to evaluate on (1 image(s)" in capsys.readouterr().err


def test_voc_recipe_loads():
    cfg = parse_args(["--config", str(Path(__file__).parents[1] / "configs" / "faster_rcnn_ghostnet_fpn_voc.yaml")])
    data = cfg.data
    assert (data.format, data.voc_years, data.voc_val_years) == ("voc", ["2007", "2012"], ["2007"])
    assert (data.train_split, data.val_split, data.class_names) == ("trainval", "test", [])
    assert cfg.model.num_classes == 21 and len(voc_categories(data.class_names).ids) == 20


def test_no_warning_on_clean_data(voc0712):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VocDetection(voc0712, ["2007"], "val", categories=CATS, keep_difficult=True)
