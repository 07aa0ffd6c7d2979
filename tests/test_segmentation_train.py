"""Training entry point end to end on tiny synthetic VOC data: loss falls, outputs, resume, --test-only, predict."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ghost_backbones.data import voc_palette
from ghost_backbones.engine import ConfigError, load_checkpoint, load_config, parse_config, read_jsonl, run_cli
from segmentation import predict, train
from segmentation.config import SegmentationConfig
from segmentation.models import build_model
from segmentation.task import SegmentationTask, load_segmenter

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = [
    "--workers", "0", "--device", "cpu", "--batch-size", "4", "--crop-size", "64", "--base-size", "64",
    "--opts", "model.backbone.width=0.5", "data.class_names=[background, circle, square, triangle]",
    "train.warmup_iters=3", "train.lr=0.05", "train.log_every=1", "model.aux_loss=true",
]  # fmt: skip
METRIC_KEYS = {"mIoU", "pixel_acc", "mean_acc", "fw_IoU", "per_class_IoU", "absent_classes", "epoch"}


def _train(root: Path, out: Path, *extra: str, opts: tuple[str, ...] = ()) -> dict:
    return train.main(["--data-path", str(root), "--output-dir", str(out), *extra, *TINY, *opts])  # TINY ends in --opts


@pytest.fixture(scope="module")
def trained(voc_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seg_run")
    _train(voc_root, out, "--epochs", "4")
    return out


def test_short_run_loss_falls_and_writes_outputs(trained: Path) -> None:
    assert {"checkpoint.pth", "best.pth", "log.jsonl", "metrics.json"} <= {p.name for p in trained.iterdir()}
    epochs = [r for r in read_jsonl(trained / "log.jsonl") if r["type"] == "epoch"]
    assert len(epochs) == 4
    assert epochs[-1]["loss"] < 0.8 * epochs[0]["loss"]
    assert {"loss_ce", "loss_aux"} <= set(epochs[0])
    metrics = json.loads((trained / "metrics.json").read_text())
    assert set(metrics) == METRIC_KEYS and metrics["epoch"] == 3
    assert set(metrics["per_class_IoU"]) == {"background", "circle", "square", "triangle"}
    present = {k: v for k, v in metrics["per_class_IoU"].items() if k not in metrics["absent_classes"]}
    assert metrics["mIoU"] == pytest.approx(sum(present.values()) / len(present))
    best = load_checkpoint(trained / "best.pth")
    assert best["metrics"]["mIoU"] == max(r["mIoU"] for r in read_jsonl(trained / "log.jsonl") if r["type"] == "eval")


def test_learns_the_shapes_not_just_the_background(voc_root: Path, tmp_path: Path) -> None:
    """Fitting the 12 training images (evaluated on them): shape classes are found, far above background-only.

    A model that predicts only background scores 0 IoU on every shape class; pixel accuracy would not show it.
    """
    recipe = ["train.optimizer=adamw", "train.lr=0.003", "train.weight_decay=0", "model.aux_loss=false",
              "data.val_split=train", "data.scale_range=[1.0, 1.0]", "train.eval_every=30"]  # fmt: skip
    metrics = _train(voc_root, tmp_path, "--epochs", "30", opts=tuple(recipe))
    shapes = {name: metrics["per_class_IoU"][name] for name in ("circle", "square", "triangle")}
    assert sum(shapes.values()) > 40, shapes  # measured: square 52, triangle 22, circle 0 (background-only: all 0)


@pytest.mark.parametrize("flag, name", [("--weights", "best.pth"), ("--resume", "checkpoint.pth")])
def test_test_only_reproduces_saved_metrics(
    voc_root: Path, trained: Path, tmp_path: Path, flag: str, name: str
) -> None:
    metrics = _train(voc_root, tmp_path, "--test-only", flag, str(trained / name))
    saved = load_checkpoint(trained / name)["metrics"]
    assert metrics["mIoU"] == pytest.approx(saved["mIoU"], abs=1e-9)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert set(written) == METRIC_KEYS and written["epoch"] == load_checkpoint(trained / name)["epoch"]
    assert not (tmp_path / "checkpoint.pth").exists()


def test_resume_continues_where_it_stopped(voc_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _train(voc_root, tmp_path / "full", "--epochs", "2")
    step, calls = SegmentationTask.training_step, []

    def crash_in_second_epoch(self, *args):
        calls.append(1)
        if len(calls) > 3:  # 12 images / batch 4 = 3 iterations per epoch
            raise KeyboardInterrupt
        return step(self, *args)

    monkeypatch.setattr(SegmentationTask, "training_step", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        _train(voc_root, tmp_path / "split", "--epochs", "2")
    monkeypatch.setattr(SegmentationTask, "training_step", step)
    _train(voc_root, tmp_path / "split", "--epochs", "2", "--resume", str(tmp_path / "split" / "checkpoint.pth"))
    starts = [r["epoch"] for r in read_jsonl(tmp_path / "split" / "log.jsonl") if r["type"] == "start"]
    assert starts == [0, 1]
    full, split = (load_checkpoint(tmp_path / d / "checkpoint.pth") for d in ("full", "split"))
    assert split["epoch"] == full["epoch"] == 1
    for key, value in full["model"].items():
        torch.testing.assert_close(split["model"][key], value, msg=key)


def test_crop_and_base_size_flags() -> None:
    cfg = parse_config(
        SegmentationConfig,
        train.get_parser(),
        ["--config", str(CONFIGS / "deeplabv3_ghostnet_voc.yaml"), "--crop-size", "320", "--base-size", "400"],
    )
    assert (cfg.data.crop_size, cfg.data.base_size, cfg.train.lr_scheduler) == (320, 400, "poly")


@pytest.mark.parametrize(
    "name, cls, aux",
    [("deeplabv3", "DeepLabV3", True), ("deeplabv3plus", "DeepLabV3Plus", False), ("fcn", "FCN", True),
     ("lraspp", "LRASPP", False)],
)  # fmt: skip
def test_voc_recipes(name: str, cls: str, aux: bool) -> None:
    cfg = load_config(SegmentationConfig, CONFIGS / f"{name}_ghostnet_voc.yaml", ["model.backbone.pretrained=false"])
    assert cfg.model.arch == name and cfg.model.num_classes == 21 and getattr(cfg.model, "aux_loss", False) is aux
    assert (cfg.data.crop_size, cfg.data.base_size, cfg.train.epochs, cfg.train.lr_scheduler) == (480, 520, 30, "poly")
    model = build_model(cfg.model)
    assert type(model).__name__ == cls
    assert model.backbone.reductions[max(model.backbone.reductions, key=model.backbone.reductions.get)] == 16


@pytest.mark.parametrize(
    "opts, match",
    [
        (["model.depth=3"], r"\['model.depth'\] not read by model.arch='deeplabv3'; its keys: \['model.arch'"),
        (["model.num_classes=5"], r"data.class_names has 4 names but model.num_classes is 5"),
        (["model.arch=unet"], r"unknown segmentation architecture \(model.arch\) 'unet'"),
        (["model.arch=lraspp"], r"'model.aux_loss'.* not read by model.arch='lraspp'; its keys: "),
        (["model.arch=fcn", "model.head_channels=64"], r"\['model.head_channels'\] not read by model.arch='fcn'"),
        (["model.arch=deeplabv3_mobilenet_v3_large"], r"\['model.backbone'\] not read by model.arch='deeplabv3_mob"),
        (["model.backbone.name=resnet9000"], r"model.backbone.name: 'resnet9000' is not a timm model"),
        (["model.output_stride=32"], r"model.output_stride must be one of \[8, 16\], got 32"),
        (["train.lr=nan"], r"train.lr must be a finite number > 0, got nan"),
    ],
)
def test_config_errors(voc_root: Path, tmp_path: Path, opts: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _train(voc_root, tmp_path, opts=tuple(opts))


def test_cli_reports_bad_data_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = run_cli(train.main, ["--data-path", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path), *TINY])
    assert code == 2
    assert f"error: no VOC dataset at {tmp_path / 'nowhere'}" in capsys.readouterr().err


def test_predict_writes_palette_masks_and_overlays(trained: Path, voc_root: Path, tmp_path: Path) -> None:
    images = voc_root / "VOCdevkit" / "VOC2012" / "JPEGImages"
    weights = str(trained / "best.pth")
    written = predict.main(["--weights", weights, "--input", str(images), "--output-dir", str(tmp_path)])
    photos = sorted(images.glob("*.jpg"))
    assert len(written) == 2 * len(photos)
    mask = Image.open(tmp_path / f"{photos[0].stem}.png")
    photo = Image.open(photos[0])
    assert mask.mode == "P" and mask.size == photo.size
    assert mask.getpalette()[: 3 * 4] == voc_palette()[: 3 * 4]
    assert np.array(mask).max() < 4
    over = Image.open(tmp_path / f"{photos[0].stem}_overlay.jpg")
    assert over.mode == "RGB" and over.size == photo.size
    single = predict.main(["--weights", weights, "--input", str(photos[0]), "--output-dir", str(tmp_path / "one")])
    assert [p.name for p in single] == [f"{photos[0].stem}.png", f"{photos[0].stem}_overlay.jpg"]
    np.testing.assert_array_equal(np.array(Image.open(single[0])), np.array(mask))


def test_predict_reads_exif_rotated_photos_upright(trained: Path, tmp_path: Path) -> None:
    model, cfg = load_segmenter(trained / "best.pth")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: stored 40x30, displayed rotated 90 degrees clockwise as 30x40
    Image.new("RGB", (40, 30), (90, 120, 200)).save(tmp_path / "phone.jpg", exif=exif)
    mask_png, overlay_jpg = predict.predict_paths(model, [tmp_path / "phone.jpg"], tmp_path / "out", 64)
    assert Image.open(mask_png).size == (30, 40) and Image.open(overlay_jpg).size == (30, 40)


def test_predict_bad_inputs(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    weights = str(trained / "best.pth")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.jpg").write_bytes(b"not a jpeg")
    torch.save({"epoch": 1}, tmp_path / "plain.pth")
    cases = [
        (["--weights", weights, "--input", str(tmp_path / "missing.jpg")], "error: input not found: "),
        (["--weights", weights, "--input", str(tmp_path / "empty")], "error: no image files (.jpg"),
        (["--weights", weights, "--input", str(tmp_path / "bad")], f"{tmp_path / 'bad' / 'broken.jpg'}: cannot read"),
        (
            ["--weights", str(tmp_path / "plain.pth"), "--input", str(tmp_path / "bad")],
            "not a segmentation.train checkpoint",
        ),
        (["--weights", str(tmp_path / "none.pth"), "--input", str(tmp_path / "bad")], "checkpoint not found"),
    ]
    for argv, message in cases:
        assert run_cli(predict.main, [*argv, "--output-dir", str(tmp_path / "out"), "--device", "cpu"]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 2"):
        predict.overlay(Image.new("RGB", (2, 2)), np.zeros((2, 2), np.uint8), alpha=2)
