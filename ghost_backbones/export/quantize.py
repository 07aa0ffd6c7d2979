"""INT8 static post-training quantization of an exported ONNX model with onnxruntime's tools.

QDQ format, weights per channel (signed int8), activations per tensor (unsigned int8, MinMax ranges from the
calibration images). Only convolutions (and, with ``convs="all"``, fully connected layers) are quantized: the pre-
and post-processing (resize matrices, box decoding, NMS) stay in float, so the boxes and the class map keep their
geometry. The first and the last convolution stay in float too (:func:`edge_convolutions`): on the segmentation
demo, quantizing every convolution lost 1.22 mIoU, keeping the stem (which sees the normalised image) in float
0.50, the stem and the classifier 0.43 (docs/benchmarks.md, issue 12).

Which convolutions (``convs``): ``"heavy"`` (the default) quantizes only the dense ones with a fan-in of at least
:data:`HEAVY_FAN_IN` (:func:`heavy_convolutions`). On our AVX2 CPU without VNNI, onnxruntime runs such a
convolution 1.9x faster in INT8 (four 128-channel 3x3 convolutions at 50x50), but narrow 1x1 convolutions 0.44x
and depthwise ones 0.35x as fast as in float, so quantizing a whole GhostNet or MobileNetV3 made every model
slower, and quantizing only the heavy ones makes RetinaNet 1.34x, FCN 1.29x and DeepLabV3 1.21x faster than float
(docs/benchmarks.md, "INT8"). ``"all"`` quantizes every convolution and fully connected layer (but the edges): the
choice to measure on CPUs with int8 dot-product instructions (VNNI, ARM ``sdot``), where it may pay.

Examples::

    >>> quantize_int8("model.onnx", "model_int8.onnx", images)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError
from .formats import import_or_explain

__all__ = [
    "CALIBRATION_CHUNK",
    "DEFAULT_CONVS",
    "HEAVY_FAN_IN",
    "QUANTIZE_CONVS",
    "QUANTIZED_OPS",
    "edge_convolutions",
    "heavy_convolutions",
    "quantize_int8",
]

QUANTIZED_OPS = ("Conv", "Gemm")
#: ``convs`` choices of :func:`quantize_int8`, and its default (``--int8-convs`` left out).
QUANTIZE_CONVS = ("heavy", "all")
DEFAULT_CONVS = "heavy"
#: A dense convolution with at least this many inputs per output (in_channels x kh x kw) is "heavy": INT8 pays for it
#: on our CPU (512 was as fast as 256 on DeepLabV3 and LR-ASPP and quantizes fewer layers; 1024 left LR-ASPP none).
HEAVY_FAN_IN = 512
#: Calibration images whose activations are held at once; the ranges of successive chunks are merged. (onnxruntime's
#: ``CalibMaxIntermediateOutputs`` promises the same but, in onnxruntime 1.32, drops each full chunk unmerged: only
#: the last ``n % 16`` images counted, and none when ``n`` is a multiple of 16.)
CALIBRATION_CHUNK = 16

log = logging.getLogger(__name__)


def edge_convolutions(model: Any) -> list[str]:
    """The names of the first and the last ``Conv`` node of an ONNX graph (in its topological order).

    Examples::

        >>> import onnx
        >>> nodes = [onnx.helper.make_node(op, [], [], name=name)
        ...          for op, name in [("Conv", "stem"), ("Relu", "act"), ("Conv", "mid"), ("Conv", "classifier")]]
        >>> edge_convolutions(onnx.helper.make_model(onnx.helper.make_graph(nodes, "g", [], [])))
        ['stem', 'classifier']
    """
    convs = [node.name for node in model.graph.node if node.op_type == "Conv" and node.name]
    return list(dict.fromkeys(convs[:1] + convs[-1:]))


def heavy_convolutions(model: Any, min_fan_in: int = HEAVY_FAN_IN) -> list[str]:
    """The names of the dense (``group`` 1) ``Conv`` nodes whose weight (an initializer) has at least ``min_fan_in``
    inputs per output channel, in graph order.

    Examples::

        >>> import onnx
        >>> def conv(name, shape, group=1):
        ...     return (onnx.helper.make_node("Conv", ["x", name + ".w"], [name], name=name, group=group),
        ...             onnx.helper.make_tensor(name + ".w", onnx.TensorProto.FLOAT, shape, [0.0] * math.prod(shape)))
        >>> parts = [conv("head", [8, 128, 3, 3]), conv("narrow", [72, 24, 1, 1]), conv("dw", [72, 1, 3, 3], 72),
        ...          conv("wide", [128, 960, 1, 1])]
        >>> graph = onnx.helper.make_graph([n for n, _ in parts], "g", [], [], [w for _, w in parts])
        >>> heavy_convolutions(onnx.helper.make_model(graph))
        ['head', 'wide']
    """
    weights = {w.name: list(w.dims) for w in model.graph.initializer}
    heavy = []
    for node in model.graph.node:
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in weights:
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        if group == 1 and math.prod(weights[node.input[1]][1:]) >= min_fan_in:
            heavy.append(node.name)
    return heavy


def _selection(model: Any, fp32: str | Path, convs: str, keep_edges_float: bool) -> tuple[dict[str, Any], list, list]:
    """``quantize_static``'s node selection for ``convs``, the heavy convolutions chosen and the ones kept float."""
    float_nodes = edge_convolutions(model) if keep_edges_float else []
    chosen = [name for name in heavy_convolutions(model) if name not in float_nodes] if convs == "heavy" else []
    if convs == "heavy" and not chosen:
        log.warning("%s: no convolution is heavy enough for INT8 to pay (dense, fan-in >= %d); quantizing every "
                    "convolution, which is slower than float on x86 CPUs without VNNI", fp32, HEAVY_FAN_IN)  # fmt: skip
    selection = (
        {"op_types_to_quantize": ["Conv"], "nodes_to_quantize": chosen}
        if chosen
        else {"op_types_to_quantize": list(QUANTIZED_OPS), "nodes_to_exclude": float_nodes}
    )
    return selection, chosen, float_nodes


