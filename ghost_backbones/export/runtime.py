"""Exported models run like the PyTorch ones: `OnnxDetector` and `OnnxSegmenter` (onnxruntime, imported lazily).

``predict`` takes them where it takes a checkpoint's model: `OnnxDetector` is called as a torchvision detector
(``model([image_0_to_1, ...]) -> [{"boxes", "labels", "scores"}]``, contiguous labels, as the checkpoint's model
gives), `OnnxSegmenter` gives the class map of a photo (`OnnxSegmenter.predict_mask`). The file's metadata
(categories, input size) comes with them.

Examples::

    >>> model = load_onnx("model.onnx", "detection")  # doctest: +SKIP
    >>> model([torch.rand(3, 480, 640)])[0]["boxes"].shape  # doctest: +SKIP
    torch.Size([7, 4])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms.v2.functional import pil_to_tensor

from ..errors import ExportError

__all__ = ["OnnxDetector", "OnnxModel", "OnnxSegmenter", "import_onnxruntime", "is_onnx", "load_onnx"]


def is_onnx(path: str | Path) -> bool:
    """Whether ``path`` names an ONNX file (by its suffix)."""
    return Path(path).suffix.lower() == ".onnx"


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module, or an `ExportError` saying how to install it."""
    try:
        import onnxruntime
    except ImportError as e:
        raise ExportError(
            "running an exported .onnx model needs onnxruntime, which is not installed: "
            "pip install 'ghost-backbones[export]' (or pip install onnxruntime)"
        ) from e
    return onnxruntime


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


class OnnxModel:
    """An ONNX file written by ``export`` in an onnxruntime session (CPU), with its metadata.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (``None``: onnxruntime's default).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        ort = import_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            raise ExportError(f"{path}: onnxruntime cannot load this file ({e})") from e
        self.path = path
        props = self.session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, Any] = {k: _decode(v) for k, v in props.items()}
        self.input = self.session.get_inputs()[0]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, image: Tensor | np.ndarray) -> list[np.ndarray]:
        """The graph's outputs for one input (the graph's layout; cast to its input type)."""
        array = image.detach().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
        dtype = np.uint8 if self.input.type == "tensor(uint8)" else np.float32
        return self.session.run(None, {self.input.name: array.astype(dtype, copy=False)})

    def to(self, device: Any) -> OnnxModel:  # the session runs on the CPU; inputs are brought there
        return self

    def eval(self) -> OnnxModel:
        return self


class OnnxDetector(OnnxModel):
    """An exported detector, called as the checkpoint's torchvision detector is (images in 0-1, labels 1..N)."""

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        super().__init__(path, threads=threads)
        self.categories: list[dict[str, Any]] = list(self.metadata.get("categories", []))
        ids = sorted(int(c["id"]) for c in self.categories)
        self._label_of = {0: 0, **{cat_id: i + 1 for i, cat_id in enumerate(ids)}}  # 0: background, as eager

    def __call__(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        results = []
        for image in images:
            pixels = image.detach().cpu().float() * 255.0
            if self.input.type == "tensor(uint8)":
                pixels = pixels.round().clamp(0, 255).to(torch.uint8)
            out = dict(zip(self.output_names, (torch.from_numpy(o) for o in self.run(pixels))))
            out["labels"] = torch.tensor([self._label_of[int(i)] for i in out["labels"]], dtype=torch.int64)
            results.append(out)
        return results


class OnnxSegmenter(OnnxModel):
    """An exported segmentation model: image pixels in, class map at the image's resolution out."""

    @property
    def base_size(self) -> int:
        """The shorter side the graph resizes images to (0: none), fixed when it was exported."""
        return int(self.metadata.get("input_size", {}).get("base_size", 0))

    def __call__(self, images: Tensor) -> Tensor:
        """Class maps ``(N, H, W)`` of ``(N, 3, H, W)`` or ``(3, H, W)`` images (uint8 or float 0-255)."""
        return torch.from_numpy(self.run(images if images.dim() == 4 else images[None])[0])

    def predict_mask(self, image: Image.Image, base_size: int | None = None) -> np.ndarray:
        """Class-index mask (``uint8``) of a photo, as ``segmentation.predict.predict_mask`` gives it.

        Raises:
            ValueError: ``base_size`` differs from the one the graph was exported with.
        """
        if base_size is not None and base_size != self.base_size:
            raise ValueError(
                f"{self.path} resizes images to a shorter side of {self.base_size} (fixed when it was exported), "
                f"got base_size {base_size}; leave --base-size out to use it"
            )
        pixels = pil_to_tensor(image.convert("RGB"))
        return self(pixels)[0].numpy().astype(np.uint8)


def load_onnx(path: str | Path, task: str, *, threads: int | None = None) -> OnnxDetector | OnnxSegmenter:
    """The exported model at ``path`` as `OnnxDetector` / `OnnxSegmenter`; its metadata must name ``task``.

    Raises:
        FileNotFoundError: no file. ExportError: onnxruntime missing, unreadable file, or another task's model.
    """
    model = (OnnxDetector if task == "detection" else OnnxSegmenter)(path, threads=threads)
    saved = model.metadata.get("task")
    if saved != task:
        raise ExportError(f"{path} is not a {task} model exported by {task}.export (its metadata names task {saved!r})")
    return model
