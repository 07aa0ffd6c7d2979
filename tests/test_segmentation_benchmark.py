"""Latency benchmark against torchvision's MobileNetV3 models: rows, ratios and argument checks (tiny input)."""

import pytest

from segmentation import benchmark


def test_rows_and_ratios(capsys: pytest.CaptureFixture) -> None:
    argv = ["--models", "lraspp", "--img-size", "64", "--warmup", "0", "--iters", "1", "--rounds", "2"]
    argv += ["--threads", "1"]
    rows = benchmark.main(argv)
    assert [r["model"] for r in rows] == ["lraspp", "lraspp_mobilenet_v3_large"]
    ours, theirs = rows
    assert ours["vs"] == "lraspp_mobilenet_v3_large" and len(ours["round_ms"]) == 2
    assert ours["ratio"] == pytest.approx(ours["median_ms"] / theirs["median_ms"])
    assert ours["best_ms"] <= ours["median_ms"] and ours["gmacs"] < theirs["gmacs"]
    assert ours["cpu_ratio"] == pytest.approx(ours["cpu_ms"] / theirs["cpu_ms"])
    assert "| lraspp " in capsys.readouterr().out


def test_deploy_fuses_ours_and_keeps_theirs() -> None:
    rows = benchmark.benchmark(["lraspp"], img_size=(64, 64), warmup=0, iters=1, rounds=1, deploy=True)
    ours, theirs = rows
    # Folding BatchNorm into the convolutions removes the norms' affine parameters from ours only.
    plain = benchmark.benchmark(["lraspp"], img_size=(64, 64), warmup=0, iters=1, rounds=1)
    assert ours["params_m"] < plain[0]["params_m"] and theirs["params_m"] == plain[1]["params_m"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"models": ["unet"]}, r"unknown model\(s\) \['unet'\]; choose from \['deeplabv3'"),
        ({"rounds": 0}, r"rounds must be >= 1, got 0"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        benchmark.benchmark(**{"img_size": (32, 32), **kwargs})
