"""The engine's training features, once for every task: EMA, SyncBN, accumulation, early stop, grad checkpointing,
TensorBoard, the epoch line and the plots (engine level on the toy task; the plots also in both real tasks)."""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ghost_backbones.engine import PREVIEW_IMAGES, ConfigError, fit, load_checkpoint, load_config, read_jsonl
from ghost_backbones.engine.prepare import convert_sync_batchnorm, enable_grad_checkpointing
from ghost_backbones.engine.tensorboard import flatten_scalars

sys.path.insert(0, str(Path(__file__).parent))
from engine_toy import ToyConfig, ToyTask, main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def toy_cfg(out: Path, *overrides: str) -> ToyConfig:
    """4 batches of 8 per epoch, 2 epochs; plots and TensorBoard off unless a test turns them on."""
    base = [f"train.output_dir={out}", "train.epochs=2", "train.batch_size=8", "train.workers=0", "train.lr=0.03",
            "data.size=32", "train.warmup_iters=2", "train.lr_steps=[1]", "train.device=cpu",
            "train.log_every=1"]  # fmt: skip
    return load_config(ToyConfig, None, [*base, *overrides])


def opened(path: Path) -> np.ndarray:
    """The PNG's pixels, checked to be a real picture (not blank, a sane size)."""
    assert path.is_file(), f"{path} was not written"
    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert pixels.std() > 10, f"{path.name} is blank"
    assert 200 <= pixels.shape[0] <= 3000 and 300 <= pixels.shape[1] <= 4000, pixels.shape
    return pixels


