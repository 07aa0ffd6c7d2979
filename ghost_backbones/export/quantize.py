"""INT8 static post-training quantization of an exported ONNX model with onnxruntime's tools.

QDQ format, weights per channel (signed int8), activations per tensor (unsigned int8, MinMax ranges from the
calibration images). Only convolutions and fully connected layers are quantized: the pre- and post-processing
(resize matrices, box decoding, NMS) stay in float, so the boxes and the class map keep their geometry. The first
and the last convolution stay in float too (:func:`edge_convolutions`): on the segmentation demo, quantizing every
convolution lost 1.22 mIoU, keeping the stem (which sees the normalised image) in float 0.50, the stem and the
classifier 0.43 (docs/benchmarks.md, issue 12).

Examples::

    >>> quantize_int8("model.onnx", "model_int8.onnx", images)  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError
from .runtime import import_onnxruntime

__all__ = ["CALIBRATION_CHUNK", "QUANTIZED_OPS", "edge_convolutions", "quantize_int8"]

QUANTIZED_OPS = ("Conv", "Gemm")
#: Calibration images whose activations are held at once; the ranges of successive chunks are merged. (onnxruntime's
#: ``CalibMaxIntermediateOutputs`` promises the same but, in onnxruntime 1.32, drops each full chunk unmerged: only
#: the last ``n % 16`` images counted, and none when ``n`` is a multiple of 16.)
CALIBRATION_CHUNK = 16


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


def quantize_int8(
    fp32: str | Path,
    int8: str | Path,
    images: Iterable[np.ndarray],
    *,
    input_name: str = "image",
    keep_edges_float: bool = True,
) -> dict:
    """Write the INT8 version of the ONNX model ``fp32`` to ``int8``, calibrated on ``images``.

    Args:
        fp32: the float model (its metadata is kept, with a ``quantization`` entry added).
        int8: where the quantized model goes.
        images: graph inputs (arrays in the model's input layout and type), read once.
        input_name: the graph's input.
        keep_edges_float: leave the first and the last convolution in float (:func:`edge_convolutions`).

    Returns:
        The ``quantization`` metadata: method, operators, convolutions kept in float, number of calibration images.
    """
    import_onnxruntime()
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    arrays = list(images)
    model = onnx.load(str(fp32))
    float_nodes = edge_convolutions(model) if keep_edges_float else []
    if not arrays:
        raise ExportError("INT8 calibration needs at least one image; none was given")

    class Reader(CalibrationDataReader):
        """The images in chunks of `CALIBRATION_CHUNK` (``set_range``): onnxruntime merges each chunk's ranges."""

        def __init__(self) -> None:
            self.window: Iterator[np.ndarray] = iter(arrays)

        def __len__(self) -> int:  # whole chunks (the last one may hold fewer images)
            return -(-len(arrays) // CALIBRATION_CHUNK) * CALIBRATION_CHUNK

        def set_range(self, start_index: int, end_index: int) -> None:
            self.window = iter(arrays[start_index:end_index])

        def get_next(self) -> dict[str, np.ndarray] | None:
            image = next(self.window, None)
            return None if image is None else {input_name: image}

    try:
        quantize_static(
            str(fp32),
            str(int8),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(QUANTIZED_OPS),
            nodes_to_exclude=float_nodes,
            extra_options={"CalibStridedMinMax": CALIBRATION_CHUNK},  # bounded memory, every image counted
        )
    except Exception as e:  # onnxruntime's quantizer raises plain exceptions of many types
        raise ExportError(f"{fp32}: onnxruntime could not quantize this model to INT8: {e}") from e
    info = {"method": "onnxruntime quantize_static QDQ", "weights": "int8 per channel",
            "activations": "uint8 per tensor (MinMax)", "operators": list(QUANTIZED_OPS),
            "float_nodes": float_nodes, "calibration_images": len(arrays)}  # fmt: skip
    props = {p.key: p.value for p in model.metadata_props}
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
    return info
