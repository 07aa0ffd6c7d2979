"""Bad input to segmentation: VOC lists and photos, predict's output folder, checkpoints of another kind."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import said, snapshot
from PIL import Image

from ghost_backbones.engine import DataError, config_to_dict, load_config, run_cli, save_checkpoint
from segmentation import predict, train
from segmentation.config import SegmentationConfig
from segmentation.data.voc import VOCSegmentation, read_split
from segmentation.models import build_model
from segmentation.task import load_segmenter

TINY = ["model.backbone.width=0.5", "data.class_names=[background, circle, square, triangle]", "data.base_size=64",
        "data.crop_size=64"]  # fmt: skip


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny DeepLabV3 saved as segmentation.train saves it (width 0.5, 4 classes)."""
    cfg = load_config(SegmentationConfig, None, TINY)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("seg_weights") / "best.pth"
    state = {"model": build_model(cfg.model).state_dict(), "config": config_to_dict(cfg), "task": "segmentation"}
    save_checkpoint(path, {**state, "epoch": 0})
    return path


def photos(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (40, 32), (60 * i, 100, 150)).save(folder / name)
    return folder


# ------------------------------------------------------------------ predict: inputs never overwritten
def test_predict_refuses_the_input_folder(weights, tmp_path, capsys):
    folder = photos(tmp_path / "photos", "photo1.jpg", "photo2.png")
    before = snapshot(folder)
    argv = ["--weights", str(weights), "--input", str(folder), "--output-dir", str(folder)]
    assert run_cli(predict.main, argv) == 2
    assert capsys.readouterr().err == (
        f"error: --output-dir {folder} holds the input image(s) ['photo1.jpg', 'photo2.png']: the results would "
        "overwrite them; choose another folder\n"
    )
    assert snapshot(folder) == before  # photo2.png is still the photo, not a mask


def test_predict_gives_every_input_its_own_names(weights, tmp_path):
    folder = photos(tmp_path / "photos", "a.jpg", "a.png", "b.jpg")
    written = predict.main(["--weights", str(weights), "--input", str(folder), "--output-dir", str(tmp_path / "o")])
    names = sorted(p.name for p in written)
    assert names == ["a_jpg.png", "a_jpg_overlay.jpg", "a_png.png", "a_png_overlay.jpg", "b.png", "b_overlay.jpg"]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == names  # six files for three photos: none lost


def test_predict_unreadable_image_stops_with_what_was_written(weights, tmp_path, capsys):
    folder = photos(tmp_path / "photos", "a.jpg", "c.jpg")
    (folder / "b.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    argv = ["--weights", str(weights), "--input", str(folder), "--output-dir", str(out)]
    assert run_cli(predict.main, argv) == 2
    (err,) = said(capsys.readouterr().err)
    assert err.startswith(f"error: {folder / 'b.jpg'}: cannot read image")
    assert err.endswith(f"; the 1 image(s) before it are done (results in {out}); pass --skip-bad-images to skip "
                        "unreadable images")  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "a_overlay.jpg"]
    again = ["--weights", str(weights), "--input", str(folder), "--output-dir", str(tmp_path / "again")]
    assert run_cli(predict.main, [*again, "--skip-bad-images"]) == 0
    warned = said(capsys.readouterr().err)
    assert warned[0].startswith(f"warning: skipped unreadable image (1 so far): {folder / 'b.jpg'}")
    assert warned[1] == "warning: skipped 1 unreadable image(s) of 3: ['b.jpg']"
    written = sorted(p.name for p in (tmp_path / "again").iterdir())
    assert written == ["a.png", "a_overlay.jpg", "c.png", "c_overlay.jpg"]


def test_predict_reads_16bit_photos(weights, tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 40).astype(np.uint16), (32, 1))
    (tmp_path / "in").mkdir()
    Image.fromarray(ramp).save(tmp_path / "in" / "deep.png")
    assert Image.open(tmp_path / "in" / "deep.png").mode == "I;16"
    model, _ = load_segmenter(weights)
    mask, over = predict.predict_paths(model, [tmp_path / "in" / "deep.png"], tmp_path / "out", 64, alpha=0.0)
    overlay = np.asarray(Image.open(over).convert("L")).astype(int)
    assert overlay[:, 0].mean() < 30 and overlay[:, -1].mean() > 225  # a ramp, not a white page (JPEG: close)


