"""The benchmark's ``--runtime`` axis: the rows it produces (tiny sizes, one call each) and a failing runtime's row.

No timed assertion: only which rows come, their keys, the speed-up arithmetic and the errors.
"""

import pytest

from detection import benchmark as det_bench
from ghost_backbones.bench import TimingConfig
from ghost_backbones.bench import deploy_runtimes as rt
from ghost_backbones.bench.backbone import benchmark_models
from ghost_backbones.bench.backbone import main as backbone_main
from segmentation import benchmark as seg_bench

pytest.importorskip("onnxruntime")

TINY = TimingConfig(warmup=0, iters=1, repeats=1, threads=1)
THEIRS = "lraspp_mobilenet_v3_large"


def _keys(rows: list) -> list:
    return [(r["model"], r["runtime"]) for r in rows]


def test_segmentation_rows_per_runtime_and_speedups() -> None:
    rows = seg_bench.benchmark(["lraspp"], img_size=(64, 64), runtimes=("onnx", "deploy"), timing=TINY)
    # ours in the runtimes asked; the counterpart in eager too (every row's first speed-up is over it)
    assert _keys(rows) == [("lraspp", "onnx"), ("lraspp", "deploy"),
                           (THEIRS, "eager"), (THEIRS, "onnx"), (THEIRS, "deploy")]  # fmt: skip
    by = {(r["model"], r["runtime"]): r for r in rows}
    eager = by[THEIRS, "eager"]["median_ms"]
    for (_, runtime), row in by.items():
        assert row["error"] is None and row["baseline"] == THEIRS and row["median_ms"] > 0
        assert row["speedup"] == pytest.approx(eager / row["median_ms"])
        same = by[THEIRS, runtime]["median_ms"] / row["median_ms"]
        assert row["same_runtime_speedup"] == pytest.approx(same)
    assert by["lraspp", "onnx"]["gmacs"] < by[THEIRS, "onnx"]["gmacs"]


def test_a_failing_runtime_is_a_row_with_its_error(monkeypatch) -> None:
    def no_onnx(*args, **kwargs):
        raise RuntimeError("exporter says no\nsecond line")

    monkeypatch.setattr(rt, "_float_file", no_onnx)
    rows = seg_bench.benchmark(["lraspp"], img_size=(64, 64), runtimes=("eager", "onnx", "onnx-int8"), timing=TINY)
    by = {(r["model"], r["runtime"]): r for r in rows}
    assert by["lraspp", "onnx"]["error"] == "RuntimeError: exporter says no"
    assert (
        by["lraspp", "onnx-int8"]["error"]
        == "RuntimeError: no float ONNX file to quantize (RuntimeError: exporter says no)"
    )
    for key in [("lraspp", "onnx"), ("lraspp", "onnx-int8"), (THEIRS, "onnx")]:
        assert by[key]["median_ms"] is None and by[key]["speedup"] is None and by[key]["same_runtime_speedup"] is None
    assert by["lraspp", "eager"]["error"] is None and by["lraspp", "eager"]["median_ms"] > 0


def test_compile_failure_is_reported(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch, "compile", lambda module, **kwargs: (_ for _ in ()).throw(RuntimeError("no compiler")))
    rows = benchmark_models(["ghostnet"], baseline="ghostnet", batch_size=1, img_size=(32, 32),
                            runtimes=("compile",), timing=TINY)  # fmt: skip
    assert _keys(rows) == [("ghostnet", "eager"), ("ghostnet", "compile")]
    assert rows[1]["error"] == "RuntimeError: no compiler" and rows[1]["median_ms"] is None
    assert rows[0]["error"] is None and rows[0]["speedup"] == 1.0


def test_backbone_cli_runtime_table(capsys) -> None:
    rows = backbone_main(["--models", "ghostnet", "--baseline", "mobilenetv3_large_100", "--img-size", "32",
                          "--batch-size", "1", "--warmup", "0", "--iters", "1", "--repeats", "1", "--threads", "1",
                          "--runtime", "eager,onnx,onnx-int8"])  # fmt: skip
    assert _keys(rows) == [("ghostnet", r) for r in ("eager", "onnx", "onnx-int8")] + [
        ("mobilenetv3_large_100", r) for r in ("eager", "onnx", "onnx-int8")
    ]
    assert all(r["error"] is None and r["median_ms"] > 0 for r in rows)
    header = capsys.readouterr().out.splitlines()[1]
    assert [c.strip() for c in header.strip("|").split("|")] == [h for _, h, _ in rt.runtime_columns()]


def test_detection_rows_carry_arch_and_size() -> None:
    rows = det_bench.benchmark_architectures(["fcos"], num_classes=4, size=64, runtimes=("onnx",), timing=TINY)
    theirs = det_bench.MODELS.entry("fcos").counterpart
    assert [(r["arch"], r["img_size"], r["model"], r["runtime"]) for r in rows] == [
        ("fcos", "64x64", "fcos (ours)", "onnx"),
        ("fcos", "64x64", theirs, "eager"),
        ("fcos", "64x64", theirs, "onnx"),
    ]
    assert all(r["baseline"] == theirs for r in rows)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: rt.parse_runtimes("eager,tensorrt"), r"unknown runtime\(s\) \['tensorrt'\]; choose from \['eager'"),
        (lambda: rt.parse_runtimes(""), r"unknown runtime\(s\) \[\]"),
        (lambda: det_bench.main(["--runtime", "onnx"]), r"--runtime onnx needs --archs"),
        (lambda: seg_bench.main(["--runtime", "onnx", "--deploy", "--img-size", "32"]), r"leave out --amp"),
        (lambda: seg_bench.main(["--runtime", "onnx", "--device", "cuda:0", "--img-size", "32"]), r"CUDA|cuda"),
    ],
)
def test_bad_runtime_arguments(call, match: str) -> None:
    with pytest.raises((ValueError, RuntimeError), match=match):
        call()


def test_compile_of_a_detector_compiles_its_networks_and_leaves_the_post_processing(monkeypatch) -> None:
    import torch
    from torch import nn

    from ghost_backbones.export import DetectionGraph

    class Compiled(nn.Module):  # what torch.compile would return, without compiling
        def __init__(self, module: nn.Module) -> None:
            super().__init__()
            self.inner = module

        def forward(self, *args):
            return self.inner(*args)

    monkeypatch.setattr(torch, "compile", lambda module, **kwargs: Compiled(module))
    image = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    for arch, networks in [("fcos", ["backbone", "head"]), ("faster_rcnn", ["backbone", "rpn.head"])]:
        _, models = det_bench.arch_models(arch, 4, size=64)
        graph = DetectionGraph(models[f"{arch} (ours)"], [1, 2, 3]).eval()
        compiled = rt._compile(graph)
        wrapped = sorted(name.removeprefix("detector.") for name, m in compiled.named_modules()
                         if isinstance(m, Compiled))  # fmt: skip
        assert wrapped == networks and not isinstance(compiled, Compiled)
        with torch.no_grad():
            assert set(compiled(image)[0].shape[1:]) <= {4}  # still runs: boxes (K, 4)
    segmenter = nn.Conv2d(3, 3, 1)
    assert isinstance(rt._compile(segmenter), Compiled)  # other graphs: compiled whole
