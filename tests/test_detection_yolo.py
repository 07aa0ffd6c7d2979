"""YOLO txt labels (ultralytics layout) as a registered data format: reading and converting to COCO in memory, every
bad input, the synthetic writer, and training / evaluation / prediction / ONNX export from a fresh YOLO dataset."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from helpers import TINY_FASTER_RCNN
from PIL import Image

from detection.config import DetectionConfig
from detection.data import DATA_FORMATS, DetectionDataset, YoloDetection, label_path
from detection.task import build_dataset
from detection.train import main
from ghost_backbones.data.synthetic import main as synthetic_main
from ghost_backbones.data.synthetic import make_shapes_yolo
from ghost_backbones.engine import ConfigError, DataError, load_config, run_cli

SHAPES = ("circle", "square", "triangle")


@pytest.fixture(scope="module")
def yolo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic shapes in the YOLO layout: 4 train / 3 val images of 80..112 px (the last val one empty)."""
    return make_shapes_yolo(tmp_path_factory.mktemp("shapes_yolo"), num_train=4, num_val=3, image_size=(80, 112))


def write_yolo(root: Path, labels: dict[str, str | None], *, yaml: str = "") -> Path:
    """``root/data.yaml`` (train = val = ``images/train``) and one 40x30 image per name; ``None``: no label file."""
    (root / "images" / "train").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
    for name, text in labels.items():
        Image.new("RGB", (40, 30)).save(root / "images" / "train" / f"{name}.jpg")
        if text is not None:
            (root / "labels" / "train" / f"{name}.txt").write_text(text)
    (root / "data.yaml").write_text(yaml or "train: images/train\nval: images/train\nnames: [circle, square]\n")
    return root


# ------------------------------------------------------------------------------------------- reading, conversion
def test_the_generated_set_converts_to_the_boxes_written(yolo_root):
    for split, count in (("train", 4), ("val", 3)):
        ds = YoloDetection(yolo_root, split)
        assert isinstance(ds, DetectionDataset) and len(ds) == count and ds.categories.names == SHAPES
        assert ds.categories.ids == (1, 2, 3) and ds.annotation_file == yolo_root / "data.yaml"
        for index, info in enumerate(ds.images):
            assert ds.image_path(index) == yolo_root / info["file_name"]
            width, height = Image.open(ds.image_path(index)).size
            assert (info["width"], info["height"]) == (width, height)
            anns = [a for a in ds.coco["annotations"] if a["image_id"] == info["id"]]
            lines = label_path(ds.image_path(index)).read_text().splitlines()
            assert len(anns) == len(lines)
            for ann, line in zip(anns, lines):
                cls, cx, cy, w, h = (float(v) for v in line.split())
                expected = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
                assert ann["category_id"] == int(cls) + 1 and ann["iscrowd"] == 0
                assert ann["bbox"] == pytest.approx(expected, abs=1e-3)
                assert ann["area"] == pytest.approx(expected[2] * expected[3], rel=1e-6)
            image, target = ds[index]
            assert target["labels"].tolist() == [a["category_id"] for a in anns]
    train_files = [i["file_name"] for i in YoloDetection(yolo_root, "train").images]
    assert train_files == ["images/train/000001.jpg", "images/train/000002.jpg", "images/train/000003.jpg",
                           "images/train/000004.png"]  # fmt: skip
    assert label_path(yolo_root / "images" / "val" / "000007.jpg").read_text() == ""  # an image without objects


def test_registry_and_config(yolo_root, tmp_path):
    assert DATA_FORMATS.names() == ["coco", "voc", "yolo"]
    cfg = load_config(DetectionConfig, None, ["data.format=yolo", f"data.root={yolo_root / 'data.yaml'}"])
    val = build_dataset(cfg.data, train=False, transforms=None, categories=None)
    assert isinstance(val, YoloDetection) and len(val) == 3
    with pytest.raises(ConfigError, match=r"data.format must be one of \['coco', 'voc', 'yolo'\], got 'xml'"):
        load_config(DetectionConfig, None, ["data.format=xml"])
    with pytest.raises(ConfigError, match="model.arch='mask_rcnn' learns instance masks, and data.format='yolo'"):
        load_config(DetectionConfig, None, ["model.arch=mask_rcnn", "data.format=yolo"])
    with pytest.raises(FileNotFoundError, match="YOLO dataset file not found: .*data.yaml"):
        YoloDetection(tmp_path, "val")