def _calibration_reader(arrays: list[np.ndarray], input_name: str) -> Any:
    """An onnxruntime ``CalibrationDataReader`` of ``arrays`` in chunks of `CALIBRATION_CHUNK` (``set_range``):
    onnxruntime merges each chunk's ranges."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.window: Iterator[np.ndarray] = iter(arrays)

        def __len__(self) -> int:  # whole chunks (the last one may hold fewer images)
            return -(-len(arrays) // CALIBRATION_CHUNK) * CALIBRATION_CHUNK

        def set_range(self, start_index: int, end_index: int) -> None:
            self.window = iter(arrays[start_index:end_index])

        def get_next(self) -> dict[str, np.ndarray] | None:
            image = next(self.window, None)
            return None if image is None else {input_name: image}

    return Reader()


def _finish(int8: str | Path, props: dict[str, str], info: dict[str, Any]) -> None:
    """The quantized file without the quantizer's shape annotations, with the float file's metadata and ``info``."""
    import onnx

    quantized = onnx.load(str(int8))
    # The quantizer leaves its shape-inference results in the graph (value_info). With them, onnxruntime's
    # ReshapeFusion turns the dynamic-shape Reshapes of torchvision's box code into a constant (0, -1), which fails
    # on an empty tensor: an INT8 RetinaNet crashed on every image where a level kept no candidate. Without them
    # (as in the float file) the fusion does not fire; onnxruntime infers the shapes itself.
    del quantized.graph.value_info[:]
    del quantized.metadata_props[:]
    for key, value in {**props, "quantization": json.dumps(info)}.items():
        quantized.metadata_props.add(key=key, value=value)
    onnx.save(quantized, str(int8))


def quantize_int8(
    fp32: str | Path,
    int8: str | Path,
    images: Iterable[np.ndarray],
    *,
    input_name: str = "image",
    keep_edges_float: bool = True,
    convs: str = DEFAULT_CONVS,
    **_context: Any,
) -> dict:
    """Write the INT8 version of the ONNX model ``fp32`` to ``int8``, calibrated on ``images``.

    Args:
        fp32: the float model (its metadata is kept, with a ``quantization`` entry added).
        int8: where the quantized model goes.
        images: graph inputs (arrays in the model's input layout and type), read once.
        input_name: the graph's input.
        keep_edges_float: leave the first and the last convolution in float (:func:`edge_convolutions`).
        convs: ``"heavy"`` (:func:`heavy_convolutions`; when a model has none, every convolution, with a warning) or
            ``"all"``; see the module docstring.

    Returns:
        The ``quantization`` metadata: method, operators, convolutions kept in float, number of calibration images.
    """
    import_or_explain("onnxruntime", "INT8 quantization")
    onnx = import_or_explain("onnx", "INT8 quantization")
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    if convs not in QUANTIZE_CONVS:
        raise ExportError(f"convs must be one of {list(QUANTIZE_CONVS)}, got {convs!r}")
    arrays = list(images)
    model = onnx.load(str(fp32))
    if not arrays:
        raise ExportError("INT8 calibration needs at least one image; none was given")
    selection, chosen, float_nodes = _selection(model, fp32, convs, keep_edges_float)
    try:
        quantize_static(
            str(fp32),
            str(int8),
            _calibration_reader(arrays, input_name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            **selection,
            extra_options={"CalibStridedMinMax": CALIBRATION_CHUNK},  # bounded memory, every image counted
        )
    except Exception as e:  # onnxruntime's quantizer raises plain exceptions of many types
        raise ExportError(f"{fp32}: onnxruntime could not quantize this model to INT8: {e}") from e
    info = {"method": "onnxruntime quantize_static QDQ", "weights": "int8 per channel",
            "activations": "uint8 per tensor (MinMax)", "operators": selection["op_types_to_quantize"],
            "convolutions": f"heavy (dense, fan-in >= {HEAVY_FAN_IN}): {len(chosen)}" if chosen else "all",
            "float_nodes": float_nodes, "calibration_images": len(arrays)}  # fmt: skip
    _finish(int8, {p.key: p.value for p in model.metadata_props}, info)
    return info
