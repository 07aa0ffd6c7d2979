"""Training entry point end to end on tiny synthetic COCO data: loss falls, metrics, resume, test-only, DDP."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import TINY_FASTER_RCNN, overrides_for

from detection.models import MODELS
from detection.task import DetectionTask
from detection.train import main, parse_args
from ghost_backbones.engine import load_checkpoint, read_jsonl, run_cli

# A tiny detector and short schedule: seconds per epoch on 2 CPU cores.
TINY = [
    *TINY_FASTER_RCNN,
    "train.warmup_iters=3",
    "train.lr=0.02",
    "train.log_every=1",
    "data.val_batch_size=3",
]


def args(root, out, *extra, epochs=1, opts=()):
    return [
        "--data-path", str(root), "--output-dir", str(out), "--epochs", str(epochs), "--batch-size", "4",
        "--workers", "0", "--device", "cpu", "--min-size", "128", "--max-size", "160",
        *extra, "--opts", *TINY, *opts,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def trained(coco_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("det_train")
    metrics = main(args(coco_root, out, epochs=4, opts=["train.lr_scheduler=cosine"]))
    return out, metrics


def test_training_loss_falls_and_outputs_are_written(trained):
    out, metrics = trained
    assert {p.name for p in out.iterdir()} >= {"checkpoint.pth", "best.pth", "log.jsonl", "metrics.json"}
    epochs = [r for r in read_jsonl(out / "log.jsonl") if r["type"] == "epoch"]
    assert len(epochs) == 4
    assert epochs[-1]["loss"] < 0.75 * epochs[0]["loss"], [e["loss"] for e in epochs]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["epoch"] == 3
    box = saved["bbox"]
    assert set(box) >= {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"}
    assert [(c["id"], c["name"]) for c in box["per_category"]] == [(1, "circle"), (3, "square"), (7, "triangle")]
    assert saved["images"] == 6 and saved["skipped_images"] == 0
    assert box == metrics["bbox"]


def test_checkpoint_carries_categories_and_classes(trained):
    out, _ = trained
    state = load_checkpoint(out / "checkpoint.pth")
    assert state["config"]["data"]["categories"] == [
        {"id": 1, "name": "circle"},
        {"id": 3, "name": "square"},
        {"id": 7, "name": "triangle"},
    ]
    assert state["config"]["model"]["num_classes"] == 4
    assert state["model"]["roi_heads.box_predictor.cls_score.weight"].shape[0] == 4
    assert {"optimizer", "scheduler", "scaler", "epoch"} <= set(state)


def test_test_only_reproduces_the_evaluation(trained, coco_root, tmp_path):
    out, metrics = trained
    again = main(args(coco_root, tmp_path, "--test-only", "--resume", str(out / "checkpoint.pth")))
    assert again["bbox"]["AP"] == pytest.approx(metrics["bbox"]["AP"], abs=1e-9)
    assert json.loads((tmp_path / "metrics.json").read_text())["epoch"] == 3


def test_resume_continues_exactly(coco_root, tmp_path):
    straight = tmp_path / "straight"
    main(args(coco_root, straight, epochs=2))
    split = tmp_path / "split"
    main(args(coco_root, split, epochs=1))
    main(args(coco_root, split, "--resume", str(split / "checkpoint.pth"), epochs=2))
    a, b = load_checkpoint(straight / "checkpoint.pth"), load_checkpoint(split / "checkpoint.pth")
    assert a["epoch"] == b["epoch"] == 1
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=1e-4, atol=1e-5, msg=key)
    # The resumed run logged epoch 2 only, with the same loss as the straight run's epoch 2.
    loss = [[r["loss"] for r in read_jsonl(p / "log.jsonl") if r["type"] == "epoch"] for p in (straight, split)]
    assert loss[1][-1] == pytest.approx(loss[0][-1], rel=1e-4)


def test_cli_errors_are_clear(coco_root, tmp_path, capsys):
    assert run_cli(main, args(coco_root, tmp_path, opts=["model.nope=1"])) == 2
    err = capsys.readouterr().err
    assert "['model.nope'] not read by model.arch='faster_rcnn'; its keys: " in err and "model.fpn_channels" in err
    assert run_cli(main, args(tmp_path / "nowhere", tmp_path)) == 2
    assert "error: image folder not found:" in capsys.readouterr().err
    assert run_cli(main, args(coco_root, tmp_path, opts=["model.num_classes=3"])) == 2
    assert "model.num_classes=3 is too small for the 3 categories" in capsys.readouterr().err


def test_flags_map_to_config_keys():
    cfg = parse_args(["--min-size", "512", "--max-size", "640", "--lr", "0.01", "--skip-bad-images",
                      "--opts", "model.out_indices=[1, 2, 3, 4]", "data.train_min_sizes=[480, 512]"])  # fmt: skip
    assert (cfg.model.min_size, cfg.model.max_size, cfg.train.lr) == (512, 640, 0.01)
    assert cfg.data.skip_bad_images and cfg.model.out_indices == [1, 2, 3, 4]
    assert cfg.data.train_min_sizes == [480, 512]


def test_coco_recipe_loads():
    cfg = parse_args(["--config", str(Path(__file__).parents[1] / "configs" / "faster_rcnn_ghostnet_fpn_coco.yaml")])
    assert (cfg.model.min_size, cfg.model.max_size) == (800, 1333)
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.epochs, cfg.train.lr_steps) == (2, 0.02, 26, [16, 22])


def test_ssdlite_recipe_trains_with_the_iou_crop_and_evaluates_without(coco_root):
    recipe = Path(__file__).parents[1] / "configs" / "ssdlite_ghostnet_coco.yaml"
    cfg = parse_args(["--config", str(recipe), "--data-path", str(coco_root), "--opts", "data.augmentation=ssd"])
    train, val = DetectionTask(cfg).build_datasets()
    steps = [type(t).__name__ for t in train.transforms.transforms]
    assert steps[1:6] == ["RandomPhotometricDistort", "RandomZoomOut", "RandomIoUCrop", "RandomShortestSize",
                          "RandomHorizontalFlip"]  # fmt: skip
    assert not any("Random" in type(t).__name__ for t in val.transforms.transforms)
    assert parse_args(["--config", str(recipe)]).data.augmentation == "ssdlite"  # torchvision's SSDLite recipe


@pytest.mark.parametrize("arch", ["ssdlite", "ssdlite320_mobilenet_v3_large", "faster_rcnn"])
def test_training_input_size(arch, coco_root):
    """SSD trains on its fixed square whatever the crop left; the others on the data pipeline's sizes."""
    opts = ["model.out_indices=[3, 4]", "model.min_size=128", "model.max_size=128", f"model.arch={arch}"]
    task = DetectionTask(parse_args(["--data-path", str(coco_root), "--opts", *overrides_for(MODELS, arch, opts)]))
    task.build_datasets()  # the data (and its classes) first, as the engine builds a task
    model = task.build_model().train()
    target = {"boxes": torch.tensor([[10.0, 10.0, 50.0, 30.0]]), "labels": torch.tensor([1])}
    images, targets = model.transform([torch.rand(3, 60, 90)], [target])
    square = {"ssdlite": (128, 128), "ssdlite320_mobilenet_v3_large": (320, 320)}
    assert tuple(images.tensors.shape[-2:]) == square.get(arch, (64, 96))  # faster_rcnn: padded to 32, not resized
    if arch in square:
        h, w = square[arch]
        expected = torch.tensor([[10 * w / 90, 10 * h / 60, 50 * w / 90, 30 * h / 60]])
        torch.testing.assert_close(targets[0]["boxes"], expected)


@pytest.mark.slow
@pytest.mark.distributed
def test_distributed_two_processes_merge_evaluation(coco_root, tmp_path):
    """torchrun with 2 CPU processes (gloo): each rank evaluates half the images, the metrics cover all of them."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    # One image per evaluation batch: a batch is padded to its largest image, so batches made of other images
    # (each rank takes every other one) would change the detections slightly.
    one = ["data.val_batch_size=1"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29731",
           "-m", "detection.train", *args(coco_root, tmp_path / "ddp", epochs=1, opts=one)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert ddp["images"] == 6 and ddp["skipped_images"] == 0
    start = next(r for r in read_jsonl(tmp_path / "ddp" / "log.jsonl") if r["type"] == "start")
    assert start["world_size"] == 2
    single = main(
        args(
            coco_root,
            tmp_path / "single",
            "--test-only",
            "--resume",
            str(tmp_path / "ddp" / "checkpoint.pth"),
            opts=one,
        )
    )
    assert single["bbox"]["AP"] == pytest.approx(ddp["bbox"]["AP"], abs=1e-6)
    assert single["bbox"]["AR100"] == pytest.approx(ddp["bbox"]["AR100"], abs=1e-6)
