"""The install itself: a torch/torchvision pair built for each other, and the declared dependencies importable."""

from __future__ import annotations

import torch
import torchvision


def test_torchvision_ops_match_torch():
    # A torchvision built for another torch fails here with "operator torchvision::nms does not exist".
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    out = torchvision.ops.roi_align(torch.ones(1, 1, 8, 8), [boxes[:1]], output_size=2)
    assert out.shape == (1, 1, 2, 2)


def test_declared_dependencies_work():
    """Each declared dependency imports and does its one job here (a broken wheel fails, not just a missing one)."""
    import numpy as np
    import timm
    import yaml
    from PIL import Image
    from pycocotools import mask as mask_utils
    from tqdm import tqdm

    assert yaml.safe_load("a: [1, 2]") == {"a": [1, 2]}
    assert list(tqdm(range(3), disable=True)) == [0, 1, 2]
    assert Image.new("RGB", (4, 2)).size == (4, 2)
    rle = mask_utils.encode(np.asfortranarray(np.eye(4, dtype=np.uint8)))
    assert int(mask_utils.area(rle)) == 4
    assert "ghostnet_100" in timm.list_models("ghostnet*")