def test_names_as_a_list_or_a_dict_and_no_warning_on_clean_data(tmp_path):
    yaml = "path: .\ntrain: [images/train]\nval: images/train\nnc: 2\nnames: {0: circle, 1: square}\n"
    write_yolo(tmp_path, {"a": "1 0.5 0.5 0.5 0.5\n", "b": ""}, yaml=yaml)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = YoloDetection(tmp_path / "data.yaml", "train")
    assert ds.categories.names == ("circle", "square")
    assert ds.coco["annotations"] == [
        {"id": 1, "image_id": 1, "category_id": 2, "bbox": [10.0, 7.5, 20.0, 15.0], "area": 300.0, "iscrowd": 0}
    ]


def test_exif_rotated_photos_are_labelled_upright(tmp_path):
    """Labels are fractions of the image as shown (EXIF orientation applied), as ultralytics reads them."""
    write_yolo(tmp_path, {"a": "0 0.5 0.25 0.5 0.5\n"})
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 40x30, shown 30x40
    Image.new("RGB", (40, 30)).save(tmp_path / "images" / "train" / "a.jpg", exif=exif)
    ds = YoloDetection(tmp_path, "train")
    assert (ds.images[0]["width"], ds.images[0]["height"]) == (30, 40) and ds.aspect_ratio(0) == 0.75
    image, target = ds[0]
    assert image.size == (30, 40) and target["boxes"].tolist() == [[7.5, 0.0, 22.5, 20.0]]


# ----------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "text, says",
    [
        ("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n", ":3: expected 5 fields 'class cx cy w h', got 4"),
        ("0 0.5 0.5 0.2 0.2 0.1 0.1\n", ":1: expected 5 fields 'class cx cy w h', got 7"),
        ("0 0.5 0.5 0.2 wide\n", ":1: expected 5 numbers 'class cx cy w h', got '0 0.5 0.5 0.2 wide'"),
        ("2 0.5 0.5 0.2 0.2\n", ":1: class id 2 is out of range: data.yaml names 2 classes, ids 0..1"),
        ("-1 0.5 0.5 0.2 0.2\n", ":1: class id -1 is out of range"),
        ("0.5 0.5 0.5 0.2 0.2\n", ":1: class id 0.5 is out of range"),
        ("0 0.5 1.2 0.2 0.2\n", ":1: cy=1.2 is outside 0..1"),
        ("0 0.5 0.5 -0.1 0.2\n", ":1: w=-0.1 is outside 0..1"),
        ("0 0.5 0.5 nan 0.2\n", ":1: w=nan is outside 0..1"),
        ("0 12 15 20 10\n", ":1: cx=12 is outside 0..1 (YOLO coordinates are fractions"),
    ],
)
def test_bad_label_lines_name_the_file_and_line(tmp_path, text, says):
    write_yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n", "x": text})
    with pytest.raises(DataError) as error:
        YoloDetection(tmp_path, "train")
    assert str(error.value).startswith(str(tmp_path / "labels" / "train" / "x.txt") + says)


def test_bad_label_files_are_left_out_with_skip_bad_images(tmp_path):
    write_yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n", "x": "5 0.5 0.5 0.2 0.2\n", "y": "0 1 2 3 4\n"})
    with pytest.warns(UserWarning, match=r"images/train: 2 image\(s\) left out for a bad label") as record:
        ds = YoloDetection(tmp_path, "train", skip_bad_images=True)
    assert len(record) == 1 and "x.txt:1: class id 5" in str(record[0].message)
    assert [i["file_name"] for i in ds.images] == ["images/train/a.jpg"]


def test_an_image_without_a_label_file_has_no_objects(tmp_path):
    write_yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n", "b": None, "c": None})
    with pytest.warns(UserWarning, match=r"images/train: 2 image\(s\) have no label file: read as images without"):
        ds = YoloDetection(tmp_path, "train")
    assert len(ds) == 3 and [a["image_id"] for a in ds.coco["annotations"]] == [1]
    assert ds[1][1]["boxes"].shape == (0, 4)


