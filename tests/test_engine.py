"""The shared training machinery on a tiny regression task: config, schedule, checkpoints, loop, resume, DDP."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from ghost_backbones.engine import (
    ConfigError,
    DataError,
    NonFiniteLossError,
    TrainConfig,
    apply_overrides,
    build_parser,
    config_from_dict,
    config_to_dict,
    fit,
    load_checkpoint,
    load_config,
    lr_lambda,
    parse_config,
    read_jsonl,
    run_cli,
    save_checkpoint,
)

sys.path.insert(0, str(Path(__file__).parent))
from engine_toy import ToyConfig, ToyTask  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def toy_cfg(tmp_path: Path, *overrides: str) -> ToyConfig:
    base = [
        f"train.output_dir={tmp_path / 'out'}",
        "train.epochs=3",
        "train.batch_size=8",
        "train.workers=0",
        "train.lr=0.03",
        "data.size=64",
        "train.warmup_iters=2",
        "train.lr_steps=[2]",
        "train.device=cpu",
        "train.log_every=1",
    ]
    return load_config(ToyConfig, None, [*base, *overrides])


# ---------------------------------------------------------------- config
def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model:\n  hidden: 16\ntrain:\n  lr: 1e-3\n  lr_steps: [3, 5]\n")
    cfg = load_config(ToyConfig, path, ["train.epochs=7", "model.hidden=4"])
    assert (cfg.model.hidden, cfg.train.lr, cfg.train.lr_steps, cfg.train.epochs) == (4, 1e-3, [3, 5], 7)
    assert config_from_dict(ToyConfig, config_to_dict(cfg)) == cfg
    assert apply_overrides(cfg, ["train.amp=true"]).train.amp is True


def test_unknown_key_lists_valid_keys(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("train:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"r\.yaml: unknown config key\(s\) \['train.learning_rate'\].*train\.lr"):
        load_config(ToyConfig, path)
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['modle'\].*model\.hidden"):
        load_config(ToyConfig, None, ["modle.hidden=3"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs=two", "train.epochs expects an integer, got 'two'"),
        ("train.amp=3", "train.amp expects true/false"),
        ("train.optimizer=adam", r"train.optimizer must be one of \['sgd', 'adamw'\], got 'adam'"),
        ("train.batch_size=0", "train.batch_size must be >= 1, got 0"),
        ("train.lr", "KEY=VALUE"),
    ],
)
def test_bad_values(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ToyConfig, None, [override])


def test_bad_yaml_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found: .*missing.yaml"):
        load_config(ToyConfig, tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: invalid YAML"):
        load_config(ToyConfig, tmp_path / "bad.yaml")


def test_cli_flags_map_to_keys(tmp_path):
    parser = build_parser("toy", ToyConfig, {"--hidden": "model.hidden"})
    cfg = parse_config(
        ToyConfig,
        parser,
        ["--epochs", "5", "--lr", "0.3", "--data-path", "/d", "--hidden", "3", "--opts", "train.seed=9"],
    )
    assert (cfg.train.epochs, cfg.train.lr, cfg.data.root, cfg.model.hidden, cfg.train.seed) == (5, 0.3, "/d", 3, 9)
    assert cfg.train.amp is False  # unset store_true flags do not override


def test_run_cli_prints_error_without_traceback(tmp_path, capsys):
    from engine_toy import main

    code = run_cli(main, ["--opts", "train.nope=1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "train.nope" in err and "Traceback" not in err


class _BadImages(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> torch.Tensor:
        raise DataError(f"images/{index}.jpg: cannot identify image file (corrupt or not an image)")


def test_run_cli_unwraps_errors_raised_in_dataloader_workers(capsys):
    def main(argv):
        next(iter(torch.utils.data.DataLoader(_BadImages(), num_workers=1)))

    assert run_cli(main, []) == 2
    err = capsys.readouterr().err
    assert err == "error: images/0.jpg: cannot identify image file (corrupt or not an image)\n"


# -------------------------------------------------------------- schedule
def test_schedules():
    f = lr_lambda("multistep", total_iters=100, iters_per_epoch=10, steps=[5, 8], warmup_iters=10, warmup_factor=0.1)
    assert f(0) == pytest.approx(0.1) and f(5) == pytest.approx(0.55) and f(10) == 1.0
    assert f(49) == 1.0 and f(50) == pytest.approx(0.1) and f(80) == pytest.approx(0.01)
    cos = lr_lambda("cosine", total_iters=100, iters_per_epoch=10)
    assert cos(0) == 1.0 and cos(50) == pytest.approx(0.5) and cos(100) == pytest.approx(0.0)
    poly = lr_lambda("poly", total_iters=100, iters_per_epoch=10, power=0.9)
    assert poly(50) == pytest.approx(0.5**0.9)
    with pytest.raises(ValueError, match="lr schedule must be one of"):
        lr_lambda("step", total_iters=1, iters_per_epoch=1)


# ------------------------------------------------------------ checkpoint
def test_checkpoint_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pth"
    save_checkpoint(path, {"epoch": 1})

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1  # the old file survived intact
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pth"]  # no temp file left behind


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found: .*nope.pth"):
        load_checkpoint(tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pth: not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pth")


# ------------------------------------------------------------------ loop
def test_fit_writes_outputs_and_learns(tmp_path):
    metrics = fit(ToyTask(toy_cfg(tmp_path, "train.epochs=6", "train.lr_steps=[5]")))
    out = tmp_path / "out"
    assert {"checkpoint.pth", "best.pth", "log.jsonl", "metrics.json"} <= {p.name for p in out.iterdir()}
    log = read_jsonl(out / "log.jsonl")
    train = [r for r in log if r["type"] == "train"]
    assert log[0]["type"] == "start" and len(train) == 48  # 6 epochs x 8 iterations, log_every=1
    epochs = [r for r in log if r["type"] == "epoch"]
    assert epochs[-1]["mse"] < 0.5 * epochs[0]["mse"]  # it learns
    assert train[0]["lr"] < train[2]["lr"]  # warmup
    assert train[-1]["lr"] == pytest.approx(0.003)  # multistep at epoch 5
    ckpt = load_checkpoint(out / "checkpoint.pth")
    assert ckpt["epoch"] == 5 and ckpt["config"]["model"]["hidden"] == 32
    assert metrics["count"] == 10 and load_checkpoint(out / "best.pth")["best"] == max(
        r["neg_mse"] for r in log if r["type"] == "eval"
    )


def test_resume_continues_exactly(tmp_path):
    full = tmp_path / "full"
    fit(ToyTask(toy_cfg(full)))
    part = tmp_path / "part"
    # Interrupted run: stop after epoch 2 of 3 (multistep: same schedule), then resume with the full recipe.
    cfg = toy_cfg(part)
    cfg.train.epochs = 2
    first = ToyTask(cfg)
    fit(first)
    resumed = toy_cfg(part, f"train.resume={part / 'out' / 'checkpoint.pth'}")
    fit(ToyTask(resumed))
    a = load_checkpoint(full / "out" / "checkpoint.pth")
    b = load_checkpoint(part / "out" / "checkpoint.pth")
    assert b["epoch"] == 2
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0)


def test_test_only_writes_metrics(tmp_path):
    fit(ToyTask(toy_cfg(tmp_path)))
    out = tmp_path / "out"
    (out / "metrics.json").unlink()
    metrics = fit(ToyTask(toy_cfg(tmp_path, "train.test_only=true", f"train.resume={out / 'best.pth'}")))
    saved = load_checkpoint(out / "best.pth")
    assert metrics["neg_mse"] == pytest.approx(saved["best"])
    assert (out / "metrics.json").is_file()


def test_non_finite_loss_names_iteration_and_checkpoint(tmp_path):
    cfg = toy_cfg(tmp_path, "model.nan_after=10")
    expected = r"epoch 2, iteration 3 \(global iteration 11\).*checkpoint\.pth \(epoch 1\)"
    with pytest.raises(NonFiniteLossError, match=expected):
        fit(ToyTask(cfg))


@pytest.mark.slow
@pytest.mark.distributed
def test_torchrun_two_cpu_processes(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    args = ["-m", "engine_toy", "--device", "cpu", "--output-dir", str(tmp_path), "--epochs", "2", "-j", "0"]
    proc = subprocess.run(cmd + args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = read_jsonl(tmp_path / "log.jsonl")
    assert log[0]["world_size"] == 2
    evals = [r for r in log if r["type"] == "eval"]
    assert evals[-1]["count"] == 10  # every validation sample counted once across the 2 ranks


def test_section_defaults_of_the_task_survive_partial_overrides():
    @dataclass
    class PolyRecipe:
        train: TrainConfig = field(default_factory=lambda: TrainConfig(lr_scheduler="poly", epochs=30))

    cfg = load_config(PolyRecipe, None, ["train.epochs=2"])
    assert (cfg.train.lr_scheduler, cfg.train.epochs) == ("poly", 2)
    with pytest.raises(ConfigError, match="section 'train' must be a mapping"):
        load_config(PolyRecipe, None, {"train": 3})