# ------------------------------------------------------------------ VOC data
@pytest.fixture
def voc_copy(voc_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(voc_root, tmp_path / "voc")
    return tmp_path / "voc"


def test_repeated_ids_in_a_split_warn_with_a_count(voc_copy):
    voc = voc_copy / "VOCdevkit" / "VOC2012"
    split = voc / "ImageSets" / "Segmentation" / "train.txt"
    ids = split.read_text().split()
    split.write_text("\n".join([*ids, ids[0], ids[1], ids[0]]) + "\n")
    with pytest.warns(UserWarning, match=rf"train.txt: 3 repeated line\(s\) \(2 id\(s\) listed more than once, first: "
                                         rf"\['{ids[0]}', '{ids[1]}'\]\); each image is used once"):  # fmt: skip
        samples = read_split(voc, "train")
    assert len(samples) == len(ids) == len(set(samples))


def test_16bit_photo_in_voc_is_scaled(voc_copy):
    ds = VOCSegmentation(voc_copy, "train", num_classes=4)
    image_path, _ = ds.samples[0]
    stored = np.asarray(Image.open(image_path).convert("L")).astype(np.uint16)
    Image.fromarray(stored * 257).save(image_path.with_suffix(".png"))  # same picture, 16 bits
    image_path.with_suffix(".png").rename(image_path)  # the reader opens by content, whatever the suffix
    assert Image.open(image_path).mode == "I;16"
    image, _ = ds[0]
    np.testing.assert_array_equal(np.asarray(image)[..., 0], stored.astype(np.uint8))


def test_empty_val_split_is_an_error(voc_copy, tmp_path, capsys):
    (voc_copy / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "val.txt").write_text("\n")
    argv = ["--data-path", str(voc_copy), "--output-dir", str(tmp_path / "out"), "--device", "cpu", "--opts", *TINY]
    assert run_cli(train.main, argv) == 2
    assert capsys.readouterr().err.endswith("val.txt: the split list is empty\n")
    with pytest.raises(DataError, match="the split list is empty"):
        VOCSegmentation(voc_copy, "val", num_classes=4)


# ------------------------------------------------------------------ checkpoints of another task / model
@pytest.mark.parametrize(
    "override, asked",
    [
        ("model.backbone.width=1.0", "ghostnet (width 1.0):"),
        # the same arch, backbone and width: the key that differs is named
        (
            "model.head_norm=groupnorm",
            "ghostnet (width 0.5) with model.head_norm='groupnorm' (the file's: 'batchnorm'):",
        ),
    ],
)
def test_checkpoint_of_another_model_is_one_clear_error(override, asked, weights, voc_root, tmp_path, capsys):
    argv = ["--data-path", str(voc_root), "--output-dir", str(tmp_path), "--device", "cpu", "--test-only",
            "--weights", str(weights), "--opts", *TINY, override]  # fmt: skip
    assert run_cli(train.main, argv) == 2
    (err,) = said(capsys.readouterr().err)
    assert err.startswith(
        f"error: {weights} holds the weights of deeplabv3 on ghostnet (width 0.5), which do not fit deeplabv3 "
        f"on {asked}"
    )


def test_checkpoint_of_another_arch_is_one_clear_error(weights, voc_root, tmp_path, capsys):
    argv = ["--data-path", str(voc_root), "--output-dir", str(tmp_path), "--device", "cpu", "--test-only",
            "--weights", str(weights), "--opts", *TINY, "model.arch=fcn"]  # fmt: skip
    assert run_cli(train.main, argv) == 2
    assert said(capsys.readouterr().err)[0].startswith(
        f"error: {weights} holds the weights of deeplabv3 on ghostnet (width 0.5), which do not fit fcn on ghostnet"
    )


def test_checkpoint_of_the_other_task_is_one_clear_error(tmp_path, voc_root, capsys):
    det = tmp_path / "det.pth"
    config = {"model": {"arch": "faster_rcnn", "backbone": {"name": "ghostnet", "width": 1.0}}, "data": {}}
    torch.save({"model": {}, "config": config, "task": "detection"}, det)
    expected = (
        f"{det} is a detection checkpoint (faster_rcnn on ghostnet (width 1.0)); segmentation needs a checkpoint "
        "written by segmentation.train"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        load_segmenter(det)
    argv = ["--data-path", str(voc_root), "--output-dir", str(tmp_path / "o"), "--device", "cpu", "--resume",
            str(det), "--opts", *TINY]  # fmt: skip
    assert run_cli(train.main, argv) == 2
    assert capsys.readouterr().err == f"error: {expected}\n"
    photos(tmp_path / "p", "a.jpg")
    argv = ["--weights", str(det), "--input", str(tmp_path / "p"), "--output-dir", str(tmp_path / "o")]
    assert run_cli(predict.main, argv) == 2 and capsys.readouterr().err == f"error: {expected}\n"
