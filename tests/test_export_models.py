"""Whole trained models exported (issue 12): ONNX with pre- and post-processing, checked against eager PyTorch;
predict on the ``.onnx`` file; TorchScript and ``torch.export``; INT8; the CLI's errors. Every registered
architecture of both tasks, small (width 0.5, 96 px images), random weights saved as ``<task>.train`` saves them."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import detection_checkpoint, segmentation_checkpoint
from PIL import Image

from detection import export as detection_export
from detection import predict as detection_predict
from detection.models import MODELS as DETECTORS
from ghost_backbones.engine import run_cli
from ghost_backbones.export import load_exported
from segmentation import export as segmentation_export
from segmentation import predict as segmentation_predict
from segmentation.models import MODELS as SEGMENTERS

onnxruntime = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("export")


@pytest.mark.parametrize("arch", DETECTORS.names(baselines=False))
def test_detector_exports_whole_and_predicts_the_same(arch, coco_root, folder, capsys):
    weights = detection_checkpoint(arch, coco_root, folder)
    onnx_file = folder / f"{arch}.onnx"
    report = detection_export.main(["--weights", str(weights), "--output", str(onnx_file), "--num-check-images", "2"])
    assert report["check"]["images"] == 3  # two of the validation split + one at another size
    model = load_exported(onnx_file, "detection")
    assert model.metadata["task"] == "detection" and model.metadata["architecture"] == arch
    assert model.metadata["categories"] == [{"id": 1, "name": "circle"}, {"id": 3, "name": "square"},
                                            {"id": 7, "name": "triangle"}]  # fmt: skip
    assert set(model.metadata["input_size"]) == ({"fixed_size"} if arch == "ssdlite" else {"min_size", "max_size"})
    assert model.output_names[:3] == ["boxes", "labels", "scores"]
    assert ("masks" in model.output_names) == (arch == "mask_rcnn")
    images = folder / "few_coco"
    if not images.exists():  # three photos, one of them empty
        images.mkdir()
        for photo in sorted((coco_root / "val2017").iterdir())[:3]:
            (images / photo.name).write_bytes(photo.read_bytes())
    runs = {}
    for name, source in (("eager", weights), ("onnx", onnx_file)):
        out = folder / f"{arch}_{name}"
        detection_predict.main(["--weights", str(source), "--input", str(images), "--output-dir", str(out),
                                "--score-thresh", "0.1", "--device", "cpu"])  # fmt: skip
        runs[name] = json.loads((folder / f"{arch}_{name}" / "detections.json").read_text())
    assert runs["eager"], "the check needs detections"
    _same_detections(runs["eager"], runs["onnx"])
    assert sorted(p.name for p in (folder / f"{arch}_onnx").iterdir()) == sorted(
        p.name for p in (folder / f"{arch}_eager").iterdir()
    )


def _same_detections(expected: list[dict], got: list[dict]) -> None:
    """Every detection of one side has one on the other: same image, category, box within 0.5 px, score 1e-3."""
    for a_side, b_side in ((expected, got), (got, expected)):
        for a in a_side:
            if a["score"] < 0.1 + 1e-3:  # may fall on either side of --score-thresh
                continue
            assert any(
                b["image_id"] == a["image_id"]
                and b["category_id"] == a["category_id"]
                and abs(b["score"] - a["score"]) <= 1e-3
                and np.abs(np.subtract(b["bbox"], a["bbox"])).max() <= 1.0  # xywh: w = x2 - x1, twice 0.5 px
                for b in b_side
            ), a


@pytest.mark.parametrize("arch", SEGMENTERS.names(baselines=False))
def test_segmenter_exports_whole_and_predicts_the_same(arch, voc_root, folder):
    weights = segmentation_checkpoint(arch, voc_root, folder)
    onnx_file = folder / f"{arch}.onnx"
    report = segmentation_export.main(
        ["--weights", str(weights), "--output", str(onnx_file), "--num-check-images", "2"]
    )
    assert report["check"]["min_pixel_agreement"] >= 0.999
    model = load_exported(onnx_file, "segmentation")
    assert model.metadata["input_size"] == {"base_size": 80} and model.metadata["categories"][3]["name"] == "triangle"
    images = sorted((voc_root / "VOCdevkit" / "VOC2012" / "JPEGImages").iterdir())[:3]
    masks = {}
    for name, source in (("eager", weights), ("onnx", onnx_file)):
        out = folder / f"{arch}_{name}"
        for image in images:
            segmentation_predict.main(
                [
                    "--weights",
                    str(source),
                    "--input",
                    str(image),
                    "--output-dir",
                    str(out / image.stem),
                    "--device",
                    "cpu",
                ]
            )
        masks[name] = [np.asarray(Image.open(out / i.stem / f"{i.stem}.png")) for i in images]
    assert len({m.tobytes() for m in masks["eager"]}) > 1 or len(np.unique(masks["eager"][0])) > 1, "a constant model"
    for a, b in zip(masks["eager"], masks["onnx"]):
        assert a.shape == b.shape and (a == b).mean() >= 0.995  # predict resizes with PIL-exact uint8 arithmetic


@pytest.mark.parametrize("fmt", ["torchscript", pytest.param("pt2", marks=pytest.mark.slow)])  # pt2: 20-70 s
def test_segmenter_torchscript_and_pt2_reproduce_eager(fmt, voc_root, folder):
    weights = segmentation_checkpoint("lraspp", voc_root, folder)
    output = folder / f"lraspp.{fmt}"
    report = segmentation_export.main(["--weights", str(weights), "--output", str(output), "--format", fmt,
                                       "--num-check-images", "1"])  # fmt: skip
    assert report["check"]["min_pixel_agreement"] >= 0.999  # the check ran the saved file, at two sizes
    module = torch.jit.load(str(output)) if fmt == "torchscript" else torch.export.load(str(output)).module()
    deployable = segmentation_export.load_deployable(weights)
    image = torch.randint(0, 256, (2, 3, 70, 90), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(module(image), deployable.graph(image))
    exported = load_exported(output, "segmentation")  # as predict loads it: the format by the file's suffix
    assert exported.metadata["format"] == fmt and torch.equal(exported(image), deployable.graph(image))


@pytest.mark.slow
def test_detector_torchscript_reproduces_eager(coco_root, folder):
    weights = detection_checkpoint("faster_rcnn", coco_root, folder)
    output = folder / "faster_rcnn.torchscript"
    detection_export.main(["--weights", str(weights), "--output", str(output), "--format", "torchscript"])
    image = torch.randint(0, 256, (3, 100, 140), dtype=torch.uint8)
    graph = detection_export.load_deployable(weights).graph
    with torch.no_grad():
        for got, expected in zip(torch.jit.load(str(output))(image), graph(image)):
            torch.testing.assert_close(got, expected, atol=0.5, rtol=0)


@pytest.mark.slow
def test_detector_pt2_is_refused_with_the_reason(coco_root, folder, capsys):
    weights = detection_checkpoint("retinanet", coco_root, folder)
    output = folder / "retinanet.pt2"
    assert run_cli(detection_export.main, ["--weights", str(weights), "--output", str(output), "--format", "pt2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: torch.export cannot export this retinanet model")
    assert "data-dependent" in err[0] and "use --format onnx or --format torchscript" in err[0]
    assert not output.exists()


def test_int8_segmenter_measures_its_accuracy(voc_root, folder, capsys):
    weights = segmentation_checkpoint("deeplabv3", voc_root, folder)
    output = folder / "deeplabv3_int8.onnx"
    report = segmentation_export.main(["--weights", str(weights), "--output", str(output), "--int8",
                                       "--num-calib-images", "4", "--num-check-images", "1"])  # fmt: skip
    accuracy = json.loads((folder / "deeplabv3_int8.accuracy.json").read_text())
    assert accuracy["metric"] == "mIoU" and set(accuracy) >= {"fp32", "int8", "change", "pixel_agreement_with_fp32"}
    assert accuracy["fp32"]["images"] == 6 and report["quantization"]["calibration_images"] == 4
    assert "INT8 mIoU:" in capsys.readouterr().out
    model = load_exported(output, "segmentation")
    assert model.metadata["quantization"]["weights"] == "int8 per channel"
    image = np.asarray(Image.open(sorted((voc_root / "VOCdevkit" / "VOC2012" / "JPEGImages").iterdir())[0]))
    assert model(torch.from_numpy(image.copy()).permute(2, 0, 1)).shape == (1, *image.shape[:2])


@pytest.mark.slow
def test_int8_detector_runs(coco_root, folder):
    weights = detection_checkpoint("faster_rcnn", coco_root, folder)
    output = folder / "faster_rcnn_int8.onnx"
    report = detection_export.main(["--weights", str(weights), "--output", str(output), "--int8",
                                    "--num-calib-images", "4", "--num-check-images", "1"])  # fmt: skip
    assert report["accuracy"]["metric"] == "AP" and (folder / "faster_rcnn_int8.accuracy.json").is_file()


def test_bad_inputs_give_one_error_line(coco_root, folder, capsys):
    weights = detection_checkpoint("faster_rcnn", coco_root, folder)
    taken = folder / "taken.onnx"
    taken.write_bytes(b"someone's file")
    cases = {
        "--weights: checkpoint not found":
            ["--weights", str(folder / "missing.pth"), "--output", str(folder / "a.onnx")],
        "refusing to overwrite it": ["--weights", str(weights), "--output", str(taken)],
        "--format must be one of ['onnx', 'torchscript', 'pt2', 'pte', 'openvino'], got 'tflite'":
            ["--weights", str(weights), "--output", str(folder / "a.tflite"), "--format", "tflite"],
        "--int8 quantizes ONNX or ExecuTorch": ["--weights", str(weights), "--output", str(folder / "a.pt"), "--format",
                                         "torchscript", "--int8"],
        "--int8-convs must be one of ['heavy', 'all'], got 'some'":
            ["--weights", str(weights), "--output", str(folder / "a.onnx"), "--int8", "--int8-convs", "some"],
        "--int8-convs chooses what --int8 quantizes; add --int8":
            ["--weights", str(weights), "--output", str(folder / "a.onnx"), "--int8-convs", "all"],
        "--check-images: folder not found": ["--weights", str(weights), "--output", str(folder / "a.onnx"),
                                             "--check-images", str(folder / "nowhere")],
    }  # fmt: skip
    for message, argv in cases.items():
        assert run_cli(detection_export.main, argv) == 2, message
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert run_cli(detection_export.main, ["--weights", str(weights), "--output", str(weights)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert taken.read_bytes() == b"someone's file" and not (folder / "a.onnx").exists()
    # predict on an .onnx of the other task, or a missing one
    args = ["--input", str(coco_root / "val2017"), "--output-dir", str(folder / "p")]
    assert run_cli(segmentation_predict.main, ["--weights", str(folder / "missing.onnx"), *args]) == 2
    assert "ONNX model not found" in capsys.readouterr().err


def test_an_unfaithful_export_is_an_error_naming_the_layer(voc_root, folder, monkeypatch, capsys):
    """A file that does not reproduce the eager model (here: the classifier's weights changed after writing) is one
    error line naming the first layer whose output differs, and nothing is left at --output."""
    import onnx

    from ghost_backbones.export import cli

    weights = segmentation_checkpoint("fcn", voc_root, folder)
    write = cli.write_model

    def write_then_break(graph, sample, path, **kwargs):
        written = write(graph, sample, path, **kwargs)
        model = onnx.load(str(path))
        conv = next(n for n in reversed(model.graph.node) if n.op_type == "Conv")  # the classifier
        weight = next(i for i in model.graph.initializer if i.name == conv.input[1])
        weight.CopyFrom(onnx.numpy_helper.from_array(-onnx.numpy_helper.to_array(weight), weight.name))
        onnx.save(model, str(path))
        return written

    monkeypatch.setattr(cli, "write_model", write_then_break)
    output = folder / "unfaithful.onnx"
    assert run_cli(segmentation_export.main, ["--weights", str(weights), "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not reproduce the eager model" in err[0], err
    assert "first layer that differs" in err[0] and "'model.classifier.4'" in err[0], err
    assert not output.exists()
