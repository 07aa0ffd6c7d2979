"""Session-wide fixtures: small synthetic datasets in the real COCO and VOC layouts, built once per test run."""

from pathlib import Path

import pytest
import torch

from ghost_backbones.data.synthetic import make_shapes_coco, make_shapes_voc


@pytest.fixture(scope="session")
def coco_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """COCO shapes: 12 train / 6 val images of 112..160 px sides, ids 1/3/7, crowd regions, 1 empty val image."""
    return make_shapes_coco(
        tmp_path_factory.mktemp("shapes_coco"), num_train=12, num_val=6, image_size=(112, 160), crowd=True, seed=0
    )


@pytest.fixture(scope="session")
def voc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VOC shapes (the parent of ``VOCdevkit``): 12 train / 6 val images of 112..160 px sides, 3 classes."""
    return make_shapes_voc(tmp_path_factory.mktemp("shapes_voc"), num_train=12, num_val=6, image_size=(112, 160))


@pytest.fixture
def one_thread():
    """torch on one thread for the test (exported-graph comparisons and timings), restored after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
