"""The shared harness, table and timing helpers in ``ghost_backbones.bench``, and the backbone benchmark CLI."""

import json
import time

import pytest
import torch
from torch import nn

from ghost_backbones.bench import (
    Case,
    Timing,
    TimingConfig,
    count_macs,
    count_params,
    find_device,
    format_table,
    measure_latency,
    parse_img_size,
    result_row,
    table_columns,
    time_cases,
    torch_threads,
)
from ghost_backbones.bench.backbone import benchmark_models, main

#: The columns every benchmark CLI's rows have (tests/test_detection_demo.py, tests/test_segmentation_benchmark.py).
COMMON_KEYS = ("model", "params_m", "gmacs", "median_ms", "best_ms", "baseline", "speedup", "best_speedup")


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


def test_time_cases_interleaves_rounds() -> None:
    calls: list[str] = []
    cases = {
        name: Case(lambda x, n=name: calls.append(n), None, prepare=lambda n=name: calls.append(f"prepare {n}"))
        for name in ("a", "b")
    }
    timings = time_cases(cases, TimingConfig(warmup=1, iters=2, repeats=2), progress=False)
    one_round = ["prepare a", "a", "a", "a", "prepare b", "b", "b", "b"]
    assert calls == one_round * 2
    assert list(timings) == ["a", "b"]
    for timing in timings.values():
        assert len(timing.round_ms) == 2 and 0 <= timing.best_ms <= timing.median_ms


def test_time_cases_cpu_timer_ignores_sleep() -> None:
    cases = {"sleep": Case(lambda _: time.sleep(0.02), None)}
    wall = time_cases(cases, TimingConfig(warmup=0, iters=1, repeats=1), progress=False)["sleep"]
    cpu = time_cases(cases, TimingConfig(warmup=0, iters=1, repeats=1, timer="cpu"), progress=False)["sleep"]
    assert wall.median_ms >= 19.0 and cpu.median_ms < 10.0


def test_result_row_speedup_is_baseline_over_ours() -> None:
    timings = {"ours": Timing([10.0, 30.0, 20.0], 8.0), "base": Timing([40.0], 12.0)}
    row = result_row("ours", "base", timings, params_m=1.0, gmacs=None)
    assert tuple(row)[: len(COMMON_KEYS)] == COMMON_KEYS
    assert row["median_ms"] == 20.0 and row["speedup"] == 2.0 and row["best_speedup"] == 1.5
    assert result_row("base", "base", timings, params_m=1.0, gmacs=None)["speedup"] == 1.0
    assert [key for key, _, _ in table_columns()] == list(COMMON_KEYS)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(repeats=0), "repeats must be >= 1, got 0"),
        (dict(iters=0), "iters must be >= 1, got 0"),
        (dict(warmup=-1), "warmup must be >= 0, got -1"),
        (dict(threads=0), "threads must be >= 1, got 0"),
        (dict(timer="gpu"), r"timer must be one of \['cpu', 'wall'\], got 'gpu'"),
    ],
)
def test_timing_config_rejects(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TimingConfig(**kwargs)


def test_benchmark_cli_json(capsys) -> None:
    rows = main(
        ["--models", "ghostnet:deploy", "--batch-size", "1", "--img-size", "64x48"]
        + ["--iters", "1", "--warmup", "0", "--repeats", "2", "--threads", "1", "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["img_size"] == [64, 48] and report["config"]["threads"] == 1
    assert report["results"] == rows
    assert [r["model"] for r in rows] == ["ghostnet:deploy", "ghostnet_100"]  # the baseline is added
    deployed, baseline = rows
    for row in rows:
        assert set(COMMON_KEYS) <= set(row) and row["baseline"] == "ghostnet_100"
        assert row["speedup"] == baseline["median_ms"] / row["median_ms"]
        assert row["best_speedup"] == baseline["best_ms"] / row["best_ms"]
        assert 0 < row["best_ms"] <= row["median_ms"] and len(row["round_ms"]) == 2
    assert baseline["speedup"] == 1.0 and baseline["best_speedup"] == 1.0
    assert deployed["params_m"] == pytest.approx(5.18, abs=0.01)
    assert deployed["gmacs"] == pytest.approx(baseline["gmacs"], rel=1e-3) and deployed["gmacs"] > 0


def test_benchmark_cli_table_and_json_file(capsys, tmp_path) -> None:
    out = tmp_path / "runs" / "bench.json"
    argv = ["--models", "ghostnetv3:fused", "--baseline", "ghostnetv3", "--batch-size", "1", "--img-size", "64"]
    main(argv + ["--iters", "1", "--warmup", "0", "--repeats", "1", "--json", str(out)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("batch_size=1, img_size=[64, 64]") and "timer=wall" in lines[0]
    headers = [cell.strip() for cell in lines[1].strip("|").split("|")]
    assert headers == [header for _, header, _ in table_columns()]
    assert lines[3].startswith("| ghostnetv3:fused |")
    assert [r["model"] for r in json.loads(out.read_text())["results"]] == ["ghostnetv3:fused", "ghostnetv3"]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (
            ["--models", "ghostnet:int8"],
            "model spec must be NAME, NAME:fused, NAME:deploy, NAME:concat or NAME:cl, got 'ghostnet:int8'",
        ),
        (["--models", "resnet9000"], "unknown model 'resnet9000'"),
        (["--models", "ghostnet", "--baseline", "resnet9000"], "unknown model 'resnet9000'"),
        (["--models", ","], "--models is empty"),
        (["--models", "ghostnet", "--repeats", "0"], "repeats must be >= 1, got 0"),
        (["--models", "ghostnet", "--timer", "gpu"], r"timer must be one of \['cpu', 'wall'\], got 'gpu'"),
        (["--models", "ghostnet", "--batch-size", "0"], "batch_size must be >= 1, got 0"),
        (["--models", "ghostnet", "--img-size", "big"], "image size must look like 224 or 800x1333"),
    ],
)
def test_benchmark_cli_rejects(argv: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        main(argv + ["--iters", "1", "--warmup", "0", "--img-size", "32"] if "--img-size" not in argv else argv)


def test_cuda_requested_without_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="device 'cuda' requested but CUDA is not available"):
        main(["--models", "ghostnet", "--device", "cuda", "--iters", "1", "--img-size", "32"])


def test_cpu_timer() -> None:
    timing = TimingConfig(warmup=0, iters=2, repeats=1, timer="cpu")
    rows = benchmark_models(["ghostnet"], baseline="ghostnet", batch_size=1, img_size=(64, 64), timing=timing)
    assert rows[0]["median_ms"] > 0 and rows[0]["speedup"] == 1.0
    assert "median CPU ms" in [header for _, header, _ in table_columns(timer="cpu")]


def test_calibrate_batchnorm_gives_an_untrained_detector_real_outputs() -> None:
    """torchvision's untrained SSDLite outputs exact zeros in eval mode (every score ties: a trivially cheap NMS);
    with statistics from the images, its outputs vary and its BatchNorms stay as configured."""
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large

    from ghost_backbones.bench import calibrate_batchnorm

    torch.manual_seed(0)
    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=5).eval()
    images = [torch.rand(3, 320, 320) for _ in range(2)]

    def logits_std() -> float:
        with torch.no_grad():
            batch, _ = model.transform(images[:1])
            return model.head(list(model.backbone(batch.tensors).values()))["cls_logits"].std().item()

    assert logits_std() < 1e-6
    assert calibrate_batchnorm(model, images) is model and not model.training
    assert logits_std() > 1e-3
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(m.momentum == 0.03 and not m.training for m in norms)  # torchvision's SSDLite momentum, restored
