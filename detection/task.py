"""The detection `Task` for the shared engine: the registered detectors on COCO-format data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Sampler

from ghost_backbones.engine import (
    PREVIEW_IMAGES,
    DataError,
    Task,
    distributed,
    plots,
    progress,
    read_trained_checkpoint,
)

from .config import DataConfig, DetectionConfig
from .data.categories import CategoryMap
from .data.formats import DATA_FORMATS, DetectionDataset
from .data.sampler import GroupedBatchSampler
from .data.transforms import detection_transforms
from .draw import draw_detections
from .evaluate import coco_evaluation, to_coco_results
from .models import build_model, needs_masks
from .trained import TASK
from .voc_eval import voc_evaluate

__all__ = ["TASK", "DetectionTask", "collate"]


def collate(batch: list[Any]) -> tuple[tuple, tuple]:
    """``[(image, target), ...]`` -> ``(images, targets)``; ``None`` entries (skipped bad images) are dropped.

    Examples::

        >>> collate([("img0", {"image_id": 0}), None])
        (('img0',), ({'image_id': 0},))
    """
    pairs = [item for item in batch if item is not None]
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def build_dataset(
    data: DataConfig, *, train: bool, transforms: Any, categories: CategoryMap | None, masks: bool = False
) -> DetectionDataset:
    """The training or evaluation split of ``data`` in its format: the builder ``data.format`` names in
    :data:`detection.data.formats.DATA_FORMATS` (``coco``, ``voc``, ``yolo``; each module documents its checks).

    ``categories`` is the training split's label mapping (``None``: the format's own). ``masks`` (the model learns
    instance masks, :func:`detection.models.needs_masks`) adds ``masks`` to the targets; only formats registered
    with ``masks=True`` have them (the config refuses the others).

    Examples::

        >>> cfg = DataConfig(format="voc", root="data/voc", class_names=["circle", "square"])
        >>> val = build_dataset(cfg, train=False, transforms=None, categories=None)  # doctest: +SKIP
        >>> val.categories.names  # doctest: +SKIP
        ('circle', 'square')
    """
    build = DATA_FORMATS.get(data.format).build
    return build(data, train=train, transforms=transforms, categories=categories, masks=masks)


class DetectionTask(Task):
    """A registered detector (``model.arch``) trained and evaluated (COCO box AP; mask AP too for Mask R-CNN) by
    ``ghost_backbones.engine.fit``.

    The categories (id, name) are read from the training annotation file unless ``data.categories`` is set;
    `build_datasets` (called first, as torchvision's references read the dataset and its classes before building
    the model) then makes ``self.cfg`` a copy with ``data.categories`` and ``model.num_classes`` resolved, so every
    checkpoint carries the label mapping that ``predict`` needs. The loaded config is never changed.

    Args:
        cfg: the detection recipe.

    Examples::

        >>> from ghost_backbones.engine import fit, load_config
        >>> cfg = load_config(DetectionConfig, "configs/faster_rcnn_ghostnet_fpn_coco.yaml", ["data.root=ROOT"])
        >>> metrics = fit(DetectionTask(cfg))  # doctest: +SKIP
        >>> metrics["bbox"]["AP"]  # doctest: +SKIP
    """

    name = TASK

    @property
    def best_metric(self) -> str:  # type: ignore[override]  # VOC data: the VOC2010+ mAP@0.5
        return "voc.mAP50_area" if DATA_FORMATS.get(self.cfg.data.format).voc_metric else "bbox.AP"

    def __init__(self, cfg: DetectionConfig) -> None:
        super().__init__(cfg)
        self.val_batch_size = cfg.data.val_batch_size
        self._datasets: tuple[Dataset, DetectionDataset] | None = None
        self._precision: np.ndarray | None = None  # the last evaluation's PR array (main process), for `plot`
        self._preview: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []  # (image, output) for `previews`

    # ------------------------------------------------------------------ data
    def _categories_from_checkpoint(self) -> list[dict[str, Any]]:
        train = self.cfg.train
        source = train.resume if train.resume and train.resume != "auto" else train.weights
        if not source:
            return []
        config = read_trained_checkpoint(source, self.name)["config"]
        return list(config.get("data", {}).get("categories", []))

    def _build_datasets(self) -> tuple[Dataset, DetectionDataset]:
        data, model = self.cfg.data, self.cfg.model
        masks = needs_masks(model.arch)
        categories = data.categories or ([] if not self.cfg.train.test_only else self._categories_from_checkpoint())
        cat_map = CategoryMap.from_categories(categories) if categories else None
        train_ds: Dataset = []  # type: ignore[assignment]  # evaluation only: the engine never reads it
        if not self.cfg.train.test_only:
            transforms = detection_transforms(True, min_sizes=data.train_min_sizes or [model.min_size],
                                              max_size=model.max_size, hflip_prob=data.hflip_prob,
                                              augmentation=data.augmentation)  # fmt: skip
            train_ds = build_dataset(data, train=True, transforms=transforms, categories=cat_map, masks=masks)
            cat_map = train_ds.categories
        val_ds = build_dataset(data, train=False, transforms=detection_transforms(False), categories=cat_map,
                               masks=masks)  # fmt: skip
        if not any(not a["iscrowd"] for a in val_ds.coco["annotations"]):
            raise DataError(
                f"{val_ds.annotation_file}: no object to evaluate on ({len(val_ds)} image(s), no non-crowd "
                "annotation): the AP would be 0 and best.pth chosen on nothing"
            )
        num_classes = model.num_classes or val_ds.categories.num_classes
        if num_classes < val_ds.categories.num_classes:
            raise DataError(
                f"model.num_classes={model.num_classes} is too small for the {len(val_ds.categories.ids)} categories "
                f"of {val_ds.annotation_file} (needs >= {val_ds.categories.num_classes} with background)"
            )
        self.cfg = replace(self.cfg, data=replace(data, categories=val_ds.categories.as_categories()),
                           model=replace(model, num_classes=num_classes))  # fmt: skip
        return train_ds, val_ds

    def build_datasets(self) -> tuple[Dataset, Dataset]:
        if self._datasets is None:
            self._datasets = self._build_datasets()
        return self._datasets

    def collate_fn(self, batch: list[Any]) -> tuple[tuple, tuple]:
        return collate(batch)

    def train_batch_sampler(self, dataset: Dataset, sampler: Sampler[int], batch_size: int) -> Sampler[list[int]]:
        if not self.cfg.data.aspect_ratio_grouping:
            return super().train_batch_sampler(dataset, sampler, batch_size)
        groups = [int(dataset.aspect_ratio(i) < 1.0) for i in range(len(dataset))]
        return GroupedBatchSampler(sampler, groups, batch_size)

    # ----------------------------------------------------------------- model
    def build_model(self) -> nn.Module:
        """The detector; after `build_datasets`, which resolves the number of classes from the annotation file."""
        if self._datasets is None:
            raise RuntimeError("DetectionTask.build_model needs build_datasets first (it resolves num_classes)")
        # Training images are resized by the data pipeline (multi-scale); evaluation by the model. A model with a
        # fixed input (SSD's square) resizes in training too: a shortest-side resize does not give its square.
        model = build_model(self.cfg.model, _skip_resize=True)
        model.transform._skip_resize = model.transform.fixed_size is None
        return model

    def training_step(self, model: nn.Module, batch: Any, device: torch.device) -> dict[str, torch.Tensor]:
        images, targets = batch
        images = [image.to(device, non_blocking=True) for image in images]
        keys = ("boxes", "labels", "masks") if needs_masks(self.cfg.model.arch) else ("boxes", "labels")
        targets = [{key: t[key].as_subclass(torch.Tensor).to(device) for key in keys} for t in targets]
        return model(images, targets)

    # ------------------------------------------------------------ evaluation
    def evaluate(self, model: nn.Module, loader: Any, device: torch.device) -> dict[str, Any]:
        dataset: DetectionDataset = loader.dataset
        results: list[dict[str, Any]] = []
        image_ids: list[int] = []
        self._preview = []
        for images, targets in progress(loader, desc="evaluate"):
            if not images:
                continue
            outputs = model([image.to(device, non_blocking=True) for image in images])
            for image, target, output in zip(images, targets, outputs):
                if len(self._preview) < PREVIEW_IMAGES:
                    self._preview.append((image.cpu(), {k: v.cpu() for k, v in output.items()}))
                image_ids.append(target["image_id"])
                results.extend(to_coco_results(target["image_id"], output, dataset.categories))
        gathered = distributed.all_gather_object((image_ids, results))
        all_ids = [i for ids, _ in gathered for i in ids]
        if not all_ids:  # every rank sees it: all stop together
            raise DataError(f"{dataset.image_dir}: no validation image could be read ({len(dataset)} skipped)")
        metrics = None
        if distributed.is_main_process():
            iou_types = ("bbox", "segm") if needs_masks(self.cfg.model.arch) else ("bbox",)
            results = [r for _, res in gathered for r in res]
            metrics, self._precision = coco_evaluation(dataset.evaluation_coco, results, all_ids, iou_types=iou_types)
            metrics["images"] = len(all_ids)
            metrics["skipped_images"] = len(dataset) - len(all_ids)
            if DATA_FORMATS.get(self.cfg.data.format).voc_metric:  # "bbox": COCO-style AP, difficult ones as crowd
                voc = voc_evaluate(dataset.coco, results, all_ids)
                metrics.update(voc, data_format=self.cfg.data.format)
        return distributed.all_gather_object(metrics)[0]

    def previews(self, score_thresh: float = 0.5) -> dict[str, np.ndarray]:
        """The first validation images of the last evaluation with their detections above ``score_thresh`` drawn."""
        categories = self._datasets[1].categories if self._datasets else None
        pictures = {}
        for i, (image, output) in enumerate(self._preview):
            keep = output["scores"] >= score_thresh
            drawn = draw_detections((image * 255).round().to(torch.uint8), {k: v[keep] for k, v in output.items()},
                                    categories)  # fmt: skip
            pictures[str(i)] = drawn.permute(1, 2, 0).numpy()
        return pictures

    def plot(self, metrics: dict[str, Any], folder: Path) -> list[Path | None]:
        """``pr_curves.png`` (per class, IoU 0.5 and 0.75; when anything was detected) and ``per_class_ap.png``."""
        per_category = metrics["bbox"]["per_category"]
        ap = {c["name"]: c["AP"] for c in per_category if c["AP"] >= 0}  # -1: no ground truth of the class
        pictures = [
            plots.plot_per_class_bars(ap, folder, name="per_class_ap", title="box AP (IoU 0.50:0.95) per class")
        ]
        if self._precision is not None:
            pictures.append(plots.plot_pr_curves(self._precision, [c["name"] for c in per_category], folder))
        return pictures
