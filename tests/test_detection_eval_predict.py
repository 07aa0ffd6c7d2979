"""COCO evaluation (pycocotools) and the prediction CLI: drawn images + detections.json with original ids."""

import json

import pytest
import torch
from PIL import Image

from detection.data.coco import CategoryMap
from detection.evaluate import STAT_NAMES, coco_evaluate, to_coco_results
from detection.predict import load_detector, main
from ghost_backbones.data.images import list_images
from ghost_backbones.engine import run_cli

GT = {
    "images": [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 100, "height": 100}],
    "categories": [{"id": 3, "name": "square"}, {"id": 7, "name": "triangle"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 40, 40], "area": 1600, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 7, "bbox": [60, 60, 30, 30], "area": 900, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 7, "bbox": [5, 5, 50, 50], "area": 2500, "iscrowd": 1},
    ],
}


def det(image_id, category_id, bbox, score=0.9):
    return {"image_id": image_id, "category_id": category_id, "bbox": bbox, "score": score}


def test_perfect_detections_score_one():
    results = [det(1, 3, [10, 10, 40, 40]), det(1, 7, [60, 60, 30, 30])]
    box = coco_evaluate(GT, results, [1, 2], verbose=False)["bbox"]
    assert set(STAT_NAMES) <= set(box)
    assert box["AP"] == pytest.approx(1.0) and box["AP50"] == pytest.approx(1.0)
    assert [(c["id"], c["name"]) for c in box["per_category"]] == [(3, "square"), (7, "triangle")]
    assert [c["AP"] for c in box["per_category"]] == pytest.approx([1.0, 1.0])


def test_wrong_category_and_crowd_handling():
    # The triangle is reported as a square (ranked below the true square: square AP stays 1, triangle AP is 0).
    # A detection on the crowd region matches it and is ignored (not a false positive), as COCO does.
    results = [det(1, 3, [10, 10, 40, 40]), det(1, 3, [60, 60, 30, 30], 0.8), det(2, 7, [5, 5, 50, 50])]
    box = coco_evaluate(GT, results, [1, 2], verbose=False)["bbox"]
    per = {c["id"]: c["AP"] for c in box["per_category"]}
    assert per[3] == pytest.approx(1.0) and per[7] == pytest.approx(0.0)
    without_crowd_det = coco_evaluate(GT, results[:2], [1, 2], verbose=False)["bbox"]
    assert box["AP"] == pytest.approx(without_crowd_det["AP"])


def test_only_evaluated_images_count():
    # Image 2 (say, skipped as unreadable) is left out: its crowd region does not matter, image 1 is perfect.
    box = coco_evaluate(GT, [det(1, 3, [10, 10, 40, 40]), det(1, 7, [60, 60, 30, 30])], [1], verbose=False)["bbox"]
    assert box["AP"] == pytest.approx(1.0)


def test_no_detections_give_zero_and_minus_one_where_nothing_is_to_be_found():
    box = coco_evaluate(GT, [], [1, 2], verbose=False)["bbox"]
    assert box["AP"] == 0.0 and box["AR100"] == 0.0 and [c["AP"] for c in box["per_category"]] == [0.0, 0.0]
    assert box["APl"] == -1.0 and box["ARl"] == -1.0  # no large object: pycocotools gives -1, not 0


def test_to_coco_results_maps_labels_back_to_ids():
    output = {
        "boxes": torch.tensor([[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 5.0, 5.0]]),
        "labels": torch.tensor([2, 1]),
        "scores": torch.tensor([0.75, 0.5]),
    }
    results = to_coco_results(9, output, CategoryMap((3, 7), ("square", "triangle")))
    assert results == [
        {"image_id": 9, "category_id": 7, "bbox": [10.0, 20.0, 20.0, 40.0], "score": 0.75},
        {"image_id": 9, "category_id": 3, "bbox": [0.0, 0.0, 5.0, 5.0], "score": 0.5},
    ]


def test_to_coco_results_drops_background_detections():
    # torchvision's FCOS, untrained, can label a detection 0 (background); it is no detection, not an error
    output = {
        "boxes": torch.tensor([[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 5.0, 5.0], [1.0, 1.0, 4.0, 4.0]]),
        "labels": torch.tensor([0, 1, 0]),
        "scores": torch.tensor([0.9, 0.5, 0.3]),
        "masks": torch.stack([torch.full((1, 6, 6), v) for v in (0.9, 0.0, 0.9)]),
    }
    results = to_coco_results(9, output, CategoryMap((3, 7), ("square", "triangle")))
    assert [(r["category_id"], r["bbox"], r["score"]) for r in results] == [(3, [0.0, 0.0, 5.0, 5.0], 0.5)]
    assert results[0]["segmentation"]["counts"] == "T1"  # the kept detection's own (empty) mask


