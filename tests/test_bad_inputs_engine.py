"""Bad input to the shared engine: one clear line, nothing a finished run wrote overwritten, notices for each choice."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from ghost_backbones.engine import ConfigError, DataError, fit, load_checkpoint, load_config, read_jsonl, run_cli
from ghost_backbones.engine.checkpoint import UnreadableCheckpointError, previous_path, save_checkpoint
from ghost_backbones.engine.jsonl import drop_superseded

sys.path.insert(0, str(Path(__file__).parent))
from engine_toy import ToyConfig, ToyTask, main  # noqa: E402
from helpers import snapshot  # noqa: E402

FLAGS = ["--epochs", "2", "--batch-size", "8", "--workers", "0", "--device", "cpu", "--lr", "0.03"]
OPTS = ["data.size=32", "train.warmup_iters=2", "train.lr_steps=[1]", "train.log_every=1"]


def cli(out: Path, *extra: str, opts: tuple[str, ...] = ()) -> list[str]:
    """Toy CLI arguments: ``extra`` flags after the base flags (the last one wins), ``opts`` after the base opts."""
    return ["--output-dir", str(out), *FLAGS, *extra, "--opts", *OPTS, *opts]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch toy run."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert run_cli(main, cli(out)) == 0
    return out


def copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


# ------------------------------------------------------------------ one clear line
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--device", "tpu0"], "error: --device 'tpu0' is not a device: use auto, cpu, cuda, cuda:N or mps"),
        (["--test-only"], "error: --test-only needs the weights to evaluate: pass --weights CKPT or --resume CKPT"),
        (["--lr", "nan"], "train.lr must be a finite number > 0, got nan"),
        (["--lr", "inf"], "train.lr must be a finite number > 0, got inf"),
    ],
)
def test_bad_flags_give_one_error_line(tmp_path, capsys, flags, message):
    assert run_cli(main, cli(tmp_path / "out", *flags)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.endswith(f"{message}\n") and err.count("\n") == 1
    assert not (tmp_path / "out" / "checkpoint.pth").exists()


def test_output_dir_that_is_a_file_is_refused_untouched(tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("my notes")
    before = snapshot(tmp_path)
    assert run_cli(main, cli(target)) == 2
    assert capsys.readouterr().err == f"error: train.output_dir (--output-dir) {target} is a file, not a folder\n"
    assert snapshot(tmp_path) == before


def test_unwritable_output_dir_is_refused_before_data_and_model(tmp_path, capsys, monkeypatch):
    out = tmp_path / "locked"
    out.mkdir()
    built = []
    monkeypatch.setattr(ToyTask, "build_model", lambda self: built.append("model"))
    monkeypatch.setattr(ToyTask, "build_datasets", lambda self: built.append("data"))
    real = tempfile.mkstemp

    def no_write(*args, **kwargs):  # as a read-only folder answers (tests may run as root, who can write anywhere)
        if Path(kwargs.get("dir", "")) == out:
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", no_write)
    assert run_cli(main, cli(out)) == 2
    assert (
        capsys.readouterr().err == f"error: train.output_dir (--output-dir) {out} is not writable (Permission denied)\n"
    )
    assert built == [] and list(out.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_dir_for_real(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir(mode=0o555)
    assert run_cli(main, cli(out)) == 2
    assert "is not writable" in capsys.readouterr().err


def test_output_dir_under_a_file_cannot_be_created(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert run_cli(main, cli(tmp_path / "file" / "run")) == 2
    assert "error: train.output_dir (--output-dir) " in capsys.readouterr().err


def test_empty_validation_set_is_an_error(tmp_path, monkeypatch):
    build = ToyTask.build_datasets
    monkeypatch.setattr(
        ToyTask, "build_datasets", lambda self: (build(self)[0], TensorDataset(torch.zeros(0, 4), torch.zeros(0, 1)))
    )
    cfg = load_config(ToyConfig, None, [f"train.output_dir={tmp_path}", "train.device=cpu", "train.workers=0"])
    with pytest.raises(DataError, match="the validation set is empty: nothing to evaluate or to choose best.pth on"):
        fit(ToyTask(cfg))
    assert not (tmp_path / "best.pth").exists()


def test_warnings_are_one_line(capsys):
    import warnings

    def warn(argv):
        warnings.warn("ann.json: dropped 2 annotation(s) with box entirely outside its image", stacklevel=2)

    assert run_cli(warn, []) == 0
    assert capsys.readouterr().err == (
        "warning: ann.json: dropped 2 annotation(s) with box entirely outside its image\n"
    )


def test_os_errors_are_one_line(capsys):
    def full(argv):
        raise OSError(28, "No space left on device", "runs/x/checkpoint.pth")

    assert run_cli(full, []) == 2
    assert capsys.readouterr().err == "error: [Errno 28] No space left on device: 'runs/x/checkpoint.pth'\n"


# ------------------------------------------------------------------ a finished run's files are never overwritten
def test_test_only_keeps_the_runs_metrics(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path / "run")
    before = snapshot(run)
    for name in ("metrics_test.json", "metrics_test_2.json"):
        assert run_cli(main, cli(run, "--test-only", "--resume", "auto")) == 0
        assert f"note: --test-only: evaluation written to {run / name} (the run's metrics.json is kept)" in (
            capsys.readouterr().err
        )
    after = snapshot(run)
    for kept in ("metrics.json", "checkpoint.pth", "best.pth"):
        assert after[kept] == before[kept], kept
    assert read_jsonl(run / "log.jsonl")[-1]["type"] == "test"


def test_new_run_over_a_finished_one_is_refused(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path / "run")
    before = snapshot(run)
    assert run_cli(main, cli(run)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run} already holds a run (checkpoint.pth, best.pth, metrics.json)")
    assert "--resume auto" in err
    assert snapshot(run) == before


def test_resume_auto_on_a_finished_run_says_so_and_writes_nothing(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path / "run")
    before = snapshot(run)
    assert run_cli(main, cli(run, "--resume", "auto")) == 0
    err = capsys.readouterr().err
    assert f"note: {run / 'checkpoint.pth'} ends the run (epoch 2 of 2): nothing to train" in err
    assert snapshot(run) == before


def test_resume_auto_in_an_empty_folder_says_it_starts_from_scratch(tmp_path, capsys):
    assert run_cli(main, cli(tmp_path / "new", "--resume", "auto")) == 0
    assert f"note: --resume auto: no checkpoint in {tmp_path / 'new'}, starting from scratch" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "new" / "checkpoint.pth")["epoch"] == 1


def test_resume_with_another_recipe_is_refused(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path / "run")
    before = snapshot(run)
    assert (
        run_cli(main, cli(run, "--resume", "auto", "--epochs", "4", "--lr", "0.001", opts=("train.momentum=0.5",))) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot resume {run / 'checkpoint.pth'} with another recipe: ")
    assert "train.lr is 0.03 in the checkpoint, 0.001 now" in err and "train.momentum is 0.9" in err
    assert "train.epochs" not in err.split(". The optimizer")[0]  # epochs may grow
    assert snapshot(run) == before


def test_resume_may_train_longer(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path / "run")
    assert run_cli(main, cli(run, "--resume", "auto", "--epochs", "3")) == 0
    err = capsys.readouterr().err
    assert f"note: resuming from {run / 'checkpoint.pth'}: epoch 3 of 3, train.epochs 2 -> 3" in err
    assert load_checkpoint(run / "checkpoint.pth")["epoch"] == 2
    assert load_checkpoint(previous_path(run / "checkpoint.pth"))["epoch"] == 1


def test_previous_checkpoint_is_kept(finished):
    assert load_checkpoint(finished / "checkpoint.pth")["epoch"] == 1
    assert load_checkpoint(finished / "checkpoint_prev.pth")["epoch"] == 0


def test_keep_previous_is_atomic_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "checkpoint.pth"
    save_checkpoint(path, {"epoch": 0}, keep_previous=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pth"]
    save_checkpoint(path, {"epoch": 1}, keep_previous=True)
    save_checkpoint(path, {"epoch": 2}, keep_previous=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pth", "checkpoint_prev.pth"]
    assert load_checkpoint(path)["epoch"] == 2 and load_checkpoint(previous_path(path))["epoch"] == 1


def test_unreadable_checkpoint_names_the_one_that_can_resume(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path / "run")
    (run / "checkpoint.pth").write_bytes(b"truncated")
    assert run_cli(main, cli(run, "--resume", "auto", "--epochs", "3")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'checkpoint.pth'}: not a readable checkpoint")
    prev = run / "checkpoint_prev.pth"
    assert f"these checkpoints can resume the run: {prev} (epoch 1; --resume {prev})" in err
    with pytest.raises(UnreadableCheckpointError):
        load_checkpoint(run / "checkpoint.pth")
    assert run_cli(main, cli(run, "--resume", str(prev), "--epochs", "3")) == 0


# ------------------------------------------------------------------ log.jsonl counts each iteration once
def test_resumed_log_counts_each_iteration_once(tmp_path, monkeypatch):
    out = tmp_path / "run"
    step, calls = ToyTask.training_step, []

    def killed_in_second_epoch(self, *args):
        calls.append(1)
        if len(calls) > 6:  # 32 samples / batch 8 = 4 iterations per epoch: dies at iteration 3 of epoch 2
            raise KeyboardInterrupt
        return step(self, *args)

    monkeypatch.setattr(ToyTask, "training_step", killed_in_second_epoch)
    assert run_cli(main, cli(out)) == 130
    monkeypatch.setattr(ToyTask, "training_step", step)
    assert run_cli(main, cli(out, "--resume", "auto")) == 0
    raw = read_jsonl(out / "log.jsonl")
    steps = [(r["epoch"], r["iter"]) for r in raw if r["type"] == "train"]
    assert len(steps) == 4 + 2 + 4 and len(set(steps)) == 8  # epoch 2's first two iterations were logged twice
    resume = next(r for r in raw if r["type"] == "resume")
    assert resume["epoch"] == 1 and resume["superseded"] == 2
    clean = read_jsonl(out / "log.jsonl", deduplicate=True)
    assert clean == drop_superseded(raw)
    assert [(r["epoch"], r["iter"]) for r in clean if r["type"] == "train"] == [
        (e, i) for e in (0, 1) for i in (1, 2, 3, 4)
    ]


def test_offline_pretrained_weights_are_one_error_line(voc_root, tmp_path, capsys, monkeypatch):
    import timm.models._hub as hub

    from segmentation import train

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load this file")

    monkeypatch.setattr(hub, "hf_hub_download", offline)
    argv = [
        "--data-path",
        str(voc_root),
        "--output-dir",
        str(tmp_path),
        "--device",
        "cpu",
        "--opts",
        "model.backbone.pretrained=true",
    ]  # the data are read first, then the model fetches its weights
    assert run_cli(train.main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: model.backbone.pretrained=true: ghostnet: could not fetch")
    assert "pretrained_cfg_overlay=dict(file=" in err and "Traceback" not in err


def test_resume_recipe_error_is_a_config_error(tmp_path):
    from ghost_backbones.engine.checkpoint import check_resume_recipe

    check_resume_recipe("c.pth", {"lr": 0.02, "epochs": 2}, {"lr": 0.02, "epochs": 9})  # epochs may grow
    with pytest.raises(ConfigError, match=r"train.optimizer is 'sgd' in the checkpoint, 'adamw' now"):
        check_resume_recipe("c.pth", {"optimizer": "sgd"}, {"optimizer": "adamw"})