# ------------------------------------------------------------------ config
@pytest.mark.parametrize(
    "override, message",
    [
        ("train.ema_decay=1.0", r"train.ema_decay must be in \[0, 1\) \(0 turns the EMA off\), got 1.0"),
        ("train.ema_decay=-0.1", r"train.ema_decay must be in \[0, 1\)"),
        ("train.accumulate_steps=0", "train.accumulate_steps must be >= 1, got 0"),
        ("train.early_stop_patience=-1", r"train.early_stop_patience must be >= 0 \(0 turns early stopping off\)"),
        ("train.grad_checkpointing=3", "train.grad_checkpointing expects true/false"),
        ("train.tensorboard=yes please", "train.tensorboard expects true/false"),
    ],
)
def test_new_keys_are_checked_at_load(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(ToyConfig, None, [override])


# --------------------------------------------------------------------- EMA
def _hand_ema(states: list[dict[str, torch.Tensor]], decay: float) -> dict[str, torch.Tensor]:
    """ModelEmaV3 with warmup, by hand: after step t (from 1) decay_t = min(decay, 1 - (1 + (t - 1)) ** -2/3)."""
    ema = {k: v.clone().double() if v.is_floating_point() else v.clone() for k, v in states[0].items()}  # t=1: copy
    for t, state in enumerate(states[1:], start=2):
        d = min(decay, 1 - (1 + (t - 1)) ** (-2 / 3))
        for k, v in state.items():
            ema[k] = d * ema[k] + (1 - d) * v.double() if v.is_floating_point() else v.clone()
    return ema


def test_ema_is_the_hand_computed_average_and_what_evaluation_uses(tmp_path: Path) -> None:
    task = ToyTask(toy_cfg(tmp_path / "out", "train.epochs=1", "train.ema_decay=0.5"))
    states: list[dict[str, torch.Tensor]] = []
    step = task.training_step

    def recording_step(model: nn.Module, batch: Any, device: torch.device) -> dict[str, torch.Tensor]:
        if states or task.__dict__.get("seen"):  # the weights after the previous optimizer step
            states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        task.seen = True
        return step(model, batch, device)

    task.training_step = recording_step
    metrics = fit(task)
    ckpt = load_checkpoint(tmp_path / "out" / "checkpoint.pth")
    states.append(ckpt["train_model"])  # after the last (4th) step
    assert len(states) == 4 and ckpt["ema_updates"] == 4
    expected = _hand_ema(states, 0.5)  # decays 0, 0.370, 0.5 (capped), 0.5
    for k, v in ckpt["model"].items():
        torch.testing.assert_close(v.double() if v.is_floating_point() else v, expected[k], rtol=0, atol=1e-6)
    assert not torch.equal(ckpt["model"]["0.weight"], ckpt["train_model"]["0.weight"])
    best = load_checkpoint(tmp_path / "out" / "best.pth")
    assert all(torch.equal(best["model"][k], v) for k, v in ckpt["model"].items())  # best.pth holds the EMA

    def evaluate(weights: dict[str, torch.Tensor]) -> float:
        model = task.build_model()
        model.load_state_dict(weights)
        loader = torch.utils.data.DataLoader(task.build_datasets()[1], batch_size=4)
        with torch.no_grad():
            return task.evaluate(model.eval(), loader, torch.device("cpu"))["neg_mse"]

    assert metrics["neg_mse"] == pytest.approx(evaluate(ckpt["model"]), abs=1e-6)
    assert metrics["neg_mse"] != pytest.approx(evaluate(ckpt["train_model"]), abs=1e-3)
    cfg = toy_cfg(tmp_path / "out", "train.test_only=true", f"train.resume={tmp_path / 'out' / 'best.pth'}")
    assert fit(ToyTask(cfg))["neg_mse"] == pytest.approx(best["best"], abs=1e-9)  # --test-only takes the EMA too


def test_ema_resume_restores_it_exactly(tmp_path: Path) -> None:
    fit(ToyTask(toy_cfg(tmp_path / "full", "train.ema_decay=0.9")))
    fit(ToyTask(toy_cfg(tmp_path / "part", "train.ema_decay=0.9", "train.epochs=1")))
    checkpoint = tmp_path / "part" / "checkpoint.pth"
    with pytest.raises(ConfigError, match="train.accumulate_steps is 1 in the checkpoint, 2 now"):
        fit(ToyTask(toy_cfg(tmp_path / "part", "train.ema_decay=0.9", f"train.resume={checkpoint}",
                            "train.accumulate_steps=2")))  # fmt: skip
    fit(ToyTask(toy_cfg(tmp_path / "part", "train.ema_decay=0.9", f"train.resume={checkpoint}")))
    a, b = load_checkpoint(tmp_path / "full" / "checkpoint.pth"), load_checkpoint(checkpoint)
    assert a["ema_updates"] == b["ema_updates"] == 8 and b["epoch"] == 1
    for part in ("model", "train_model"):  # the EMA and the training weights
        for k in a[part]:
            torch.testing.assert_close(a[part][k], b[part][k], rtol=0, atol=0)


# ------------------------------------------------------------ accumulation
def test_accumulation_matches_the_larger_batch_and_the_schedule_counts_steps(tmp_path: Path, capsys) -> None:
    common = ["data.size=16", "model.batchnorm=false", "train.weight_decay=0.01"]
    weights = {}
    for clip in (0.0, 0.5):  # unclipped (the loss scaling shows) and clipped (on the accumulated gradient)
        for name, batch in (
            ("big", ["train.batch_size=2"]),
            ("acc", ["train.batch_size=1", "train.accumulate_steps=2"]),
        ):
            capsys.readouterr()
            fit(ToyTask(toy_cfg(tmp_path / f"{name}{clip}", *common, *batch, f"train.clip_grad_norm={clip}")))
            weights[name, clip] = load_checkpoint(tmp_path / f"{name}{clip}" / "checkpoint.pth")["model"]
        for k in weights["big", clip]:
            torch.testing.assert_close(weights["acc", clip][k], weights["big", clip][k], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(weights["acc", 0.5]["0.weight"], weights["acc", 0.0]["0.weight"])  # clipping acted
    assert "effective batch 2 = batch_size 1 x accumulate_steps 2 x 1 process(es); 8 optimizer steps" in (
        capsys.readouterr().err
    )
    big, acc = (load_checkpoint(tmp_path / f"{name}0.5" / "checkpoint.pth") for name in ("big", "acc"))
    assert big["scheduler"]["last_epoch"] == acc["scheduler"]["last_epoch"] == 16  # optimizer steps, 2 x 8
    log_big, log_acc = (read_jsonl(tmp_path / f"{name}0.5" / "log.jsonl") for name in ("big", "acc"))
    start = next(r for r in log_acc if r["type"] == "start")
    assert (start["iters_per_epoch"], start["steps_per_epoch"], start["effective_batch"]) == (16, 8, 2)
    assert all(r["effective_batch"] == 2 for r in log_acc + log_big if r["type"] == "epoch")
    lr_big = {r["step"]: r["lr"] for r in log_big if r["type"] == "train"}
    lr_acc = {r["step"]: r["lr"] for r in log_acc if r["type"] == "train"}
    assert set(lr_acc) == set(lr_big) | {0}  # step 0: the first batch, before the first optimizer step
    assert {s: lr_acc[s] for s in lr_big} == lr_big  # warmup (2 steps), the multistep drop (epoch 1 = step 8)
    assert lr_acc[7] == pytest.approx(0.03) and lr_acc[8] == pytest.approx(0.003)


@pytest.mark.slow
@pytest.mark.distributed
def test_two_processes_accumulating_with_an_ema_equal_one_process_with_the_whole_batch(tmp_path: Path) -> None:
    """2 ranks x batch 1 x 2 accumulated batches (DDP, no_sync) = 1 process x batch 4: the same samples per step."""
    opts = ["model.batchnorm=false", "data.size=16", "train.ema_decay=0.9", "train.warmup_iters=2", "train.lr=0.03"]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "engine_toy"]
    args = ["--device", "cpu", "--epochs", "2", "-j", "0"]
    ddp = [*args, "--output-dir", str(tmp_path / "ddp"), "-b", "1", "--opts", *opts, "train.accumulate_steps=2"]
    proc = subprocess.run(cmd + ddp, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "effective batch 4 = batch_size 1 x accumulate_steps 2 x 2 process(es)" in proc.stderr
    main([*args, "--output-dir", str(tmp_path / "one"), "-b", "4", "--opts", *opts])
    a, b = (load_checkpoint(tmp_path / name / "checkpoint.pth") for name in ("ddp", "one"))
    assert a["ema_updates"] == b["ema_updates"] == 8
    for part in ("model", "train_model"):  # the EMA (of the unwrapped model: same keys) and the training weights
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            torch.testing.assert_close(a[part][k], b[part][k], rtol=1e-5, atol=1e-6)


# -------------------------------------------------------------- early stop
def test_early_stop_stops_says_so_and_stays_stopped(tmp_path: Path, capsys) -> None:
    cfg = toy_cfg(tmp_path / "out", "train.epochs=6", "train.early_stop_patience=2")
    task = ToyTask(cfg)
    scores = iter([-3.0, -2.0, -2.5, -2.2, -1.0, -0.5])  # no new best at evaluations 3 and 4
    task.evaluate = lambda model, loader, device: {"neg_mse": next(scores), "count": 10}
    fit(task)
    log = read_jsonl(tmp_path / "out" / "log.jsonl")
    assert [r["epoch"] for r in log if r["type"] == "epoch"] == [0, 1, 2, 3]  # 4 of 6 epochs ran
    stop = [r for r in log if r["type"] == "early_stop"]
    assert len(stop) == 1 and stop[0]["epoch"] == 3 and stop[0]["best"] == -2.0 and stop[0]["patience"] == 2
    err = capsys.readouterr().err
    assert err.count("early stop") == 1
    assert "note: early stop after epoch 4 of 6: neg_mse has not improved on its best -2.0000 for 2 evaluations" in err
    ckpt = load_checkpoint(tmp_path / "out" / "checkpoint.pth")
    assert (ckpt["epoch"], ckpt["stale_evals"], load_checkpoint(tmp_path / "out" / "best.pth")["epoch"]) == (3, 2, 1)
    fit(ToyTask(toy_cfg(tmp_path / "out", "train.epochs=6", "train.early_stop_patience=2", "train.resume=auto")))
    assert "stopped early, no better neg_mse for 2 evaluations (epoch 4 of 6): nothing to train" in (
        capsys.readouterr().err
    )
    assert len(read_jsonl(tmp_path / "out" / "log.jsonl")) == len(log)


# ------------------------------------------------------------------ SyncBN
def test_sync_bn_converts_only_distributed_runs(tmp_path: Path) -> None:
    def net() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm2d(4)))

    converted = convert_sync_batchnorm(net(), distributed=True)
    assert [type(m).__name__ for m in converted.modules() if "BatchNorm" in type(m).__name__] == ["SyncBatchNorm"] * 2
    single = net()
    assert convert_sync_batchnorm(single, distributed=False, device=torch.device("cpu")) is single
    with pytest.raises(ConfigError, match="train.sync_bn: SyncBatchNorm needs CUDA devices"):
        convert_sync_batchnorm(net(), distributed=True, device=torch.device("cpu"))
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in single.modules())
    task, seen = ToyTask(toy_cfg(tmp_path, "train.sync_bn=true", "train.epochs=1")), []
    step = task.training_step
    task.training_step = lambda model, batch, device: seen.append(model) or step(model, batch, device)
    fit(task)  # one process: the engine leaves BatchNorm alone
    assert {type(m).__name__ for m in seen[0].modules()} >= {"BatchNorm1d"}
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in seen[0].modules())