# ------------------------------------------------------------------ prediction
@pytest.fixture(scope="module")
def checkpoint(coco_root, tmp_path_factory):
    """A detector trained for one short epoch (predict only needs a valid checkpoint)."""
    from detection.train import main as train

    out = tmp_path_factory.mktemp("det_predict_ckpt")
    train(["--data-path", str(coco_root), "--output-dir", str(out), "--epochs", "1", "--batch-size", "4",
           "--workers", "0", "--device", "cpu", "--min-size", "128", "--max-size", "160",
           "--opts", "model.backbone.width=0.5", "model.fpn_channels=32", "model.box_head_fcs=[64, 64]",
           "train.warmup_iters=2", "data.val_batch_size=3"])  # fmt: skip
    return out / "best.pth"


def test_predict_writes_drawn_images_and_coco_results(checkpoint, coco_root, tmp_path):
    val = coco_root / "val2017"
    out = tmp_path / "pred"
    detections = main(["--weights", str(checkpoint), "--input", str(val), "--output-dir", str(out),
                       "--score-thresh", "0.0", "--device", "cpu"])  # fmt: skip
    inputs = list_images(val)
    assert sorted(p.name for p in out.iterdir()) == sorted([p.name for p in inputs] + ["detections.json"])
    for path in inputs:
        assert Image.open(out / path.name).size == Image.open(path).size
    saved = json.loads((out / "detections.json").read_text())
    assert saved == detections and saved, "an untrained-ish detector at score 0 still returns boxes"
    valid_ids = {int(p.stem) for p in inputs}  # COCO-style numeric names give the real image ids
    for d in saved:
        assert d["image_id"] in valid_ids and d["category_id"] in {1, 3, 7}
        assert set(d) == {"image_id", "category_id", "bbox", "score", "file_name"} and len(d["bbox"]) == 4
        assert d["bbox"][2] >= 0 and d["bbox"][3] >= 0 and 0.0 <= d["score"] <= 1.0


def test_predict_score_threshold_and_single_file(checkpoint, coco_root, tmp_path):
    image = list_images(coco_root / "val2017")[0]
    everything = main(["--weights", str(checkpoint), "--input", str(image), "--output-dir", str(tmp_path / "a"),
                       "--score-thresh", "0.0"])  # fmt: skip
    threshold = sorted(d["score"] for d in everything)[len(everything) // 2]
    some = main(["--weights", str(checkpoint), "--input", str(image), "--output-dir", str(tmp_path / "b"),
                 "--score-thresh", str(threshold)])  # fmt: skip
    assert 0 < len(some) < len(everything) and all(d["score"] >= threshold for d in some)


def test_predict_draws_exif_rotated_photos_upright(checkpoint, tmp_path):
    photo = Image.new("RGB", (96, 64), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    (tmp_path / "in").mkdir()
    photo.save(tmp_path / "in" / "photo.jpg", exif=exif)
    main(["--weights", str(checkpoint), "--input", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out")])
    assert Image.open(tmp_path / "out" / "photo.jpg").size == (64, 96)
    saved = json.loads((tmp_path / "out" / "detections.json").read_text())
    assert isinstance(saved, list) and all(d["file_name"] == "photo.jpg" for d in saved)


def test_predict_errors_are_clear(checkpoint, tmp_path, capsys):
    base = ["--weights", str(checkpoint), "--output-dir", str(tmp_path / "o")]
    assert run_cli(main, [*base, "--input", str(tmp_path / "missing.jpg")]) == 2
    assert "error: input not found:" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    assert run_cli(main, [*base, "--input", str(tmp_path / "empty")]) == 2
    assert "error: no image files" in capsys.readouterr().err
    weights_only = tmp_path / "weights_only.pth"
    torch.save({"model": {}}, weights_only)
    with pytest.raises(ValueError, match="not a detection.train checkpoint"):
        load_detector(weights_only)
    image = tmp_path / "x.png"
    Image.new("RGB", (32, 32)).save(image)
    assert run_cli(main, [*base, "--input", str(image), "--score-thresh", "2"]) == 2
    assert "score_thresh must be in [0, 1], got 2.0" in capsys.readouterr().err
