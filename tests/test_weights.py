"""Weight compatibility: timm's GhostNet state dicts load strictly into ours and give the same logits."""

import pytest
import timm
import torch
from torch import nn

import ghost_backbones  # noqa: F401  (registers the models)

# (timm reference, our model, width)
PAIRS = [
    ("ghostnet_100", "ghostnet", 1.0),
    ("ghostnetv2_100", "ghostnetv2", 1.0),
    ("ghostnetv2_130", "ghostnetv2", 1.3),
    ("ghostnetv3_100", "ghostnetv3", 1.0),
    ("ghostnet_050", "ghostnet", 0.5),
]


def perturb_norms(model: nn.Module, seed: int = 0) -> None:
    """Random BN statistics and affine parameters, so a wrongly wired norm changes the logits."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)


@pytest.fixture(scope="module", params=PAIRS, ids=[p[0] for p in PAIRS])
def reference_pair(request):
    timm_name, ours, width = request.param
    torch.manual_seed(0)
    ref = timm.create_model(timm_name)
    perturb_norms(ref)
    return ref.eval(), ours, width


def test_state_dict_keys_identical(reference_pair) -> None:
    ref, ours, width = reference_pair
    model = timm.create_model(ours, width=width)
    ref_sd, our_sd = ref.state_dict(), model.state_dict()
    assert list(ref_sd) == list(our_sd)
    assert all(ref_sd[k].shape == our_sd[k].shape for k in ref_sd)


def test_same_logits_with_timm_weights(reference_pair) -> None:
    ref, ours, width = reference_pair
    model = timm.create_model(ours, width=width)
    model.load_state_dict(ref.state_dict(), strict=True)
    model.eval()
    x = torch.randn(2, 3, 160, 160, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = ref(x), model(x)
        expected_feats, got_feats = ref.forward_features(x), model.forward_features(x)
    assert expected.abs().max() > 0.05  # logits are not trivially zero
    assert (got - expected).abs().max().item() <= 1e-5
    assert (got_feats - expected_feats).abs().max().item() <= 1e-5


def test_perturbation_is_detectable() -> None:
    """Sanity check of the test itself: one wrong BN variance moves logits and features beyond the tolerance."""
    torch.manual_seed(0)
    ref = timm.create_model("ghostnet_100")
    perturb_norms(ref)
    model = timm.create_model("ghostnet")
    model.load_state_dict(ref.state_dict())
    model.eval()
    ref.eval()
    with torch.no_grad():
        model.blocks[3][0].ghost1.primary_conv[1].running_var.mul_(4.0)
        x = torch.randn(1, 3, 128, 128)
        assert (model(x) - ref(x)).abs().max().item() > 2e-5
        assert (model.forward_features(x) - ref.forward_features(x)).abs().max().item() > 1e-4


@pytest.mark.parametrize("norm_layer", ["frozenbn", "syncbn"])
def test_timm_weights_load_into_other_norms(norm_layer: str) -> None:
    torch.manual_seed(0)
    ref = timm.create_model("ghostnet_100")
    perturb_norms(ref)
    model = timm.create_model("ghostnet", norm_layer=norm_layer)
    model.load_state_dict(ref.state_dict(), strict=True)
    model.eval()
    ref.eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        expected, got = ref(x), model(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
