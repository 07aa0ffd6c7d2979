"""Bad input to detection: COCO files, photos, predict's output folder. Each case reads the outcome it promises."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import photos, said, snapshot
from PIL import Image

from detection import predict, train
from detection.config import DetectionConfig
from detection.data.coco import CocoDetection, load_coco_annotations
from detection.evaluate import coco_evaluate
from detection.models import build_model
from ghost_backbones.data.images import read_rgb
from ghost_backbones.engine import DataError, config_to_dict, load_config, run_cli, save_checkpoint

CATEGORIES = [{"id": 1, "name": "circle"}, {"id": 3, "name": "square"}]
TINY = ["model.backbone.width=0.5", "model.fpn_channels=32", "model.box_head_fcs=[64, 64]", "model.min_size=64",
        "model.max_size=96", "model.num_classes=3",
        "data.categories=[{id: 1, name: circle}, {id: 3, name: square}]"]  # fmt: skip


def write_coco(
    root: Path, annotations: list, *, images: list | None = None, categories=CATEGORIES
) -> tuple[Path, Path]:
    """Image files ``root/images/{id}.png`` (40x30) and ``root/ann.json``."""
    images = images if images is not None else [{"id": 1, "file_name": "1.png", "width": 40, "height": 30}]
    (root / "images").mkdir(parents=True, exist_ok=True)
    for image in images:
        Image.new("RGB", (image["width"], image["height"])).save(root / "images" / image["file_name"])
    path = root / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return root / "images", path


def ann(ann_id, bbox=(2, 3, 10, 12), category_id=1, image_id=1) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": list(bbox)}


# ------------------------------------------------------------------ COCO files: errors naming the file and the ids
TWO_IMAGES_ID_4 = [{"id": 4, "file_name": n, "width": 9, "height": 9} for n in ("a.png", "b.png")]
STRING_CATEGORY = [{"id": "1", "name": "circle"}]
NO_ID = {"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}


@pytest.mark.parametrize(
    "annotations, images, categories, message",
    [
        ([ann(5, bbox=(1, 2, math.inf, 4))], None, CATEGORIES, r"annotation id 5 has a non-finite 'bbox' value"),
        ([ann(6, bbox=(math.nan, 2, 3, 4))], None, CATEGORIES, r"annotation id 6 has a non-finite 'bbox' value"),
        ([ann(7, bbox=(True, 2, 3, 4))], None, CATEGORIES, r"annotation id 7 has no valid 'bbox' \[x, y, width, "),
        ([ann(8, category_id="1")], None, CATEGORIES, r"annotation id 8 has category_id '1' \(str\); COCO category"),
        ([ann(1)], None, STRING_CATEGORY, r"category \{'id': '1', 'name': 'circle'\} has id '1'"),
        ([ann(1), ann(1), ann(2), ann(2)], None, CATEGORIES, r"2 annotation id\(s\) are used more than once \(first: "
                                                              r"\[1, 2\]\)"),
        ([], TWO_IMAGES_ID_4, CATEGORIES, r"1 image id\(s\) are listed more than once in 'images' \(first: \[4\]\)"),
        ([NO_ID], None, CATEGORIES, r"annotation #0 has no 'id'"),
    ],
)  # fmt: skip
def test_bad_annotations_are_errors_naming_file_and_ids(tmp_path, annotations, images, categories, message):
    _, path = write_coco(tmp_path, annotations, images=images, categories=categories)
    with pytest.raises(DataError, match=rf"{path}: .*{message}"):
        load_coco_annotations(path)


def test_same_checks_in_training_and_evaluation(tmp_path):
    image_dir, path = write_coco(tmp_path, [ann(5, bbox=(1, 2, math.inf, 4))])
    for kwargs in ({}, {"substitute_bad": True, "allow_duplicate_annotation_ids": True}):
        with pytest.raises(DataError, match="annotation id 5 has a non-finite 'bbox' value"):
            CocoDetection(image_dir, path, **kwargs)


def test_duplicate_annotation_ids_warn_in_training(tmp_path):
    image_dir, path = write_coco(tmp_path, [ann(1), ann(1, bbox=(20, 5, 8, 8))])
    with pytest.warns(UserWarning, match=r"1 annotation id\(s\) are used more than once \(first: \[1\]\)"):
        ds = CocoDetection(image_dir, path, allow_duplicate_annotation_ids=True)
    assert ds[0][1]["boxes"].shape == (2, 4)
    images = [{"id": 1, "file_name": "1.png", "width": 40, "height": 30}] * 2
    write_coco(tmp_path, [], images=images)
    with pytest.raises(DataError, match=r"image id\(s\) are listed more than once"):  # image ids: an error in both
        CocoDetection(image_dir, path, allow_duplicate_annotation_ids=True)


def test_top_level_list_is_an_error_line(tmp_path, capsys):
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "train2017").mkdir()
    (root / "annotations" / "instances_train2017.json").write_text("[]")
    argv = ["--data-path", str(root), "--output-dir", str(tmp_path / "out"), "--device", "cpu"]
    assert run_cli(train.main, argv) == 2
    assert capsys.readouterr().err == (
        f"error: {root / 'annotations' / 'instances_train2017.json'}: a COCO instances file is a JSON object with "
        "'images', 'annotations' and 'categories'; this one's top level is a list\n"
    )


# ------------------------------------------------------------------ doubtful boxes: one warning per kind, with a count
def test_boxes_outside_the_image_are_dropped_or_clipped_with_a_count(tmp_path):
    anns = [ann(1), ann(2, bbox=(50, 5, 8, 8)), ann(3, bbox=(-20, -20, 10, 10)), ann(4, bbox=(30, 20, 20, 20)),
            ann(5, bbox=(0, 0, 40.4, 30.4)), ann(6, bbox=(1, 1, 0, 3))]  # fmt: skip
    image_dir, path = write_coco(tmp_path, anns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = CocoDetection(image_dir, path)
    messages = [str(w.message) for w in caught]
    assert messages == [
        f"{path}: dropped 1 annotation(s) with zero or negative box width/height (first ids: [6])",
        f"{path}: dropped 2 annotation(s) with box entirely outside its image (first ids: [2, 3])",
        f"{path}: clipped 1 box(es) reaching more than 1 pixel past their image's edge to the image (first ids: [4])",
    ]
    assert [a["id"] for a in ds.coco["annotations"]] == [1, 4, 5]
    assert ds.coco["annotations"][1]["bbox"] == [30.0, 20.0, 10.0, 10.0]  # clipped, the same for training and eval
    assert ds[0][1]["boxes"].tolist()[1] == [30.0, 20.0, 40.0, 30.0]


def test_empty_val_split_is_an_error(coco_root, tmp_path, capsys):
    root = tmp_path / "coco"
    shutil.copytree(coco_root, root)
    val = root / "annotations" / "instances_val2017.json"
    data = json.loads(val.read_text())
    out = tmp_path / "out"
    argv = ["--data-path", str(root), "--output-dir", str(out), "--device", "cpu", "--opts", *TINY[:3]]
    for images in ([], data["images"]):
        val.write_text(json.dumps({**data, "images": images, "annotations": []}))
        assert run_cli(train.main, argv) == 2
        assert f"error: {val}: no object to evaluate on ({len(images)} image(s), no non-crowd annotation)" in (
            capsys.readouterr().err
        )
    assert not (out / "best.pth").exists()
    with pytest.raises(ValueError, match="no image to evaluate"):
        coco_evaluate(data, [], [], verbose=False)


def test_min_size_zero_is_one_error_line(coco_root, tmp_path, capsys):
    argv = ["--data-path", str(coco_root), "--output-dir", str(tmp_path), "--min-size", "0", "--device", "cpu"]
    assert run_cli(train.main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.min_size and model.max_size need 0 < min_size <= max_size, got 0" in err


# ------------------------------------------------------------------ 16-bit photos
def write_16bit(path: Path, size=(40, 30)) -> np.ndarray:
    """A 16-bit grayscale PNG (mode I;16) with a horizontal ramp over the whole 0..65535 range."""
    ramp = np.tile(np.linspace(0, 65535, size[0]).astype(np.uint16), (size[1], 1))
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode == "I;16"
    return ramp


def test_16bit_png_is_scaled_not_white(tmp_path):
    ramp = write_16bit(tmp_path / "deep.png")
    rgb = np.asarray(read_rgb(tmp_path / "deep.png"))
    expected = np.rint(ramp / 257.0).astype(np.uint8)
    assert rgb.shape == (30, 40, 3) and (rgb[..., 0] == expected).all() and (rgb[..., 2] == expected).all()
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255 and 100 < rgb[0, 20, 0] < 155


def test_16bit_png_in_a_coco_dataset(tmp_path):
    image_dir, path = write_coco(tmp_path, [ann(1)])
    ramp = write_16bit(image_dir / "1.png")
    image, _ = CocoDetection(image_dir, path)[0]
    np.testing.assert_array_equal(np.asarray(image)[..., 1], np.rint(ramp / 257.0).astype(np.uint8))


# ------------------------------------------------------------------ predict: inputs never overwritten
@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny detector saved as detection.train saves it (prediction only needs a valid checkpoint)."""
    cfg = load_config(DetectionConfig, None, TINY)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    path = tmp_path_factory.mktemp("det_weights") / "best.pth"
    save_checkpoint(path, {"model": model.state_dict(), "config": config_to_dict(cfg), "task": "detection"})
    return path


