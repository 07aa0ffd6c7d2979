"""The shared timing/counting helpers in ``ghost_backbones.bench`` and the backbone benchmark CLI."""

import json

import pytest
import torch
from torch import nn

from ghost_backbones.bench import (
    count_macs,
    count_params,
    find_device,
    format_table,
    measure_latency,
    parse_img_size,
    torch_threads,
)
from ghost_backbones.bench.backbone import benchmark_models, main


@pytest.mark.parametrize("groups", [1, 4])
def test_count_macs_conv_and_linear(groups: int) -> None:
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, groups=groups, bias=False), nn.Flatten(), nn.Linear(8 * 36, 5))
    macs = count_macs(model, torch.rand(2, 4, 6, 6))
    conv = 2 * 8 * 36 * (4 // groups) * 9
    linear = 2 * 8 * 36 * 5
    assert macs == conv + linear


def test_count_params_counts_shared_once() -> None:
    lin = nn.Linear(3, 3)
    assert count_params(nn.Sequential(lin, lin)) == 12


def test_measure_latency_stats_and_calls() -> None:
    calls = []
    stats = measure_latency(lambda x: calls.append(x.shape), torch.zeros(4, 2), warmup=2, iters=5, batch_size=4)
    assert len(calls) == 7
    assert stats["min_ms"] <= stats["median_ms"] <= stats["max_ms"]
    assert stats["iters"] == 5
    assert stats["images_per_s"] == pytest.approx(4000.0 / stats["median_ms"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(warmup=-1), "warmup must be >= 0, got -1"),
        (dict(iters=0), "iters must be >= 1, got 0"),
        (dict(batch_size=0), "batch_size must be >= 1, got 0"),
    ],
)
def test_measure_latency_rejects_bad_counts(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        measure_latency(lambda x: x, torch.zeros(1), **kwargs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(224, (224, 224)), ("320", (320, 320)), ("800x1333", (800, 1333)), ((512, 640), (512, 640))],
)
def test_parse_img_size(value, expected) -> None:
    assert parse_img_size(value) == expected


@pytest.mark.parametrize(("value", "match"), [("abc", "HxW"), ("1x2x3", "HxW"), ("0x4", "positive")])
def test_parse_img_size_rejects(value, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_img_size(value)


def test_torch_threads_restores() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="num_threads must be >= 1, got 0"):
        with torch_threads(0):
            torch.get_num_threads()


def test_find_device_nested() -> None:
    assert find_device([{"img": torch.zeros(1)}]) == torch.device("cpu")
    assert find_device("no tensors") == torch.device("cpu")


def test_format_table_aligns_and_marks_missing() -> None:
    text = format_table([{"a": "x", "b": 1.25}, {"a": "long"}], [("a", "name", ""), ("b", "val", ".1f")])
    lines = text.splitlines()
    assert lines[0] == "| name | val |"
    assert lines[2] == "| x    | 1.2 |"
    assert lines[3] == "| long | -   |"


def test_benchmark_cli_json(capsys) -> None:
    rows = main(
        ["--models", "ghostnet:deploy,ghostnet_100", "--batch-size", "1", "--img-size", "64x48"]
        + ["--iters", "1", "--warmup", "0", "--repeats", "1", "--threads", "1", "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["img_size"] == [64, 48] and report["config"]["threads"] == 1
    assert [r["model"] for r in report["results"]] == ["ghostnet:deploy", "ghostnet_100"]
    deployed, baseline = rows
    assert baseline["speedup_vs_timm"] == 1.0 and baseline["best_speedup_vs_timm"] == 1.0
    assert deployed["best_speedup_vs_timm"] == pytest.approx(baseline["best_ms"] / deployed["best_ms"])
    assert 0 < deployed["best_ms"] <= deployed["median_ms"]
    assert deployed["params_m"] == pytest.approx(5.18, abs=0.01)
    assert deployed["gmacs"] == pytest.approx(baseline["gmacs"], rel=1e-3) and deployed["gmacs"] > 0
    assert deployed["images_per_s"] == pytest.approx(1000.0 / deployed["median_ms"])


def test_benchmark_cli_table(capsys) -> None:
    main(["--models", "ghostnetv3:fused", "--batch-size", "1", "--img-size", "64", "--iters", "1", "--warmup", "0"])
    out = capsys.readouterr().out
    assert "| ghostnetv3:fused |" in out and "images/s" in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (
            ["--models", "ghostnet:int8"],
            "model spec must be NAME, NAME:fused, NAME:deploy or NAME:cl, got 'ghostnet:int8'",
        ),
        (["--models", "resnet9000"], "unknown model 'resnet9000'"),
        (["--models", ","], "--models is empty"),
        (["--models", "ghostnet", "--repeats", "0"], "repeats must be >= 1, got 0"),
        (["--models", "ghostnet", "--img-size", "big"], "image size must look like 224 or 800x1333"),
    ],
)
def test_benchmark_cli_rejects(argv: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        main(argv + ["--iters", "1", "--warmup", "0", "--img-size", "32"] if "--img-size" not in argv else argv)


def test_cuda_requested_without_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="--device cuda requested but torch.cuda.is_available"):
        main(["--models", "ghostnet", "--device", "cuda", "--iters", "1", "--img-size", "32"])


def test_cpu_timer_and_bad_timer(capsys) -> None:
    rows = main(["--models", "ghostnet", "--img-size", "64", "--batch-size", "1", "--iters", "2", "--timer", "cpu"])
    assert "timer=cpu" in capsys.readouterr().out and rows[0]["median_ms"] >= 0
    with pytest.raises(ValueError, match=r"timer must be one of \['cpu', 'wall'\], got 'gpu'"):
        benchmark_models(["ghostnet"], img_size=(64, 64), iters=1, warmup=0, repeats=1, timer="gpu")
