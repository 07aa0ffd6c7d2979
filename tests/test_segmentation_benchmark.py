"""Latency benchmark against torchvision's MobileNetV3 models: rows, speed-ups and argument checks (tiny input)."""

import json

import pytest

from ghost_backbones.bench import TimingConfig, table_columns
from segmentation import benchmark

#: The columns every benchmark CLI's rows have.
COMMON_KEYS = [key for key, _, _ in table_columns()]
TINY = TimingConfig(warmup=0, iters=1, repeats=1)


def test_cli_rows_and_speedups(capsys: pytest.CaptureFixture, tmp_path) -> None:
    out = tmp_path / "seg.json"
    argv = ["--models", "lraspp", "--img-size", "64", "--warmup", "0", "--iters", "1", "--repeats", "2"]
    rows = benchmark.main(argv + ["--threads", "1", "--json", str(out)])
    assert [r["model"] for r in rows] == ["lraspp", "lraspp_mobilenet_v3_large"]
    ours, theirs = rows
    for row in rows:
        assert set(COMMON_KEYS) <= set(row) and row["baseline"] == "lraspp_mobilenet_v3_large"
        assert row["speedup"] == theirs["median_ms"] / row["median_ms"]
        assert row["best_speedup"] == theirs["best_ms"] / row["best_ms"]
        assert len(row["round_ms"]) == 2 and 0 < row["best_ms"] <= row["median_ms"]
    assert theirs["speedup"] == theirs["best_speedup"] == 1.0
    assert ours["gmacs"] < theirs["gmacs"]
    lines = capsys.readouterr().out.splitlines()
    assert [cell.strip() for cell in lines[1].strip("|").split("|")] == [h for _, h, _ in table_columns()]
    assert lines[3].startswith("| lraspp ")
    saved = json.loads(out.read_text())
    assert saved["results"] == rows and saved["config"]["threads"] == 1 and saved["config"]["repeats"] == 2


def test_counterparts_follow_ours() -> None:
    rows = benchmark.benchmark(["fcn", "lraspp"], img_size=(64, 64), timing=TINY)
    assert [(r["model"], r["baseline"]) for r in rows] == [
        ("fcn", "deeplabv3_mobilenet_v3_large"),
        ("lraspp", "lraspp_mobilenet_v3_large"),
        ("deeplabv3_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large"),
        ("lraspp_mobilenet_v3_large", "lraspp_mobilenet_v3_large"),
    ]


def test_deploy_fuses_ours_and_keeps_theirs() -> None:
    ours, theirs = benchmark.benchmark(["lraspp"], img_size=(64, 64), deploy=True, timing=TINY)
    # Folding BatchNorm into the convolutions removes the norms' affine parameters from ours only.
    plain = benchmark.benchmark(["lraspp"], img_size=(64, 64), timing=TINY)
    assert ours["params_m"] < plain[0]["params_m"] and theirs["params_m"] == plain[1]["params_m"]


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--models", "unet"], r"unknown model\(s\) \['unet'\]; choose from \['deeplabv3'"),
        (["--repeats", "0"], r"repeats must be >= 1, got 0"),
        (["--timer", "gpu"], r"timer must be one of \['cpu', 'wall'\], got 'gpu'"),
        (["--batch-size", "0"], r"batch_size must be >= 1, got 0"),
        (["--img-size", "big"], r"image size must look like 224 or 800x1333"),
    ],
)
def test_bad_arguments(argv: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        benchmark.main(["--img-size", "32", "--models", "lraspp", *argv])
