"""Edge formats: ExecuTorch (.pte, XNNPACK) and OpenVINO (.xml + .bin) files of small untrained models, checked on
write against the eager model, run by predict as the checkpoint runs, INT8, and the refusals (two-stage detectors,
options that do nothing). Lowering to XNNPACK takes half a minute a model: the default run writes one .pte; the
detectors' and INT8 .pte files are in the slow set."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import detection_checkpoint, segmentation_checkpoint
from PIL import Image

from detection import export as detection_export
from detection import predict as detection_predict
from ghost_backbones.engine import run_cli
from ghost_backbones.export import FORMATS
from segmentation import predict as segmentation_predict

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]
executorch = pytest.mark.skipif(not FORMATS.get("pte").is_available(), reason="executorch is not installed")
openvino = pytest.mark.skipif(not FORMATS.get("openvino").is_available(), reason="openvino is not installed")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("edge")


def _cli(module: str, *argv: str, code: int = 0) -> str:
    """``python -m module argv`` in a process of its own (ExecuTorch's and OpenVINO's runtimes loaded in the test
    process crashed the suite later with a segmentation fault); its stdout (its stderr when ``code`` is not 0)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == code, result.stderr[-3000:]
    return result.stdout if code == 0 else result.stderr


def _predict_matches_checkpoint(task, weights: Path, exported: Path, images: Path, tmp_path: Path) -> None:
    """predict on the exported file writes what predict on the checkpoint writes."""
    outputs = {}
    for name, source in (("checkpoint", weights), ("file", exported)):
        out = tmp_path / name
        low = ["--score-thresh", "0.05"] if task is detection_predict else []  # untrained: low scores
        argv = ["--weights", str(source), "--input", str(images), "--output-dir", str(out), "--device", "cpu", *low]
        if source.suffix in (".pte", ".xml"):
            _cli(task.__name__, *argv)
        else:
            task.main(argv)
        outputs[name] = out
    if task is detection_predict:
        ours, theirs = (json.loads((outputs[n] / "detections.json").read_text()) for n in ("checkpoint", "file"))
        assert len(ours) == len(theirs) > 0
        for a, b in zip(ours, theirs):
            assert a["category_id"] == b["category_id"] and abs(a["score"] - b["score"]) < 1e-3
            assert np.abs(np.subtract(a["bbox"], b["bbox"])).max() < 0.5
    else:
        for mask in sorted(outputs["checkpoint"].glob("*.png")):
            same = np.asarray(Image.open(mask)) == np.asarray(Image.open(outputs["file"] / mask.name))
            assert same.mean() >= 0.995, mask.name  # predict resizes a checkpoint's input with PIL's uint8 arithmetic


@executorch
def test_pte_segmenter_is_checked_and_predicts_as_the_checkpoint(voc_root, folder, tmp_path) -> None:
    weights = segmentation_checkpoint("lraspp", voc_root, folder)
    output = folder / "lraspp.pte"
    said = _cli("segmentation.export", "--weights", str(weights), "--output", str(output), "--format", "pte")
    assert "at least 100.0000% of the pixels agree" in said and output.is_file()
    images = voc_root / "VOCdevkit" / "VOC2012" / "JPEGImages"
    _predict_matches_checkpoint(segmentation_predict, weights, output, images, tmp_path)


@pytest.mark.slow
@executorch
@pytest.mark.parametrize("arch", ["retinanet", "fcos", "ssdlite"])
def test_pte_single_stage_detectors_decode_as_eager(arch, coco_root, folder, tmp_path) -> None:
    weights = detection_checkpoint(arch, coco_root, folder)
    output = folder / f"{arch}.pte"
    said = _cli("detection.export", "--weights", str(weights), "--output", str(output), "--format", "pte")
    assert "detection(s) above 0.05 match" in said and " 0 detection(s)" not in said
    _predict_matches_checkpoint(detection_predict, weights, output, coco_root / "val2017", tmp_path)


@pytest.mark.slow
@executorch
def test_pte_int8_prints_and_stores_its_accuracy(voc_root, folder, capsys) -> None:
    weights = segmentation_checkpoint("lraspp", voc_root, folder)
    output = folder / "lraspp_int8.pte"
    said = _cli("segmentation.export", "--weights", str(weights), "--output", str(output), "--format", "pte", "--int8")
    assert "INT8 mIoU" in said
    assert json.loads((folder / "lraspp_int8.accuracy.json").read_text())["metric"] == "mIoU"


