"""Two CPU processes under torchrun: DDP training runs and the mIoU reduced across ranks equals one process's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ghost_backbones.engine import read_jsonl
from segmentation import train

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "--workers", "0", "--device", "cpu", "--batch-size", "2", "--crop-size", "64", "--base-size", "64",
    "--opts", "model.backbone.width=0.5", "data.class_names=[background, circle, square, triangle]",
    "train.warmup_iters=2", "train.lr=0.02",
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.distributed
def test_torchrun_two_processes(voc_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    args = ["--data-path", str(voc_root), "--output-dir", str(out), "--epochs", "1"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [*cmd, "-m", "segmentation.train", *args, *TINY], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    start = next(r for r in read_jsonl(out / "log.jsonl") if r["type"] == "start")
    assert start["world_size"] == 2 and start["iters_per_epoch"] == 3  # 12 images / (2 ranks x 2)
    ddp = json.loads((out / "metrics.json").read_text())
    # each rank evaluated half of the 6 validation images; the summed confusion matrix must give the full figures
    single = train.main(
        ["--data-path", str(voc_root), "--output-dir", str(tmp_path / "one"), "--test-only"]
        + ["--weights", str(out / "best.pth"), *TINY]
    )
    assert ddp["mIoU"] == pytest.approx(single["mIoU"], abs=1e-9)
    assert ddp["per_class_IoU"] == pytest.approx(single["per_class_IoU"])
