"""Both demos through the shared runner, on tiny settings (the real runs take minutes): every stage, every output."""

import json
from pathlib import Path

import pytest

from detection.demo import SPEC as DETECTION
from ghost_backbones.demo import StageClock, run_demo
from ghost_backbones.engine import read_jsonl
from segmentation.demo import SPEC as SEGMENTATION

TINY = {
    "detection": [
        "model.min_size=96", "model.max_size=96", "model.backbone.width=0.5", "model.fpn_channels=32",
        "model.box_head_fcs=[64, 64]", "train.epochs=1", "train.eval_every=1", "train.warmup_iters=2",
        "train.workers=0",
    ],
    "segmentation": [
        "train.epochs=1", "train.eval_every=1", "data.crop_size=64", "data.base_size=64", "model.backbone.width=0.5",
        "train.warmup_iters=2",
    ],
}  # fmt: skip


@pytest.mark.parametrize("spec", [DETECTION, SEGMENTATION], ids=["detection", "segmentation"])
def test_demo_runs_every_stage_and_compares(spec, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    size = 96 if spec is DETECTION else 64
    result = run_demo(spec, tmp_path, num_train=8, num_val=4, image_size=size, overrides=TINY[spec.task_cls.name],
                      compare=True)  # fmt: skip
    ours = next(iter(spec.recipes))
    assert list(result["runs"]) == ["ours", *spec.baselines[ours]]
    assert [run["arch"] for run in result["runs"].values()] == [ours, *spec.baselines[ours]]
    assert list(result["stages"]) == ["synthetic data", "train ours", "draw predictions"] + [
        f"train {arch}" for arch in spec.baselines[ours]
    ]
    for name, run in result["runs"].items():
        folder = tmp_path / "runs" / name
        assert {"best.pth", "checkpoint.pth", "log.jsonl", "metrics.json"} <= {p.name for p in folder.iterdir()}
        evals = [r for r in read_jsonl(folder / "log.jsonl") if r["type"] == "eval"]
        assert evals and evals[-1]["epoch"] == 0
        written = json.loads((folder / "metrics.json").read_text())
        assert written == {**run["metrics"], "epoch": 0}
        # Where the time went: the epoch's training and the evaluation, both inside the run's whole time.
        assert run["epochs_seconds"] > 0 and run["eval_seconds"] > 0
        assert run["epochs_seconds"] + run["eval_seconds"] <= run["train_seconds"]
        assert evals[-1]["seconds"] == pytest.approx(run["eval_seconds"], abs=0.05)
    saved = json.loads((tmp_path / "comparison.json").read_text())
    assert saved["runs"] == json.loads(json.dumps(result["runs"]))
    drawn = sorted((tmp_path / "predictions").iterdir())
    assert len([p for p in drawn if p.suffix in (".jpg", ".png")]) >= 4
    printed = capsys.readouterr().out
    for stage in result["stages"]:
        assert f"] {stage}: " in printed
    assert printed.count("      training ") == len(result["runs"]) and "evaluation " in printed
    assert f"{ours} and its baselines from scratch on 8 synthetic images" in printed
    assert f"predictions: {tmp_path / 'predictions'} (4 drawn images)" in printed


def test_demo_recipe_must_exist(tmp_path: Path) -> None:
    from dataclasses import replace

    with pytest.raises(FileNotFoundError, match="demo recipe not found: .*missing.yaml"):
        run_demo(replace(DETECTION, recipes={"faster_rcnn": tmp_path / "missing.yaml"}), tmp_path)
    with pytest.raises(
        ValueError, match=r"--arch must be one of \['faster_rcnn', 'fcos', 'mask_rcnn', 'retinanet', 'ssdlite'\]"
    ):
        run_demo(DETECTION, tmp_path, arch="yolo")


def test_stage_clock_prints_and_keeps_each_stage(capsys: pytest.CaptureFixture) -> None:
    clock = StageClock(total=2)
    with clock("a"):
        pass
    with clock("b"):
        pass
    assert list(clock.seconds) == ["a", "b"] and all(s >= 0 for s in clock.seconds.values())
    assert capsys.readouterr().out.splitlines() == ["[1/2] a: 0.0 s", "[2/2] b: 0.0 s"]


def test_demo_never_writes_over_an_earlier_one(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    earlier = tmp_path / "demo"
    earlier.mkdir()
    (earlier / "comparison.json").write_text("{}")
    result = run_demo(SEGMENTATION, earlier, num_train=4, num_val=2, image_size=64, overrides=TINY["segmentation"])
    assert (earlier / "comparison.json").read_text() == "{}"
    assert (tmp_path / "demo_2" / "comparison.json").is_file() and result["runs"]["ours"]["metrics"]
    assert f"note: {earlier} holds an earlier run (kept); this demo writes to {tmp_path / 'demo_2'}" in (
        capsys.readouterr().out
    )


def test_segmentation_demo_has_every_head_against_both_torchvision_heads(capsys: pytest.CaptureFixture) -> None:
    """``--arch`` offers each of our heads; each demo recipe is the default one with the head swapped, so that the
    baselines ``--compare`` trains (both torchvision heads, every time) see the same recipe whichever head is ours."""
    import yaml

    from segmentation.demo import main
    from segmentation.models import MODELS

    heads = MODELS.names(baselines=False)
    assert list(SEGMENTATION.recipes) == heads
    assert all(SEGMENTATION.baselines[arch] == ("deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")
               for arch in heads)  # fmt: skip
    default = yaml.safe_load(SEGMENTATION.recipes["deeplabv3"].read_text())
    for arch, path in SEGMENTATION.recipes.items():
        recipe = yaml.safe_load(path.read_text())
        assert recipe["model"]["arch"] == arch and not recipe["model"]["backbone"]["pretrained"]
        assert (recipe["data"], recipe["train"], recipe["model"].get("aux_loss", False)) == (
            default["data"],
            default["train"],
            False,
        ), f"{path.name} differs from {SEGMENTATION.recipes['deeplabv3'].name} outside the model"
    with pytest.raises(SystemExit):
        main(["--arch", "unet"])
    err = capsys.readouterr().err
    assert "--arch: invalid choice: 'unet'" in err and all(f"'{arch}'" in err for arch in heads)