@openvino
@pytest.mark.parametrize("arch", ["retinanet", "fcos"])
def test_openvino_detector_is_checked_and_predicts_as_the_checkpoint(arch, coco_root, folder, tmp_path) -> None:
    weights = detection_checkpoint(arch, coco_root, folder)
    output = folder / f"{arch}.xml"
    said = _cli("detection.export", "--weights", str(weights), "--output", str(output), "--format", "openvino")
    assert "detection(s) above 0.05 match" in said and output.with_suffix(".bin").is_file()
    _predict_matches_checkpoint(detection_predict, weights, output, coco_root / "val2017", tmp_path)


@openvino
def test_openvino_segmenter_int8(voc_root, folder) -> None:
    weights = segmentation_checkpoint("fcn", voc_root, folder)
    output = folder / "fcn_int8.xml"
    said = _cli("segmentation.export", "--weights", str(weights), "--output", str(output), "--format", "openvino",
                "--int8")  # fmt: skip
    assert "at least 100.0000% of the pixels agree" in said and "INT8 mIoU" in said
    assert {p.name for p in folder.glob("fcn_int8.*")} == {"fcn_int8.xml", "fcn_int8.bin", "fcn_int8.accuracy.json"}
    xml = output.read_text()
    assert "NNCF" in xml and "calibration_images" in xml  # the metadata in the model's rt_info


@pytest.mark.parametrize(
    "fmt, extra, match",
    [
        ("pte", [], "faster_rcnn runs RoIAlign and NMS between its two stages: ExecuTorch has no kernels"),
        ("openvino", [], "faster_rcnn runs RoIAlign and NMS between its two stages: the OpenVINO format holds"),
        ("pte", ["--int8", "--int8-convs", "all"], "--int8-convs chooses the convolutions of --format onnx;"),
    ],
)
def test_edge_refusals_are_one_error_line(fmt, extra, match, coco_root, folder) -> None:
    if not FORMATS.get(fmt).is_available():
        pytest.skip(f"{fmt} is not installed")
    weights = detection_checkpoint("faster_rcnn", coco_root, folder)
    output = folder / f"refused{FORMATS.get(fmt).suffix}"
    argv = ["--weights", str(weights), "--output", str(output), "--format", fmt, *extra]
    err = [line for line in _cli("detection.export", *argv, code=2).splitlines() if line.startswith("error: ")]
    assert len(err) == 1 and match in err[0], err
    assert not output.exists() and not list(folder.glob(".refused*"))  # nothing left behind


def test_an_output_named_for_another_format_is_refused(coco_root, folder, capsys) -> None:
    weights = detection_checkpoint("faster_rcnn", coco_root, folder)
    argv = ["--weights", str(weights), "--output", str(folder / "model.onnx"), "--format", "torchscript"]
    assert run_cli(detection_export.main, argv) == 2
    assert "is a ONNX file name; --format torchscript writes .torchscript" in capsys.readouterr().err


def test_split_runner_rebuilds_the_detector_around_a_network(coco_root, folder) -> None:
    """The split without any runtime: the rebuilt torchvision class around the head graph run eagerly."""
    from detection.trained import load_detector
    from ghost_backbones.export import DetectionGraph
    from ghost_backbones.export.split_graphs import SplitRunner, split_graph

    model, categories = load_detector(detection_checkpoint("fcos", coco_root, folder))
    graph = DetectionGraph(model, list(categories.ids)).eval()
    split = split_graph(graph, {"categories": categories.as_categories()}, "refused")
    runner = SplitRunner(lambda x: split.network(x), split.metadata)
    image = torch.randint(0, 256, (3, 100, 140), dtype=torch.uint8)
    with torch.no_grad():
        expected = graph(image)
    got = runner.run(image)
    assert len(got[0]) == len(expected[0]) > 0
    np.testing.assert_allclose(got[0], expected[0].numpy(), atol=1e-4)
    np.testing.assert_array_equal(got[1], expected[1].numpy())