# -------------------------------------------------------- grad checkpointing
class _Checkpointable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.grad_checkpointing = False

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.mark.parametrize("enabled", [True, False])
def test_grad_checkpointing_flag_reaches_every_module_that_has_it(tmp_path: Path, enabled: bool) -> None:
    task = ToyTask(toy_cfg(tmp_path, f"train.grad_checkpointing={str(enabled).lower()}", "train.epochs=1"))
    build, seen = task.build_model, []
    task.build_model = lambda: seen.append(nn.Sequential(build(), nn.Sequential(_Checkpointable()))) or seen[-1]
    fit(task)
    assert seen[0][1][0].grad_checkpointing is enabled


def test_grad_checkpointing_reaches_the_backbones_and_keeps_the_gradients() -> None:
    from detection.config import DetectionConfig
    from detection.models import build_model as build_detector
    from segmentation.config import SegmentationConfig
    from segmentation.models import build_model as build_segmenter

    det = build_detector(load_config(DetectionConfig, None, ["model.backbone.width=0.5", "model.num_classes=3"]).model)
    cfg = load_config(SegmentationConfig, None, ["model.backbone.width=0.5", "data.class_names=[a, b, c]"])
    torch.manual_seed(0)
    seg, plain = build_segmenter(cfg.model), build_segmenter(cfg.model)
    plain.load_state_dict(seg.state_dict())
    for model in (det, seg):
        assert enable_grad_checkpointing(model) == ["backbone.body"]
        flags = [m.grad_checkpointing for m in model.modules() if hasattr(m, "grad_checkpointing")]
        assert flags and all(flags)
    x, target = torch.rand(2, 3, 64, 64), torch.randint(0, 3, (2, 64, 64))
    for model in (seg, plain):
        torch.manual_seed(1)  # the same dropout masks in the head
        nn.functional.cross_entropy(model.train()(x)["out"], target).backward()
    for (name, a), b in zip(seg.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6, msg=name)


