"""Exported files run like the PyTorch models: `ExportedDetector` and `ExportedSegmenter`, in any registered format.

``predict`` takes them where it takes a checkpoint's model (`load_exported` picks the format by the file's suffix:
`ghost_backbones.export.formats`): `ExportedDetector` is called as a torchvision detector
(``model([image_0_to_1, ...]) -> [{"boxes", "labels", "scores"}]``, contiguous labels, as the checkpoint's model
gives), `ExportedSegmenter` gives the class map of a photo (`ExportedSegmenter.predict_mask`). The file's metadata
(categories, input size) comes with them.

Examples::

    >>> model = load_exported("model.onnx", "detection")  # doctest: +SKIP
    >>> model([torch.rand(3, 480, 640)])[0]["boxes"].shape  # doctest: +SKIP
    torch.Size([7, 4])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms.v2.functional import pil_to_tensor

from ..errors import ExportError
from .formats import FORMATS, ExportedGraph

__all__ = ["ExportedDetector", "ExportedModel", "ExportedSegmenter", "is_exported", "load_exported"]


def is_exported(path: str | Path) -> bool:
    """Whether ``path`` names an exported file (by its suffix: one of a registered format)."""
    return FORMATS.for_path(path) is not None


class ExportedModel:
    """An exported file loaded by its format (an `ExportedGraph`), with the graph's metadata at hand."""

    def __init__(self, graph: ExportedGraph) -> None:
        self.graph = graph
        self.path, self.metadata, self.output_names = graph.path, graph.metadata, graph.output_names

    def run(self, image: Tensor | np.ndarray) -> list[np.ndarray]:
        """The graph's outputs for one input (the graph's layout)."""
        return self.graph.run(image)

    def to(self, device: Any) -> ExportedModel:  # the runtimes run on the CPU; inputs are brought there
        return self

    def eval(self) -> ExportedModel:
        return self


class ExportedDetector(ExportedModel):
    """An exported detector, called as the checkpoint's torchvision detector is (images in 0-1, labels 1..N)."""

    def __init__(self, graph: ExportedGraph) -> None:
        super().__init__(graph)
        self.categories: list[dict[str, Any]] = list(self.metadata.get("categories", []))
        ids = sorted(int(c["id"]) for c in self.categories)
        self._label_of = {0: 0, **{cat_id: i + 1 for i, cat_id in enumerate(ids)}}  # 0: background, as eager

    def __call__(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        results = []
        for image in images:
            pixels = image.detach().cpu().float() * 255.0
            if self.graph.input_dtype == "uint8":
                pixels = pixels.round().clamp(0, 255).to(torch.uint8)
            out = dict(zip(self.output_names, (torch.from_numpy(o) for o in self.run(pixels))))
            out["labels"] = torch.tensor([self._label_of[int(i)] for i in out["labels"]], dtype=torch.int64)
            results.append(out)
        return results


class ExportedSegmenter(ExportedModel):
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


#: The model class of each task's exported files.
MODEL_OF_TASK: dict[str, type[ExportedModel]] = {"detection": ExportedDetector, "segmentation": ExportedSegmenter}


def load_exported(path: str | Path, task: str, *, threads: int | None = None) -> Any:
    """The exported model at ``path`` (its format chosen by suffix) as ``task``'s model class
    (`ExportedDetector` / `ExportedSegmenter`); its metadata must name ``task``.

    Raises:
        FileNotFoundError: no file. ExportError: not an exported file's suffix, the format's package missing, an
        unreadable file, or another task's model.
    """
    fmt = FORMATS.for_path(path)
    if fmt is None:
        suffixes = [f.suffix for f in FORMATS]
        raise ExportError(f"{path} is no exported model: its suffix is not one of {suffixes}")
    if task not in MODEL_OF_TASK:
        raise ValueError(f"task must be one of {list(MODEL_OF_TASK)}, got {task!r}")
    fmt.require()
    model = MODEL_OF_TASK[task](fmt.load(path, threads=threads))
    saved = model.metadata.get("task")
    if saved != task:
        raise ExportError(f"{path} is not a {task} model exported by {task}.export (its metadata names task {saved!r})")
    return model
