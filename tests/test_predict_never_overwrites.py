"""Both tasks' ``predict`` write over no file they did not create: an earlier run's results, the user's own files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import photos, said, snapshot
from PIL import Image

from detection import predict as det_predict
from detection.config import DetectionConfig
from detection.models import build_model as build_detector
from ghost_backbones.engine import config_to_dict, load_config, run_cli, save_checkpoint
from segmentation import predict as seg_predict
from segmentation.config import SegmentationConfig
from segmentation.models import build_model as build_segmenter

DET_TINY = ["model.backbone.width=0.5", "model.fpn_channels=32", "model.box_head_fcs=[64, 64]", "model.min_size=64",
            "model.max_size=96", "model.num_classes=3",
            "data.categories=[{id: 1, name: circle}, {id: 3, name: square}]"]  # fmt: skip
SEG_TINY = ["model.backbone.width=0.5", "data.class_names=[background, circle, square, triangle]", "data.base_size=64",
            "data.crop_size=64"]  # fmt: skip


def untrained(config_cls: type, overrides: list[str], build: Callable, task: str, folder: Path) -> Path:
    """An untrained tiny model saved as ``<task>.train`` saves it (prediction only needs a valid checkpoint)."""
    cfg = load_config(config_cls, None, overrides)
    torch.manual_seed(0)
    state = {"model": build(cfg.model).state_dict(), "config": config_to_dict(cfg), "task": task, "epoch": 0}
    return save_checkpoint(folder / "best.pth", state)


@pytest.fixture(scope="module")
def det_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained(DetectionConfig, DET_TINY, build_detector, "detection", tmp_path_factory.mktemp("det"))


@pytest.fixture(scope="module")
def seg_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained(SegmentationConfig, SEG_TINY, build_segmenter, "segmentation", tmp_path_factory.mktemp("seg"))


def test_a_second_detection_predict_into_the_same_folder_is_refused(det_weights, tmp_path, capsys):
    first = photos(tmp_path / "first", "a.jpg", "b.jpg")
    second = photos(tmp_path / "second", "c.jpg")
    out = tmp_path / "out"
    argv = ["--weights", str(det_weights), "--output-dir", str(out), "--score-thresh", "0"]
    assert run_cli(det_predict.main, [*argv, "--input", str(first)]) == 0
    before = snapshot(out)
    assert sorted(before) == ["a.jpg", "b.jpg", "detections.json"]
    capsys.readouterr()
    assert run_cli(det_predict.main, [*argv, "--input", str(second)]) == 2
    assert said(capsys.readouterr().err) == [
        f"error: --output-dir {out} already holds ['detections.json'], which this run would write: nothing in it is "
        "replaced; choose another folder, or an empty one"
    ]
    assert snapshot(out) == before  # the first run's detections and drawings, and nothing of the second


def test_detection_predict_keeps_the_users_file_of_a_drawings_name(det_weights, tmp_path, capsys):
    folder = photos(tmp_path / "photos", "plain.jpg")
    album = tmp_path / "album"
    album.mkdir()
    (album / "plain.jpg").write_bytes(b"the user's own photo")
    argv = ["--weights", str(det_weights), "--input", str(folder / "plain.jpg"), "--output-dir", str(album)]
    assert run_cli(det_predict.main, argv) == 2
    (err,) = said(capsys.readouterr().err)
    assert err.startswith(f"error: --output-dir {album} already holds ['plain.jpg'], which this run would write")
    assert [p.name for p in album.iterdir()] == ["plain.jpg"]
    assert (album / "plain.jpg").read_bytes() == b"the user's own photo"


def test_predict_images_refuses_too(det_weights, tmp_path):
    """The library function checks as the CLI does (the demo and scripts call it directly)."""
    model, categories = det_predict.load_detector(det_weights)
    folder = photos(tmp_path / "photos", "a.jpg")
    out = tmp_path / "out"
    det_predict.predict_images(model, categories, [folder / "a.jpg"], out)
    detections = (out / "detections.json").read_bytes()
    with pytest.raises(ValueError, match=r"already holds \['detections.json', 'a.jpg'\]"):
        det_predict.predict_images(model, categories, [folder / "a.jpg"], out)
    assert (out / "detections.json").read_bytes() == detections


def test_segmentation_predict_keeps_ground_truth_masks(seg_weights, tmp_path, capsys):
    images = photos(tmp_path / "JPEGImages", "2007_000032.jpg", "2007_000039.jpg")
    truth = tmp_path / "SegmentationClass"
    truth.mkdir()
    mask = np.zeros((40, 48), np.uint8)
    mask[5:20, 5:20] = 1
    Image.fromarray(mask, mode="L").save(truth / "2007_000032.png")
    before = snapshot(truth)
    argv = ["--weights", str(seg_weights), "--input", str(images), "--output-dir", str(truth)]
    assert run_cli(seg_predict.main, argv) == 2
    assert said(capsys.readouterr().err) == [
        f"error: --output-dir {truth} already holds ['2007_000032.png'], which this run would write: nothing in it is "
        "replaced; choose another folder, or an empty one"
    ]
    assert snapshot(truth) == before


def test_a_second_segmentation_predict_into_the_same_folder_is_refused(seg_weights, tmp_path, capsys):
    folder = photos(tmp_path / "photos", "a.jpg")
    out = tmp_path / "out"
    argv = ["--weights", str(seg_weights), "--input", str(folder), "--output-dir", str(out)]
    assert run_cli(seg_predict.main, argv) == 0
    before = snapshot(out)
    assert run_cli(seg_predict.main, argv) == 2
    assert "already holds ['a.png', 'a_overlay.jpg']" in capsys.readouterr().err
    assert snapshot(out) == before


def test_other_files_in_the_folder_are_fine(det_weights, tmp_path):
    folder = photos(tmp_path / "photos", "a.jpg")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    argv = ["--weights", str(det_weights), "--input", str(folder), "--output-dir", str(out), "--score-thresh", "0"]
    assert run_cli(det_predict.main, argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "detections.json", "notes.txt"]
    assert isinstance(json.loads((out / "detections.json").read_text()), list)
