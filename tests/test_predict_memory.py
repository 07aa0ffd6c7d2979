"""Mask R-CNN predict pastes masks into the photo only for the detections it keeps, one at a time."""

from __future__ import annotations

import numpy as np
import torch
from helpers import detection_checkpoint, photos
from pycocotools import mask as mask_utils
from torchvision.models.detection import transform as rcnn_transform
from torchvision.transforms.v2 import functional as F

from detection import paste, predict
from ghost_backbones.data.images import read_rgb


def test_masks_are_pasted_after_the_threshold_one_by_one(coco_root, tmp_path, monkeypatch):
    model, categories = predict.load_detector(detection_checkpoint("mask_rcnn", coco_root, tmp_path))
    folder = photos(tmp_path / "photos", "big.jpg")
    image = F.to_dtype(F.pil_to_tensor(read_rgb(folder / "big.jpg")), torch.float32, scale=True)
    with torch.inference_mode():
        reference = model([image])[0]  # torchvision's way: every detection pasted at the photo's size
    threshold = float(reference["scores"].median())
    kept = int((reference["scores"] >= threshold).sum())
    assert 0 < kept < len(reference["scores"]), "the check needs detections on both sides of the threshold"

    pasted = []
    original = paste.paste_masks_in_image
    monkeypatch.setattr(rcnn_transform, "paste_masks_in_image", lambda *a: pasted.append("all") or original(*a))
    monkeypatch.setattr(paste, "paste_masks_in_image", lambda m, *a: pasted.append(len(m)) or original(m, *a))
    dets = predict.predict_images(model, categories, [folder / "big.jpg"], tmp_path / "out", score_thresh=threshold)
    assert pasted == [1] * kept  # none before the threshold, each kept one alone
    assert len(dets) == kept
    expected = (reference["masks"][reference["scores"] >= threshold, 0] > 0.5).numpy()
    decoded = np.stack([mask_utils.decode(d["segmentation"]) for d in dets])
    np.testing.assert_array_equal(decoded, expected)  # the same masks as pasting everything first
    assert "postprocess" not in vars(model.transform)  # torchvision's own postprocess again
