"""The segmentation `Task` for the shared training loop: VOC data, cross-entropy (ignore 255), confusion-matrix mIoU.

Examples::

    >>> from ghost_backbones.engine import fit, load_config
    >>> cfg = load_config(SegmentationConfig, "configs/deeplabv3_ghostnet_voc.yaml", {"data.root": "data/voc"})
    >>> metrics = fit(SegmentationTask(cfg))  # doctest: +SKIP
    >>> metrics["mIoU"]  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from ghost_backbones.engine import PREVIEW_IMAGES, Task, backbone_mean_std, load_trained_model, plots, progress

from .config import DataConfig, SegmentationConfig
from .data.formats import SEGMENTATION_FORMATS, SegmentationDataset
from .data.transforms import IGNORE_INDEX, SegmentationEvalTransform, SegmentationTrainTransform
from .draw import overlay
from .metrics import ConfusionMatrix
from .models import build_model

__all__ = ["SegmentationTask", "build_dataset", "load_segmenter", "predict_logits", "segmentation_loss"]


def segmentation_loss(logits: Tensor, target: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Pixel-averaged cross-entropy over labelled pixels; 0 (not NaN) when a crop has no labelled pixel.

    Args:
        logits: ``(N, C, H, W)`` scores.
        target: ``(N, H, W)`` class indices, ``ignore_index`` for void.
        ignore_index: label left out of the loss.

    Examples::

        >>> segmentation_loss(torch.zeros(1, 2, 2, 2), torch.full((1, 2, 2), 255))
        tensor(0.)
    """
    total = F.cross_entropy(logits.float(), target, ignore_index=ignore_index, reduction="sum")
    return total / (target != ignore_index).sum().clamp(min=1)


def predict_logits(model: nn.Module, image: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """``model(image)["out"]`` resized (bilinear) to ``size``, the original image resolution, in float32.

    Examples::

        >>> predict_logits(model, torch.rand(1, 3, 520, 693), (375, 500)).shape  # doctest: +SKIP
        torch.Size([1, 21, 375, 500])
    """
    logits = model(image)["out"].float()
    if logits.shape[-2:] != tuple(size):
        logits = F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)
    return logits


def build_dataset(data: DataConfig, *, train: bool, transforms: Any, num_classes: int) -> SegmentationDataset:
    """The training or evaluation split of ``data`` in its format: the builder ``data.format`` names in
    :data:`segmentation.data.formats.SEGMENTATION_FORMATS` (``voc``).

    Examples::

        >>> data = DataConfig(root="data/voc")
        >>> val = build_dataset(data, train=False, transforms=None, num_classes=21)  # doctest: +SKIP
        >>> len(val)  # doctest: +SKIP
        1449
    """
    build = SEGMENTATION_FORMATS.get(data.format)
    return build(data, train=train, transforms=transforms, num_classes=num_classes)


