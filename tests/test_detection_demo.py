"""The detection speed benchmark, on tiny settings (the real runs take minutes); the demo is in test_demos.py."""

import pytest

from detection.benchmark import (
    OURS,
    OURS_FUSED,
    PROFILE_GROUPS,
    REFERENCE,
    benchmark_detectors,
    build_models,
    main,
)
from ghost_backbones.engine import ConfigError


def test_benchmark_rows_and_ratios():
    rows = benchmark_detectors(img_size=(96, 96), num_classes=4, warmup=0, iters=1, repeats=1)
    by_name = {r["model"]: r for r in rows}
    assert list(by_name) == [OURS, OURS_FUSED, REFERENCE]
    assert by_name[REFERENCE]["infer_vs_reference"] == 1.0 and by_name[REFERENCE]["train_vs_reference"] == 1.0
    assert by_name[OURS]["params_m"] < by_name[REFERENCE]["params_m"]
    assert all(r["infer_ms"] > 0 for r in rows) and by_name[OURS_FUSED]["train_step_ms"] is None
    assert by_name[OURS]["train_images_per_s"] == pytest.approx(2000.0 / by_name[OURS]["train_step_ms"])


def test_benchmark_rejects_bad_settings():
    with pytest.raises(ValueError, match="use a square image size"):
        benchmark_detectors(img_size=(96, 128), num_classes=4)
    with pytest.raises(ValueError, match="train_batch, iters and repeats must be >= 1, got 0, 5, 3"):
        benchmark_detectors(img_size=(96, 96), num_classes=4, train_batch=0)


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