def test_predict_refuses_to_write_into_the_input_folder(weights, tmp_path, capsys):
    folder = photos(tmp_path / "photos", "a.jpg", "b.png")
    before = snapshot(folder)
    argv = ["--weights", str(weights), "--input", str(folder), "--output-dir", str(folder)]
    assert run_cli(predict.main, argv) == 2
    assert capsys.readouterr().err == (
        f"error: --output-dir {folder} holds the input image(s) ['a.jpg', 'b.png']: the results would overwrite "
        "them; choose another folder\n"
    )
    assert snapshot(folder) == before  # no drawing, no detections.json
    single = ["--weights", str(weights), "--input", str(folder / "a.jpg"), "--output-dir", str(folder)]
    assert run_cli(predict.main, single) == 2 and "holds the input image(s) ['a.jpg']" in capsys.readouterr().err
    assert snapshot(folder) == before


def test_predict_output_path_that_is_a_file(weights, tmp_path, capsys):
    folder = photos(tmp_path / "photos", "a.jpg")
    (tmp_path / "out.txt").write_text("keep me")
    argv = ["--weights", str(weights), "--input", str(folder), "--output-dir", str(tmp_path / "out.txt")]
    assert run_cli(predict.main, argv) == 2
    assert capsys.readouterr().err == f"error: --output-dir {tmp_path / 'out.txt'} is a file, not a folder\n"
    assert (tmp_path / "out.txt").read_text() == "keep me"


