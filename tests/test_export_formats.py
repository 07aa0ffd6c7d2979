"""Export formats are registry entries: the built-in ones, a missing package's error, and README's worked example (a
format added in one module plus its registration) exported, checked and run by ``predict`` with no edit elsewhere."""

import re
from pathlib import Path

import numpy as np
import pytest
from helpers import segmentation_checkpoint
from PIL import Image

from ghost_backbones.bench import TimingConfig
from ghost_backbones.bench import deploy_runtimes as rt
from ghost_backbones.engine import run_cli
from ghost_backbones.export import FORMATS, ExportedSegmenter, ExportFormat, load_exported
from ghost_backbones.export.cli import build_parser
from segmentation import benchmark as seg_bench
from segmentation import export as segmentation_export
from segmentation import predict as segmentation_predict

pytestmark = pytest.mark.usefixtures("one_thread")

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_built_in_formats() -> None:
    assert FORMATS.names() == ["onnx", "torchscript", "pt2", "pte", "openvino"]  # built in, then found by name
    assert [f.suffix for f in FORMATS] == [".onnx", ".torchscript", ".pt2", ".pte", ".xml"]
    assert [f.name for f in FORMATS if f.can_quantize] == ["onnx", "pte", "openvino"]
    assert FORMATS.get("openvino").files("m.xml") == [Path("m.xml"), Path("m.bin")]
    assert FORMATS.get("onnx").requires == ("onnx", "onnxruntime") and FORMATS.get("pt2").requires == ()
    assert FORMATS.for_path("dir/Model.ONNX").name == "onnx" and FORMATS.for_path("best.pth") is None
    assert rt.runtime_names() == ("eager", "deploy", "compile", "onnx", "onnx-int8", "torchscript", "pt2", "pte",
                                  "pte-int8", "openvino", "openvino-int8")  # fmt: skip
    with pytest.raises(ValueError, match=r"format must be one of \['onnx', 'torchscript', 'pt2', 'pte', 'openvino'\]"):
        FORMATS.get("tflite")
    onnx = FORMATS.get("onnx")
    with pytest.raises(ValueError, match="export format 'onnx' is already registered"):
        FORMATS.register(onnx)
    with pytest.raises(ValueError, match=r"suffix '.onnx' of 'onnx2' is already 'onnx''s"):
        FORMATS.register(ExportFormat(name="onnx2", suffix=".onnx", write=onnx.write, load=onnx.load))


@pytest.fixture
def registered():
    """Formats a test registers are gone after it."""
    before = FORMATS.names()
    yield
    for name in FORMATS.names():
        if name not in before:
            FORMATS.unregister(name)


def test_a_format_whose_package_is_missing_is_one_error_line(registered, tmp_path, capsys) -> None:
    onnx = FORMATS.get("onnx")
    FORMATS.register(ExportFormat(name="fancy", suffix=".fancy", write=onnx.write, load=onnx.load,
                                  requires=("no_such_runtime_module",), extra="fancy"))  # fmt: skip
    weights = tmp_path / "best.pth"
    weights.write_bytes(b"not read: the format is refused first")
    argv = ["--weights", str(weights), "--output", str(tmp_path / "m.fancy"), "--format", "fancy"]
    assert run_cli(segmentation_export.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: the fancy format needs no_such_runtime_module, which is not installed: "
                   "pip install 'ghost-backbones[fancy]'"]  # fmt: skip
    assert not FORMATS.get("fancy").is_available() and onnx.is_available()


def _readme_format_module() -> str:
    """The code of README's "Adding an export format" (its first python block)."""
    section = README.read_text().split("### Adding an export format", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_format_exports_checks_and_predicts(registered, voc_root, tmp_path) -> None:
    exec(compile(_readme_format_module(), "pickle_format.py", "exec"), {"__name__": "pickle_format"})
    assert FORMATS.names()[-1] == "pickle" and "pickle" in rt.runtime_names()
    assert "'pickle'" in build_parser("segmentation").format_help()
    weights = segmentation_checkpoint("lraspp", voc_root, tmp_path)
    output = tmp_path / "lraspp.pkl"
    report = segmentation_export.main(["--weights", str(weights), "--output", str(output), "--format", "pickle",
                                       "--num-check-images", "1"])  # fmt: skip
    assert report["format"] == "pickle" and report["check"]["min_pixel_agreement"] >= 0.999
    model = load_exported(output, "segmentation")
    assert isinstance(model, ExportedSegmenter) and model.metadata["format"] == "pickle"
    assert model.output_names == ["mask"] and model.base_size == 80
    photo = sorted((voc_root / "VOCdevkit" / "VOC2012" / "JPEGImages").iterdir())[0]
    masks = {}
    for name, source in (("eager", weights), ("pickle", output)):
        segmentation_predict.main(["--weights", str(source), "--input", str(photo), "--output-dir",
                                   str(tmp_path / name), "--device", "cpu"])  # fmt: skip
        masks[name] = np.asarray(Image.open(tmp_path / name / f"{photo.stem}.png"))
    assert masks["eager"].shape == masks["pickle"].shape and (masks["eager"] == masks["pickle"]).mean() >= 0.995
    tiny = TimingConfig(warmup=0, iters=1, repeats=1, threads=1)
    rows = seg_bench.benchmark(["lraspp"], img_size=(64, 64), runtimes=("pickle",), timing=tiny)  # a runtime too
    assert [(r["runtime"], r["error"]) for r in rows if r["model"] == "lraspp"] == [("pickle", None)]


def test_format_modules_are_found_by_their_name(tmp_path, monkeypatch) -> None:
    """Every ``*_format.py`` module of the export package is imported with it: a new format needs no other edit."""
    from ghost_backbones.plugins import import_plugins

    package = tmp_path / "plugins_here"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "npz_format.py").write_text("LOADED = True\n")
    (package / "helpers.py").write_text("raise RuntimeError('not a format module: never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_plugins("plugins_here", [str(package)], "_format") == ["npz_format"]
    import ghost_backbones.export as export

    found = import_plugins(export.__name__, export.__path__, "_format")
    assert found == ["executorch_format", "onnx_format", "openvino_format", "pt2_format", "torchscript_format"]
