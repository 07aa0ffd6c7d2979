"""A run's folder under stress: a recipe written twice, two runs into one folder, a disk that fills up."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from detection.data.yolo import read_data_yaml
from ghost_backbones.engine import ConfigError, DataError, load_checkpoint, load_config, run_cli
from ghost_backbones.engine.runlock import RunLock

sys.path.insert(0, str(Path(__file__).parent))
from engine_toy import ToyConfig, main  # noqa: E402
from helpers import said, snapshot  # noqa: E402

FLAGS = ["--epochs", "2", "--batch-size", "8", "--workers", "0", "--device", "cpu", "--lr", "0.03"]
OPTS = ["data.size=32", "train.warmup_iters=2", "train.lr_steps=[1]", "train.log_every=1"]


def cli(out: Path, *extra: str) -> list[str]:
    return ["--output-dir", str(out), *FLAGS, *extra, "--opts", *OPTS]


# ------------------------------------------------------------------ YAML: a key written twice
def test_a_section_written_twice_is_an_error_naming_both_lines(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("train:\n  lr: 0.1\nmodel:\n  hidden: 8\ntrain:\n  epochs: 3\n")
    out = tmp_path / "out"
    assert run_cli(main, ["--config", str(recipe), *cli(out)]) == 2
    assert said(capsys.readouterr().err) == [
        f"error: {recipe}: key 'train' is written twice (lines 1 and 5): the second would replace the first; merge them"
    ]
    assert not out.exists()


def test_a_key_written_twice_inside_a_section(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("train:\n  lr: 0.1\n  epochs: 2\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match=r"key 'lr' is written twice \(lines 2 and 4\)"):
        load_config(ToyConfig, recipe)


def test_yolo_data_yaml_with_a_key_written_twice(tmp_path):
    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
    (tmp_path / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [a]\nval: images/train\n")
    with pytest.raises(DataError, match=r"data.yaml: key 'val' is written twice \(lines 2 and 4\)"):
        read_data_yaml(tmp_path)


# ------------------------------------------------------------------ two runs into one folder
def test_a_second_run_into_a_folder_in_use_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    first = RunLock.acquire(out)  # a run still going (flock: another open of the folder, as another process)
    try:
        assert run_cli(main, cli(out)) == 2
        assert said(capsys.readouterr().err) == [
            f"error: {out} is in use by another training run: wait for it to end, or choose another --output-dir"
        ]
        assert snapshot(out) == {}  # no log.jsonl, no checkpoint: the running one's files are its own
    finally:
        first.release()
    assert run_cli(main, cli(out)) == 0  # released when the first one ends
    RunLock.acquire(out).release()  # and the finished run gave it back


def test_the_lock_of_a_killed_run_is_released(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = textwrap.dedent(f"""
        import time
        from ghost_backbones.engine.runlock import RunLock
        lock = RunLock.acquire({str(out)!r})
        print("locked", flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True, cwd=Path.cwd())
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match="is in use by another training run"):
            RunLock.acquire(out)
    finally:
        proc.kill()  # SIGKILL: no clean-up code runs
        proc.wait()
    RunLock.acquire(out).release()


# ------------------------------------------------------------------ a full disk
@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError(
            "[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file data/0: "
            "file write failed"
        ),  # fmt: skip
    ],
    ids=["oserror", "torch-writer"],
)
def test_a_full_disk_while_writing_the_checkpoint(tmp_path, capsys, monkeypatch, error):
    out = tmp_path / "out"
    save, calls = torch.save, []

    def full_disk(state, f, *args, **kwargs):  # best.pth is written, then the disk is full for checkpoint.pth
        calls.append(f)
        if len(calls) > 1:
            raise error
        return save(state, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    assert run_cli(main, cli(out)) == 2
    (line,) = [s for s in said(capsys.readouterr().err) if s.startswith("error:")]
    assert line.startswith(f"error: the disk holding {out} is full (")
    assert line.endswith("MiB free): checkpoint.pth was not written; the files written before it are kept as they "
                         "were. Free some space, then continue with --resume auto")  # fmt: skip
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["best.pth", "log.jsonl", "metrics.json"]
    monkeypatch.setattr(torch, "save", save)  # space again
    assert run_cli(main, cli(out, "--resume", "auto")) == 0
    assert f"note: resuming from {out / 'best.pth'}: epoch 2 of 2" in said(capsys.readouterr().err)
    assert load_checkpoint(out / "checkpoint.pth")["epoch"] == 1
