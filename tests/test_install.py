"""The install itself: a torch/torchvision pair built for each other, and the declared dependencies importable."""

from __future__ import annotations

import importlib

import pytest
import torch
import torchvision


def test_torchvision_ops_match_torch():
    # A torchvision built for another torch fails here with "operator torchvision::nms does not exist".
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    out = torchvision.ops.roi_align(torch.ones(1, 1, 8, 8), [boxes[:1]], output_size=2)
    assert out.shape == (1, 1, 2, 2)


@pytest.mark.parametrize("module", ["timm", "yaml", "tqdm", "numpy", "PIL", "pycocotools.coco"])
def test_declared_dependencies_import(module):
    assert importlib.import_module(module) is not None