def test_a_label_file_without_an_image_is_not_read(tmp_path):
    write_yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"})
    (tmp_path / "labels" / "train" / "gone.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (tmp_path / "labels" / "train" / "gone2.txt").write_text("not even a label\n")
    with pytest.warns(UserWarning, match=r"labels/train: 2 label file\(s\) have no image: not read .*gone.txt"):
        ds = YoloDetection(tmp_path, "train")
    assert len(ds) == 1 and len(ds.coco["annotations"]) == 1


@pytest.mark.parametrize(
    "yaml, says",
    [
        ("train: images/train\nnames: [a]\n", "missing ['val'] (a YOLO data.yaml has 'train', 'val' and 'names')"),
        ("train: images/train\nval: images/nowhere\nnames: [a]\n", "'val' names "),
        ("train: images/train\nval: images/train\nnames: {0: a, 2: b}\n", "maps class ids 0..N-1 to names"),
        ("train: images/train\nval: images/train\nnc: 3\nnames: [a, b]\n", "'nc' is 3 but 'names' has 2 names"),
        ("- train\n", "expected a mapping with 'train', 'val' and 'names', got list"),
        ("train: [images/train\n", "not a valid YAML file"),
    ],
)
def test_bad_data_yaml_names_the_file(tmp_path, yaml, says):
    write_yolo(tmp_path, {"a": ""}, yaml=yaml)
    with pytest.raises(DataError, match=str(tmp_path / "data.yaml")) as error:
        YoloDetection(tmp_path, "val")
    assert says in str(error.value)


def test_categories_that_are_not_data_yaml_names_are_refused(yolo_root):
    from detection.data import CategoryMap

    with pytest.raises(DataError, match=r"its names \['circle', 'square', 'triangle'\] are not the training"):
        YoloDetection(yolo_root, "val", categories=CategoryMap((1, 2, 3), ("a", "b", "c")))


# ------------------------------------------------------------------------------------------------ synthetic CLI
def test_synthetic_cli_writes_the_yolo_layout(tmp_path, capsys):
    root = synthetic_main(["yolo", "--output", str(tmp_path / "y"), "--num-train", "2", "--num-val", "1"])
    assert "wrote shapes dataset in YOLO layout (2 train + 1 val images)" in capsys.readouterr().out
    assert sorted(p.name for p in (root / "labels" / "train").iterdir()) == ["000001.txt", "000002.txt"]
    assert len(YoloDetection(root, "val")) == 1


# ----------------------------------------------------------------------------- train, evaluate, predict, export
TINY = ["data.format=yolo", *TINY_FASTER_RCNN, "train.warmup_iters=2", "data.val_batch_size=2"]


def yolo_args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["--data-path", str(root), "--output-dir", str(out), "--epochs", "1", "--batch-size", "4", "--workers",
            "0", "--device", "cpu", "--min-size", "96", "--max-size", "128", *extra, "--opts", *TINY]  # fmt: skip


def test_train_evaluate_predict_and_export_from_yolo_data(yolo_root, tmp_path):
    from detection import export as detection_export
    from detection import predict as detection_predict

    before = {path: path.read_bytes() for path in sorted(yolo_root.rglob("*")) if path.is_file()}
    metrics = main(yolo_args(yolo_root, tmp_path / "run"))
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["images"] == 3 and 0.0 <= saved["bbox"]["AP"] <= 1.0 and "voc" not in saved
    assert [c["name"] for c in saved["bbox"]["per_category"]] == list(SHAPES)
    state = torch.load(tmp_path / "run" / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert state["config"]["data"]["categories"] == [{"id": i + 1, "name": n} for i, n in enumerate(SHAPES)]
    again = main(yolo_args(yolo_root, tmp_path / "test_only", "--test-only", "--resume",
                           str(tmp_path / "run" / "checkpoint.pth")))  # fmt: skip
    assert again["bbox"]["AP"] == pytest.approx(metrics["bbox"]["AP"], abs=1e-9)
    weights = tmp_path / "run" / "checkpoint.pth"
    detections = detection_predict.main(["--weights", str(weights), "--input", str(yolo_root / "images" / "val"),
                                         "--output-dir", str(tmp_path / "pred"), "--score-thresh", "0.0"])  # fmt: skip
    assert detections and {d["category_id"] for d in detections} <= {1, 2, 3}
    assert (tmp_path / "pred" / "000005.jpg").is_file() and (tmp_path / "pred" / "detections.json").is_file()
    pytest.importorskip("onnxruntime")
    report = detection_export.main(["--weights", str(weights), "--output", str(tmp_path / "model.onnx"),
                                    "--num-check-images", "1"])  # fmt: skip
    assert (tmp_path / "model.onnx").is_file() and report["check"]["images"] == 2  # one val image + another size
    after = {path: path.read_bytes() for path in sorted(yolo_root.rglob("*")) if path.is_file()}
    assert after == before  # converted in memory: nothing written or rewritten next to the data


def test_cli_names_the_bad_label_line(tmp_path, capsys):
    write_yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n", "x": "0 0.5 0.5 0.2\n"})
    assert run_cli(main, yolo_args(tmp_path, tmp_path / "out")) == 2
    label = tmp_path / "labels" / "train" / "x.txt"
    assert f"error: {label}:1: expected 5 fields 'class cx cy w h', got 4" in capsys.readouterr().err