# ------------------------------------------------- TensorBoard and console
def test_tensorboard_scalars_and_the_epoch_line(tmp_path: Path, capsys) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    fit(ToyTask(toy_cfg(tmp_path, "train.tensorboard=true")))
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/mse", "train/lr", "epoch/loss", "neg_mse", "count"} <= tags
    evals = [r for r in read_jsonl(tmp_path / "log.jsonl") if r["type"] == "eval"]
    assert [(e.step, e.value) for e in events.Scalars("neg_mse")] == [
        (4, pytest.approx(evals[0]["neg_mse"])),
        (8, pytest.approx(evals[1]["neg_mse"])),
    ]
    assert len(events.Scalars("train/lr")) == 8
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if line.startswith("epoch ")]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2: loss ") and "neg_mse " in lines[0]
    assert "ETA " in lines[0] and "ETA" not in lines[1] and lines[1].endswith(" s")
    # Epoch 2 again from the checkpoint of epoch 1: TensorBoard hides the first try's events after that checkpoint.
    fit(ToyTask(toy_cfg(tmp_path, "train.tensorboard=true", f"train.resume={tmp_path / 'checkpoint_prev.pth'}")))
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert len(list((tmp_path / "tb").glob("events.out.tfevents.*"))) == 2
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 9))
    assert [e.step for e in events.Scalars("neg_mse")] == [4, 8]