class SegmentationTask(Task):
    """Semantic segmentation on VOC-layout data with a GhostNet (or torchvision baseline) segmentation model.

    Args:
        cfg: a `SegmentationConfig`.

    Examples::

        >>> task = SegmentationTask(SegmentationConfig())
        >>> task.best_metric, type(task.build_model()).__name__, task.mean_std[0]
        ('mIoU', 'DeepLabV3', (0.485, 0.456, 0.406))
    """

    name = "segmentation"
    best_metric = "mIoU"
    val_batch_size = 1  # images keep their own size: evaluation is at the original resolution

    def __init__(self, cfg: SegmentationConfig) -> None:
        super().__init__(cfg)
        self.cfg: SegmentationConfig = cfg
        # the images are normalised as the backbone was pretrained (timm's pretrained_cfg; ImageNet's for the
        # torchvision baselines), known from the config before any model is built
        backbone = getattr(cfg.model, "backbone", None)
        self.mean_std = backbone_mean_std(backbone) if backbone else (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
        self._confmat: np.ndarray | None = None  # the last evaluation's confusion matrix, for `plot`
        self._preview: list[tuple[Tensor, Tensor, Tensor]] = []  # (image, mask, prediction) for `previews`

    def build_model(self) -> nn.Module:
        return build_model(self.cfg.model)

    def build_datasets(self) -> tuple[Dataset, Dataset]:
        data, n = self.cfg.data, self.cfg.model.num_classes
        mean, std = self.mean_std
        train_transform = SegmentationTrainTransform(
            data.crop_size, data.base_size, data.scale_range, data.hflip_prob, mean=mean, std=std
        )
        val_transform = SegmentationEvalTransform(data.base_size, mean=mean, std=std)
        val = build_dataset(data, train=False, transforms=val_transform, num_classes=n)
        if self.cfg.train.test_only:
            return val, val
        return build_dataset(data, train=True, transforms=train_transform, num_classes=n), val

    def training_step(self, model: nn.Module, batch: Any, device: torch.device) -> dict[str, Tensor]:
        images, masks = batch
        out = model(images.to(device, non_blocking=True))
        masks = masks.to(device, non_blocking=True)
        losses = {"loss_ce": segmentation_loss(out["out"], masks)}
        if "aux" in out:
            losses["loss_aux"] = self.cfg.model.aux_weight * segmentation_loss(out["aux"], masks)  # AuxOptions heads
        return losses

    def evaluate(self, model: nn.Module, loader: Any, device: torch.device) -> dict[str, Any]:
        confmat = ConfusionMatrix(self.cfg.model.num_classes, device=device)
        self._preview = []
        for images, masks in progress(loader, desc="evaluate"):
            masks = masks.to(device)
            logits = predict_logits(model, images.to(device), masks.shape[-2:])
            predicted = logits.argmax(1)
            confmat.update(masks, predicted)
            for image, mask, pred in zip(images, masks, predicted):
                if len(self._preview) < PREVIEW_IMAGES:
                    self._preview.append((image.cpu(), mask.cpu(), pred.cpu()))
        confmat.reduce_from_all_processes()
        self._confmat = confmat.numpy()
        return confmat.compute(self.cfg.data.class_names)

    def previews(self) -> dict[str, np.ndarray]:
        """The first validation images of the last evaluation: prediction (left) beside the ground truth (right)."""
        from PIL import Image

        mean, std = (torch.tensor(v).view(3, 1, 1) for v in self.mean_std or ((0.0,) * 3, (1.0,) * 3))
        pictures = {}
        for i, (image, mask, pred) in enumerate(self._preview):
            image = F.interpolate((image * std + mean)[None], size=mask.shape[-2:], mode="bilinear")[0]
            photo = Image.fromarray((image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())
            both = [np.asarray(overlay(photo, m.numpy().astype(np.uint8))) for m in (pred, mask)]
            pictures[str(i)] = np.concatenate(both, axis=1)
        return pictures

    def plot(self, metrics: dict[str, Any], folder: Path) -> list[Path | None]:
        """``confusion_matrix.png`` (rows normalised, class names) and ``per_class_iou.png`` (classes present)."""
        names = list(metrics["per_class_IoU"])
        iou = {name: value for name, value in metrics["per_class_IoU"].items() if value is not None}
        pictures = [plots.plot_per_class_bars(iou, folder, name="per_class_iou", title="IoU per class (%)")]
        if self._confmat is not None:
            pictures.append(plots.plot_confusion_matrix(self._confmat, names, folder))
        return pictures


def load_segmenter(weights: str | Path) -> tuple[nn.Module, SegmentationConfig]:
    """The eval-mode model (on the CPU) and recipe saved in a ``segmentation.train`` checkpoint.

    Raises:
        FileNotFoundError: no file at ``weights``.
        ValueError: not a segmentation checkpoint, or its weights do not fit its recipe.

    Examples::

        >>> model, cfg = load_segmenter("runs/dl3/best.pth")  # doctest: +SKIP
        >>> cfg.model.arch  # doctest: +SKIP
        'deeplabv3'
    """
    return load_trained_model(weights, SegmentationTask.name, SegmentationConfig, build_model)
