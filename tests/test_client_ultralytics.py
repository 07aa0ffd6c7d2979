"""ultralytics (an optional client, AGPL-3.0, never a dependency): its YOLO ``Detect`` head on GhostNet through
``configs/ultralytics/yolo_ghostnet.yaml`` builds, trains, saves, reloads, validates, predicts and exports, as
README's recipe says. Each step runs in a new interpreter (ultralytics changes process-wide settings); skipped
without ultralytics.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ghost_backbones.data.synthetic import make_shapes_yolo

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ultralytics") is None, reason="ultralytics not installed")

TRAIN = """
import ghost_backbones  # puts ghostnet_features in torchvision's registry, which the YAML's TorchVision module reads
from ultralytics import YOLO
model = YOLO("configs/ultralytics/yolo_ghostnet.yaml")
print("strides", model.model.stride.tolist())
model.train(data="{data}", epochs=1, imgsz=64, batch=4, workers=0, device="cpu", plots=False, amp=False,
            project="{out}", name="train", exist_ok=True)
"""

USE = """
import ghost_backbones
from ultralytics import YOLO
model = YOLO("{out}/train/weights/last.pt")
metrics = model.val(data="{data}", imgsz=64, batch=4, workers=0, device="cpu", plots=False, project="{out}",
                    name="val", exist_ok=True)
results = model.predict("{images}", imgsz=64, device="cpu", verbose=False)
print("predicted", len(results), "map", metrics.box.map >= 0)
print("exported", model.export(format="torchscript", imgsz=64))
"""


def _run(code: str, tmp_path: Path) -> str:
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(tmp_path / "settings"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=500, check=False
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout


def test_yolo_on_ghostnet_trains_reloads_predicts_and_exports(tmp_path: Path) -> None:
    data = make_shapes_yolo(tmp_path / "shapes", num_train=4, num_val=2, image_size=(64, 80)) / "data.yaml"
    out = tmp_path / "runs"
    assert "strides [8.0, 16.0, 32.0]" in _run(TRAIN.format(data=data, out=out), tmp_path)
    assert (out / "train" / "weights" / "last.pt").is_file()
    used = _run(USE.format(data=data, out=out, images=data.parent / "images" / "val"), tmp_path)
    assert "predicted 2 map True" in used
    assert (out / "train" / "weights" / "last.torchscript").is_file()