def test_tensorboard_missing_is_one_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    real_import = builtins.__import__

    def no_tensorboard(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith(("torch.utils.tensorboard", "tensorboard")):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    fit(ToyTask(toy_cfg(tmp_path, "train.tensorboard=true")))
    assert capsys.readouterr().err.count("tensorboard is not installed") == 1
    assert not (tmp_path / "tb").exists() and (tmp_path / "checkpoint.pth").is_file()


def test_flatten_scalars_takes_every_number() -> None:
    metrics = {"mIoU": 40.0, "per_class_IoU": {"a": 50.0, "b": None}, "absent_classes": ["b"], "ok": True}
    assert flatten_scalars(metrics) == {"mIoU": 40.0, "per_class_IoU/a": 50.0}


# ------------------------------------------------------------------- plots
def test_engine_draws_training_curves_and_a_failing_plot_is_a_warning(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    task = ToyTask(toy_cfg(tmp_path, "train.plots=true"))

    def broken(metrics: dict, folder: Path) -> list:
        raise RuntimeError("no picture today")

    task.plot = broken
    with pytest.warns(UserWarning, match=r"plots skipped: .*broken failed \(RuntimeError: no picture today\)"):
        fit(task)
    assert opened(tmp_path / "plots" / "training_curves.png").shape[1] > 1000  # three panels
    assert (tmp_path / "checkpoint.pth").is_file()


def tensorboard_predictions(folder: Path) -> dict[str, tuple[int, int]]:
    """The ``predictions/*`` images of a run's TensorBoard events: tag -> (height, width) of the last one."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"images": 0})
    events.Reload()
    tags = [tag for tag in events.Tags()["images"] if tag.startswith("predictions/")]
    return {tag: (events.Images(tag)[-1].height, events.Images(tag)[-1].width) for tag in tags}


def test_detection_run_draws_its_plots(coco_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from detection.train import main

    tiny = ["model.backbone.width=0.5", "model.fpn_channels=32", "model.box_head_fcs=[64, 64]",
            "model.box_batch_size_per_image=64", "model.rpn_post_nms_top_n_train=200",
            "model.rpn_post_nms_top_n_test=100", "train.warmup_iters=3", "train.lr=0.02", "data.val_batch_size=3",
            "model.box_score_thresh=0.0"]  # fmt: skip
    main(["--data-path", str(coco_root), "--output-dir", str(tmp_path), "--epochs", "1", "--batch-size", "4",
          "--workers", "0", "--device", "cpu", "--min-size", "96", "--max-size", "128", "--opts", *tiny])  # fmt: skip
    for name in ("training_curves", "pr_curves", "per_class_ap"):
        opened(tmp_path / "plots" / f"{name}.png")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert isinstance(metrics["bbox"]["per_category"], list)  # the PR array stays out of metrics.json
    assert "precision" not in json.dumps(metrics)
    # TensorBoard: the first validation images with their detections drawn, at the images' own size.
    val_images = json.loads((coco_root / "annotations" / "instances_val2017.json").read_text())["images"]
    sizes = [(image["height"], image["width"]) for image in val_images[:PREVIEW_IMAGES]]
    assert tensorboard_predictions(tmp_path / "tb") == {f"predictions/{i}": hw for i, hw in enumerate(sizes)}


def test_segmentation_run_draws_its_plots(voc_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from segmentation.train import main

    main(["--data-path", str(voc_root), "--output-dir", str(tmp_path), "--epochs", "1", "--workers", "0",
          "--device", "cpu", "--batch-size", "4", "--crop-size", "64", "--base-size", "64",
          "--opts", "model.backbone.width=0.5", "data.class_names=[background, circle, square, triangle]",
          "train.warmup_iters=3", "train.lr=0.05"])  # fmt: skip
    for name in ("training_curves", "confusion_matrix", "per_class_iou"):
        opened(tmp_path / "plots" / f"{name}.png")
    # TensorBoard: prediction beside ground truth for the first validation images (twice a mask's width).
    voc = voc_root / "VOCdevkit" / "VOC2012"
    ids = (voc / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[:PREVIEW_IMAGES]
    sizes = [Image.open(voc / "JPEGImages" / f"{i}.jpg").size for i in ids]
    assert tensorboard_predictions(tmp_path / "tb") == {
        f"predictions/{i}": (h, 2 * w) for i, (w, h) in enumerate(sizes)
    }
