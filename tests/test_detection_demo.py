"""The detection speed benchmark, on tiny settings (the real runs take minutes); the demo is in test_demos.py."""

import json

import pytest

from detection.benchmark import (
    OURS,
    OURS_FUSED,
    PROFILE_GROUPS,
    REFERENCE,
    arch_models,
    build_models,
    main,
)
from detection.models import MODELS
from ghost_backbones.bench import table_columns
from ghost_backbones.engine import ConfigError

#: The columns every benchmark CLI's rows have, then detection's training-step measurement.
COMMON_KEYS = [key for key, _, _ in table_columns()]
TRAIN_KEYS = ["train_median_ms", "train_best_ms", "train_speedup", "train_best_speedup"]


def test_benchmark_cli_rows_and_speedups(capsys):
    rows = main(["--img-size", "96", "--num-classes", "4", "--warmup", "0", "--iters", "1", "--repeats", "2", "--json"])
    assert json.loads(capsys.readouterr().out)["results"] == rows
    by_name = {r["model"]: r for r in rows}
    assert list(by_name) == [OURS, OURS_FUSED, REFERENCE]
    ref = by_name[REFERENCE]
    for row in rows:
        assert set(COMMON_KEYS + TRAIN_KEYS) <= set(row) and row["baseline"] == REFERENCE
        assert row["speedup"] == ref["median_ms"] / row["median_ms"]
        assert row["best_speedup"] == ref["best_ms"] / row["best_ms"]
        assert len(row["round_ms"]) == 2 and 0 < row["best_ms"] <= row["median_ms"]
    for name in (OURS, REFERENCE):
        assert by_name[name]["train_speedup"] == ref["train_median_ms"] / by_name[name]["train_median_ms"]
        assert by_name[name]["train_best_speedup"] == ref["train_best_ms"] / by_name[name]["train_best_ms"]
    assert ref["speedup"] == ref["best_speedup"] == ref["train_speedup"] == ref["train_best_speedup"] == 1.0
    assert all(by_name[OURS_FUSED][key] is None for key in TRAIN_KEYS)  # the fused model is not trained
    assert by_name[OURS]["params_m"] < ref["params_m"] and by_name[OURS]["gmacs"] > 0


def test_benchmark_table_headers(capsys):
    main(["--img-size", "96", "--num-classes", "4", "--warmup", "0", "--iters", "1", "--repeats", "1", "--no-fused"])
    lines = capsys.readouterr().out.splitlines()
    headers = [cell.strip() for cell in lines[1].strip("|").split("|")]
    assert headers[: len(COMMON_KEYS)] == [header for _, header, _ in table_columns()]
    assert headers[len(COMMON_KEYS) :] == [
        "train step median ms",
        "train step best ms",
        "train step speed-up",
        "train step speed-up (best)",
    ]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--img-size", "96x128"], "use a square image size"),
        (["--train-batch", "0"], "train_batch must be >= 1, got 0"),
        (["--repeats", "0"], "repeats must be >= 1, got 0"),
        (["--timer", "gpu"], r"timer must be one of \['cpu', 'wall'\], got 'gpu'"),
        (["--opts", "arch=yolo"], r"unknown detection architecture \(model.arch\) 'yolo'"),
    ],
)
def test_benchmark_rejects_bad_settings(argv, match):
    with pytest.raises(ValueError, match=match):
        main(["--img-size", "96", "--num-classes", "4", "--iters", "1", "--warmup", "0", *argv])


def test_benchmark_archs_rows_pair_each_architecture_with_its_counterpart(capsys):
    rows = main(["--archs", "retinanet", "ssdlite", "--img-size", "64", "--num-classes", "4", "--warmup", "0",
                 "--iters", "1", "--repeats", "1", "--json"])  # fmt: skip
    assert json.loads(capsys.readouterr().out)["results"] == rows
    assert [(r["arch"], r["model"], r["baseline"]) for r in rows] == [
        ("retinanet", "retinanet (ours)", "retinanet_mobilenet_v3_large_fpn"),
        ("retinanet", "retinanet_mobilenet_v3_large_fpn", "retinanet_mobilenet_v3_large_fpn"),
        ("ssdlite", "ssdlite (ours)", "ssdlite320_mobilenet_v3_large"),
        ("ssdlite", "ssdlite320_mobilenet_v3_large", "ssdlite320_mobilenet_v3_large"),
    ]
    by_name = {r["model"]: r for r in rows}
    for row in rows:
        assert set(COMMON_KEYS) <= set(row) and row["img_size"] == "64x64"
        assert row["speedup"] == by_name[row["baseline"]]["median_ms"] / row["median_ms"]


def test_benchmark_archs_cover_the_registry_at_their_recipes_sizes():
    assert sorted(MODELS.counterparts()) == MODELS.names(baselines=False)
    assert all(MODELS.is_baseline(theirs) for theirs in MODELS.counterparts().values())
    size, models = arch_models("retinanet", 4)
    ours = models["retinanet (ours)"]
    assert size == 800 and ours.transform.min_size == (800,) and ours.transform.max_size == 800
    assert type(ours) is type(models["retinanet_mobilenet_v3_large_fpn"])
    with pytest.raises(ValueError, match=r"arch must be one of \['faster_rcnn', .*\], got 'yolo'"):
        arch_models("yolo", 4)
    with pytest.raises(ValueError, match="use a square image size"):
        main(["--archs", "fcos", "--img-size", "64x96"])


@pytest.mark.slow  # a subprocess or a profiler run: ~10 s on our 2-core machines
def test_profile_reports_operator_shares(capsys):
    rows = main(["--profile", "--img-size", "96", "--num-classes", "4", "--train-batch", "1"])
    assert [r["model"] for r in rows] == [OURS, REFERENCE]
    for row in rows:
        shares = [row[g] for g in PROFILE_GROUPS]
        assert all(0.0 < s < 1.0 for s in shares) and sum(shares) < 1.0 and row["total_ms"] > 0
    printed = capsys.readouterr().out
    assert "Self CPU" in printed and "RoIAlign (fwd + bwd)" in printed


def test_benchmark_overrides_change_only_our_model():
    models = build_models(4, 96, fused=False, overrides=["fpn_channels=64", "box_batch_size_per_image=32"])
    assert models[OURS].backbone.out_channels == 64
    assert models[OURS].roi_heads.fg_bg_sampler.batch_size_per_image == 32
    assert models[REFERENCE].backbone.out_channels == 256
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['fpn_chanels'\]"):
        build_models(4, 96, fused=False, overrides=["fpn_chanels=64"])