def test_predict_bad_device_is_one_line(weights, tmp_path, capsys):
    folder = photos(tmp_path / "photos", "a.jpg")
    argv = ["--weights", str(weights), "--input", str(folder), "--output-dir", str(tmp_path / "o"), "--device", "tpu0"]
    assert run_cli(predict.main, argv) == 2
    assert capsys.readouterr().err == "error: --device 'tpu0' is not a device: use auto, cpu, cuda, cuda:N or mps\n"


def test_predict_names_are_unique_per_input(weights, tmp_path):
    model, categories = predict.load_detector(weights)
    a = photos(tmp_path / "x", "1.jpg", "1.png")
    b = photos(tmp_path / "y", "1.jpg")
    paths = [a / "1.jpg", a / "1.png", b / "1.jpg"]
    dets = predict.predict_images(model, categories, paths, tmp_path / "out", score_thresh=0.0)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["1.jpg", "1.png", "1_2.jpg", "detections.json"]
    assert {d["image_id"] for d in dets} <= {1, 2, 3}  # three photos named 1: positions, not one shared id 1


def test_predict_stops_at_an_unreadable_image_but_keeps_what_it_did(weights, tmp_path, capsys):
    folder = photos(tmp_path / "photos", "a.jpg", "c.jpg")
    (folder / "b.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    argv = ["--weights", str(weights), "--input", str(folder), "--output-dir", str(out), "--score-thresh", "0"]
    assert run_cli(predict.main, argv) == 2
    (err,) = said(capsys.readouterr().err)
    assert err.startswith(f"error: {folder / 'b.jpg'}: cannot read image")
    assert f"the 1 image(s) before it are done (results in {out / 'detections.json'}); pass --skip-bad-images" in err
    done = json.loads((out / "detections.json").read_text())
    assert {d["file_name"] for d in done} <= {"a.jpg"} and (out / "a.jpg").is_file()


def test_predict_skip_bad_images_warns_with_a_count(weights, tmp_path, capsys):
    folder = photos(tmp_path / "photos", "a.jpg", "c.jpg")
    (folder / "b.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    argv = ["--weights", str(weights), "--input", str(folder), "--output-dir", str(out), "--skip-bad-images"]
    assert run_cli(predict.main, argv) == 0
    first, summary = said(capsys.readouterr().err)
    assert first.startswith(f"warning: skipped unreadable image (1 so far): {folder / 'b.jpg'}: cannot read image")
    assert summary == "warning: skipped 1 unreadable image(s) of 3: ['b.jpg']"
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "c.jpg", "detections.json"]
