"""Models split where phone runtimes need it: the network in the exported file, the steps around it in PyTorch.

ExecuTorch (and phone apps generally) run the network; what has data-dependent shapes or is cheap glue stays with
the caller, as ultralytics' and Google's SSD samples do:

- a single-stage torchvision detector (RetinaNet, FCOS, SSD) is exported up to its raw head outputs (`HeadGraph`:
  the transformed image batch in; per level the head's outputs and a one-channel slice of the level's features,
  whose shape gives the level's size out). `head_recipe` records what its torchvision class needs to decode them
  (anchors, transform, post-processing limits); `detector_from_recipe` rebuilds that class around a runner of the
  file, so resizing, anchors, decoding, NMS and the mapping back to the image's pixels are torchvision's own code;
- a segmentation model is exported as the normalised network (`SegmentationNet`); `segment_with` resizes the input
  as `SegmentationGraph` does, runs it and upsamples its logits to the input's size.

Examples::

    >>> import torch
    >>> from torchvision.models.detection import retinanet_resnet50_fpn
    >>> detector = retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=3, min_size=64,
    ...                                   max_size=64).eval()
    >>> recipe = head_recipe(detector)
    >>> recipe["class"], recipe["keys"], recipe["levels"]
    ('RetinaNet', ['cls_logits', 'bbox_regression'], 5)
    >>> outputs = HeadGraph(detector)(torch.rand(1, 3, 64, 64))
    >>> rebuilt = detector_from_recipe(recipe, lambda x: HeadGraph(detector)(x))
    >>> [sorted(d) for d in rebuilt([torch.rand(3, 50, 60)])]
    [['boxes', 'labels', 'scores']]
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models.detection import FCOS, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator, DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD

from ..errors import ExportError
from .graphs import DetectionGraph, SegmentationGraph, class_map, resize_pixels

__all__ = [
    "HeadGraph",
    "SegmentationNet",
    "Split",
    "SplitRunner",
    "detector_class",
    "detector_from_recipe",
    "head_recipe",
    "segment_with",
    "split_graph",
]

#: The raw head outputs of each single-stage class, in the order its post-processing reads them.
HEAD_KEYS = {
    "RetinaNet": ("cls_logits", "bbox_regression"),
    "FCOS": ("cls_logits", "bbox_regression", "bbox_ctrness"),
    "SSD": ("bbox_regression", "cls_logits"),
}
#: Detectors whose stages are joined by RoIAlign and NMS: no single exportable network.
TWO_STAGE = ("FasterRCNN", "MaskRCNN", "KeypointRCNN")


def detector_class(detector: nn.Module) -> str:
    """The torchvision detector class ``detector`` is (or derives from), of the ones this module knows; else ``""``."""
    return next((c.__name__ for c in type(detector).__mro__ if c.__name__ in {*HEAD_KEYS, *TWO_STAGE}), "")


class HeadGraph(nn.Module):
    """A single-stage detector's backbone and head: the transformed batch ``(1, 3, H, W)`` in, per level its head
    outputs (``(1, anchors, columns)`` each) and ``features[:, :1]`` out (the level's size, for the anchors)."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        name = detector_class(detector)
        if name not in HEAD_KEYS:
            raise ValueError(f"{type(detector).__name__} is not a single-stage detector of {sorted(HEAD_KEYS)}")
        self.backbone, self.head, self.ssd = detector.backbone, detector.head, name == "SSD"
        self.keys = HEAD_KEYS[name]

    def _level(self, features: Tensor, level: int) -> dict[str, Tensor]:
        if not self.ssd:  # RetinaNet's and FCOS's heads share their weights across levels
            return self.head([features])
        out = {}
        for key, head in (
            ("bbox_regression", self.head.regression_head),
            ("cls_logits", self.head.classification_head),
        ):
            result = head._get_result_from_module_list(features, level)
            n, _, h, w = result.shape  # as torchvision's SSDScoringHead lays a level out
            out[key] = (
                result.view(n, -1, head.num_columns, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, head.num_columns)
            )
        return out

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        features = self.backbone(images)
        features = list(features.values()) if isinstance(features, dict) else [features]
        outputs: list[Tensor] = []
        for level, feature in enumerate(features):
            heads = self._level(feature, level)
            outputs += [heads[key] for key in self.keys] + [feature[:, :1]]
        return tuple(outputs)


def head_recipe(detector: nn.Module) -> dict[str, Any]:
    """What ``detector``'s torchvision class needs, besides its network, to turn head outputs into detections."""
    name = detector_class(detector)
    if name not in HEAD_KEYS:
        raise ValueError(f"{type(detector).__name__} is not a single-stage detector of {sorted(HEAD_KEYS)}")
    t = detector.transform
    transform = {"min_size": t.min_size[-1], "max_size": t.max_size, "image_mean": list(t.image_mean),
                 "image_std": list(t.image_std), "size_divisible": t.size_divisible,
                 "fixed_size": list(t.fixed_size) if t.fixed_size else None}  # fmt: skip
    post = {k: getattr(detector, k) for k in ("score_thresh", "nms_thresh", "detections_per_img", "topk_candidates")}
    gen = detector.anchor_generator
    if isinstance(gen, DefaultBoxGenerator):
        anchors = {"aspect_ratios": gen.aspect_ratios, "scales": gen.scales, "steps": gen.steps, "clip": gen.clip}
    else:
        anchors = {"sizes": [list(s) for s in gen.sizes], "aspect_ratios": [list(r) for r in gen.aspect_ratios]}
    levels = len(anchors["aspect_ratios"]) if name == "SSD" else len(anchors["sizes"])
    extra = {"center_sampling_radius": detector.center_sampling_radius} if name == "FCOS" else {}
    return {"class": name, "keys": list(HEAD_KEYS[name]), "levels": levels, "transform": transform,
            "anchors": anchors, "post": {**post, **extra}}  # fmt: skip


class _FileBackbone(nn.Module):
    """Runs the exported head graph on the transformed batch; returns the levels' size probes as the features and
    keeps the head outputs for `_FileHead`."""

    out_channels = 1

    def __init__(self, run: Callable[[Tensor], Sequence[Tensor]], keys: Sequence[str], levels: int) -> None:
        super().__init__()
        self.run, self.keys, self.levels = run, list(keys), levels
        self.head_outputs: dict[str, Tensor] = {}

    def forward(self, images: Tensor) -> OrderedDict[str, Tensor]:
        outputs = [torch.as_tensor(o) for o in self.run(images)]
        step = len(self.keys) + 1
        if len(outputs) != step * self.levels:
            raise ValueError(f"the exported head gave {len(outputs)} outputs, expected {step} x {self.levels} levels")
        per_level = [outputs[i : i + step] for i in range(0, len(outputs), step)]
        self.head_outputs = {k: torch.cat([lv[j] for lv in per_level], 1) for j, k in enumerate(self.keys)}
        return OrderedDict((str(i), lv[-1]) for i, lv in enumerate(per_level))


class _FileHead(nn.Module):
    def __init__(self, backbone: _FileBackbone) -> None:
        super().__init__()
        self.source = [backbone]  # not a submodule: the backbone is the detector's own

    def forward(self, features: list[Tensor]) -> dict[str, Tensor]:
        return self.source[0].head_outputs


def detector_from_recipe(recipe: dict[str, Any], run: Callable[[Tensor], Sequence[Tensor]]) -> nn.Module:
    """``recipe``'s torchvision class (eval mode) whose network is ``run`` (the exported head graph's runner)."""
    backbone = _FileBackbone(run, recipe["keys"], recipe["levels"])
    head, t, a, post = _FileHead(backbone), recipe["transform"], recipe["anchors"], dict(recipe["post"])
    norm = {"image_mean": t["image_mean"], "image_std": t["image_std"]}
    if recipe["class"] == "SSD":
        anchors = DefaultBoxGenerator(a["aspect_ratios"], scales=a["scales"], steps=a["steps"], clip=a["clip"])
        model = SSD(backbone, anchors, tuple(t["fixed_size"]), 2, head=head, **norm, **post)
    else:
        anchors = AnchorGenerator(tuple(tuple(s) for s in a["sizes"]), tuple(tuple(r) for r in a["aspect_ratios"]))
        cls = RetinaNet if recipe["class"] == "RetinaNet" else FCOS
        model = cls(backbone, 2, min_size=t["min_size"], max_size=t["max_size"], anchor_generator=anchors, head=head,
                    **norm, **post)  # fmt: skip
    model.transform.size_divisible = t["size_divisible"]
    return model.eval()


class SegmentationNet(nn.Module):
    """A ``{"out": logits}`` model on 0-255 pixels: normalised as trained, the logits out (no resize, no argmax)."""

    def __init__(self, model: nn.Module, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean.reshape(1, 3, 1, 1).clone(), persistent=False)
        self.register_buffer("std", std.reshape(1, 3, 1, 1).clone(), persistent=False)

    def forward(self, image: Tensor) -> Tensor:
        return self.model((image - self.mean) / self.std)["out"]


def segment_with(run: Callable[[Tensor], Tensor], image: Tensor, base_size: int) -> Tensor:
    """The class map of ``image`` (``(N, 3, H, W)`` or ``(3, H, W)`` pixels) from the logits ``run`` gives for its
    resized copy: the steps of `SegmentationGraph` around its network, image by image."""
    batch = image[None] if image.dim() == 3 else image
    masks = [class_map(torch.as_tensor(run(resize_pixels(x, base_size))), batch.shape[-2:], upsample=bool(base_size))
             for x in batch.float().split(1)]  # fmt: skip
    return torch.cat(masks)


#: The longest side of a segmentation network's input, as a multiple of ``base_size`` (a memory plan's bound).
LONG_SIDE = 4


@dataclass
class Split:
    """A whole-model graph split for a runtime: ``network`` goes into the file, ``prepare`` turns the graph's input
    into the network's; its input's height and width are dynamic up to ``longest`` (a multiple of ``multiple``;
    ``longest`` 0: static), and ``metadata`` says how `SplitRunner` runs the file."""

    network: nn.Module
    prepare: Callable[[Tensor], Tensor]
    metadata: dict[str, Any]
    longest: int = 0
    multiple: int = 1


def split_graph(graph: nn.Module, meta: dict[str, Any], two_stage: str) -> Split:
    """The `Split` of ``graph`` (a `DetectionGraph` of a single-stage detector, a `SegmentationGraph`, or a bare
    network, kept whole); a two-stage detector is an `ExportError` ending in ``two_stage`` (why the format refuses
    it)."""
    if isinstance(graph, DetectionGraph):
        detector = graph.detector
        if detector_class(detector) in TWO_STAGE:
            architecture = meta.get("architecture", "this model")
            raise ExportError(f"{architecture} runs RoIAlign and NMS between its two stages: {two_stage}")

        def prepare(image: Tensor) -> Tensor:
            image = image[0] if image.dim() == 4 else image
            return detector.transform([image.float() / 255.0])[0].tensors

        recipe = head_recipe(detector)
        longest = 0 if recipe["transform"]["fixed_size"] else 32 * math.ceil(recipe["transform"]["max_size"] / 32)
        meta = {**meta, "head": recipe, "category_ids": graph.category_ids.tolist()}
        return Split(HeadGraph(detector).eval(), prepare, meta, longest, 32)
    if isinstance(graph, SegmentationGraph):
        base = graph.base_size

        def resize(image: Tensor) -> Tensor:
            return resize_pixels((image[None] if image.dim() == 3 else image)[:1].float(), base)

        network = SegmentationNet(graph.model, graph.mean, graph.std).eval()
        return Split(network, resize, {**meta, "segmentation": {"base_size": base}}, LONG_SIDE * base if base else 2048)
    return Split(graph, lambda image: image.float(), meta)


class SplitRunner:
    """Runs a file holding a `Split`'s network as the whole graph would run: ``network(x) -> outputs`` is the
    file's runner, ``metadata`` the file's."""

    def __init__(self, network: Callable[[Tensor], Sequence[Any]], metadata: dict[str, Any]) -> None:
        self.network, self.metadata = network, metadata
        self.detector = detector_from_recipe(metadata["head"], self._tensors) if "head" in metadata else None
        self.category_ids = torch.tensor(metadata.get("category_ids", [0]), dtype=torch.int64)  # label -> category id

    def _tensors(self, x: Tensor) -> list[Tensor]:
        return [torch.as_tensor(np.asarray(o)) for o in self.network(x)]

    def run(self, image: Tensor | np.ndarray) -> list[np.ndarray]:
        x = torch.as_tensor(image)
        with torch.no_grad():
            if self.detector is not None:
                out = self.detector([(x[0] if x.dim() == 4 else x).float() / 255.0])[0]
                return [out["boxes"].numpy(), self.category_ids[out["labels"]].numpy(), out["scores"].numpy()]
            if "segmentation" in self.metadata:  # the split of a segmentation graph
                base = int(self.metadata["segmentation"]["base_size"])
                return [segment_with(lambda t: self._tensors(t)[0], x, base).numpy()]
            return [o.numpy() for o in self._tensors(x.float())]
