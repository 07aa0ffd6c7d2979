"""TorchScript clients: a scripted caller iterates our ``features_only`` maps; smp's ``Unet("tu-<ours>")`` scripts.

smp (segmentation-models-pytorch) is an optional client: its test is skipped when it is not installed.
"""

import pytest
import timm
import torch
from torch import Tensor, nn

import ghost_backbones  # noqa: F401  (registers our timm models)

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")

OURS = ["ghostnet", "ghostnetv2", "ghostnetv3"]


class SumOfMeans(nn.Module):
    """A caller that iterates the feature list, as smp's decoders and torchvision's adapters do."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        total = torch.zeros(1)
        for feature in self.body(x):
            total = total + feature.mean()
        return total


@pytest.mark.parametrize("name", OURS)
def test_scripted_caller_iterates_the_features(name: str) -> None:
    body = timm.create_model(name, features_only=True, out_indices=(1, 3, 4), width=0.5).eval()
    scripted = torch.jit.script(SumOfMeans(body))
    x = torch.rand(1, 3, 64, 64)
    assert "Tensor[]" in str(torch.jit.script(body).forward.schema)
    torch.testing.assert_close(scripted(x), SumOfMeans(body)(x))


@pytest.mark.parametrize("name", OURS)
def test_smp_unet_scripts(name: str) -> None:
    smp = pytest.importorskip("segmentation_models_pytorch")
    model = smp.Unet(f"tu-{name}", encoder_weights=None, classes=2).eval()
    x = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(torch.jit.script(model)(x), model(x), rtol=1e-4, atol=1e-5)
