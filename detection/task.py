"""The detection `Task` for the shared engine: Faster R-CNN GhostNet-FPN on COCO-format data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Sampler
from torchvision.models.detection import FasterRCNN

from ghost_backbones.engine import DataError, Task, distributed, load_checkpoint, progress

from .config import DetectionConfig, ModelConfig
from .data.coco import CategoryMap, CocoDetection
from .data.sampler import GroupedBatchSampler
from .data.transforms import detection_transforms
from .evaluate import coco_evaluate, to_coco_results
from .models.faster_rcnn import fasterrcnn_ghostnet_fpn

__all__ = ["DetectionTask", "build_detector", "collate"]


def build_detector(cfg: ModelConfig, num_classes: int, **frcnn_kwargs: Any) -> FasterRCNN:
    """``fasterrcnn_ghostnet_fpn`` from a :class:`ModelConfig`.

    Args:
        cfg: the ``model`` section of the recipe.
        num_classes: classes including the background.
        **frcnn_kwargs: extra ``FasterRCNN`` arguments (the task passes ``_skip_resize``).

    Examples::

        >>> build_detector(ModelConfig(width=0.5), num_classes=4).roi_heads.box_predictor.cls_score.out_features
        4
    """
    return fasterrcnn_ghostnet_fpn(
        num_classes=num_classes,
        name=cfg.name,
        width=cfg.width,
        out_indices=cfg.out_indices,
        fpn_channels=cfg.fpn_channels,
        extra_blocks=cfg.extra_blocks,
        fpn_norm=cfg.fpn_norm,
        frozen_stages=cfg.frozen_stages,
        norm_layer=cfg.norm_layer or None,
        pretrained=cfg.pretrained,
        anchor_sizes=cfg.anchor_sizes,
        anchor_scales=cfg.anchor_scales,
        aspect_ratios=cfg.aspect_ratios,
        box_head_convs=cfg.box_head_convs,
        box_head_fcs=cfg.box_head_fcs,
        box_head_norm=cfg.box_head_norm,
        min_size=cfg.min_size,
        max_size=cfg.max_size,
        timm_kwargs=cfg.timm_kwargs,
        rpn_pre_nms_top_n_train=cfg.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=cfg.rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=cfg.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=cfg.rpn_post_nms_top_n_test,
        rpn_batch_size_per_image=cfg.rpn_batch_size_per_image,
        box_batch_size_per_image=cfg.box_batch_size_per_image,
        box_score_thresh=cfg.box_score_thresh,
        box_detections_per_img=cfg.box_detections_per_img,
        **frcnn_kwargs,
    )


def collate(batch: list[Any]) -> tuple[tuple, tuple]:
    """``[(image, target), ...]`` -> ``(images, targets)``; ``None`` entries (skipped bad images) are dropped.

    Examples::

        >>> collate([("img0", {"image_id": 0}), None])
        (('img0',), ({'image_id': 0},))
    """
    pairs = [item for item in batch if item is not None]
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


class DetectionTask(Task):
    """Faster R-CNN GhostNet-FPN trained and evaluated (COCO box AP) by ``ghost_backbones.engine.fit``.

    The categories (id, name) are read from the training annotation file unless ``data.categories`` is set, and
    written back into the config, so every checkpoint carries the label mapping that ``predict`` needs.

    Args:
        cfg: the detection recipe.

    Examples::

        >>> from ghost_backbones.engine import fit, load_config
        >>> cfg = load_config(DetectionConfig, "configs/faster_rcnn_ghostnet_fpn_coco.yaml", ["data.root=ROOT"])
        >>> metrics = fit(DetectionTask(cfg))  # doctest: +SKIP
        >>> metrics["bbox"]["AP"]  # doctest: +SKIP
    """

    best_metric = "bbox.AP"

    def __init__(self, cfg: DetectionConfig) -> None:
        super().__init__(cfg)
        self.val_batch_size = cfg.data.val_batch_size
        self._datasets: tuple[Dataset, CocoDetection] | None = None

    # ------------------------------------------------------------------ data
    def _path(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else Path(self.cfg.data.root) / path

    def _categories_from_checkpoint(self) -> list[dict[str, Any]]:
        train = self.cfg.train
        source = train.resume if train.resume and train.resume != "auto" else train.weights
        if not source:
            return []
        config = load_checkpoint(source).get("config") or {}
        return list(config.get("data", {}).get("categories", []))

    def _build_datasets(self) -> tuple[Dataset, CocoDetection]:
        data, model = self.cfg.data, self.cfg.model
        categories = data.categories or ([] if not self.cfg.train.test_only else self._categories_from_checkpoint())
        cat_map = CategoryMap.from_categories(categories) if categories else None
        train_ds: Dataset = []  # type: ignore[assignment]  # evaluation only: the engine never reads it
        if not self.cfg.train.test_only:
            train_ds = CocoDetection(
                self._path(data.train_images),
                self._path(data.train_annotations),
                detection_transforms(
                    True,
                    min_sizes=data.train_min_sizes or [model.min_size],
                    max_size=model.max_size,
                    hflip_prob=data.hflip_prob,
                ),
                categories=cat_map,
                skip_bad_images=data.skip_bad_images,
                substitute_bad=True,
            )
            cat_map = train_ds.categories
        val_ds = CocoDetection(
            self._path(data.val_images),
            self._path(data.val_annotations),
            detection_transforms(False),
            categories=cat_map,
            skip_bad_images=data.skip_bad_images,
        )
        data.categories = val_ds.categories.as_categories()
        num_classes = model.num_classes or val_ds.categories.num_classes
        if num_classes < val_ds.categories.num_classes:
            raise DataError(
                f"model.num_classes={model.num_classes} is too small for the {len(val_ds.categories.ids)} categories "
                f"of {self._path(data.train_annotations)} (needs >= {val_ds.categories.num_classes} with background)"
            )
        model.num_classes = num_classes
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
        self.build_datasets()  # the number of classes comes from the annotation file
        # Training images are resized by the data pipeline (multi-scale); evaluation by the model.
        return build_detector(self.cfg.model, self.cfg.model.num_classes, _skip_resize=True)

    def training_step(self, model: nn.Module, batch: Any, device: torch.device) -> dict[str, torch.Tensor]:
        images, targets = batch
        images = [image.to(device, non_blocking=True) for image in images]
        targets = [
            {"boxes": t["boxes"].as_subclass(torch.Tensor).to(device), "labels": t["labels"].to(device)}
            for t in targets
        ]
        return model(images, targets)

    # ------------------------------------------------------------ evaluation
    def evaluate(self, model: nn.Module, loader: Any, device: torch.device) -> dict[str, Any]:
        dataset: CocoDetection = loader.dataset
        results: list[dict[str, Any]] = []
        image_ids: list[int] = []
        for images, targets in progress(loader, desc="evaluate"):
            if not images:
                continue
            outputs = model([image.to(device, non_blocking=True) for image in images])
            for target, output in zip(targets, outputs):
                image_ids.append(target["image_id"])
                results.extend(to_coco_results(target["image_id"], output, dataset.categories))
        gathered = distributed.all_gather_object((image_ids, results))
        metrics = None
        if distributed.is_main_process():
            all_ids = [i for ids, _ in gathered for i in ids]
            metrics = coco_evaluate(dataset.coco, [r for _, res in gathered for r in res], all_ids)
            metrics["images"] = len(all_ids)
            metrics["skipped_images"] = len(dataset) - len(all_ids)
        return distributed.all_gather_object(metrics)[0]
