"""Segmentation models: output contract for each head and output stride, channels from feature_info, batch of one."""

import pytest
import torch
from helpers import options_for
from torch import nn
from torchvision.models.segmentation import FCN, LRASPP, DeepLabV3
from torchvision.models.segmentation.deeplabv3 import ASPPPooling
from torchvision.models.segmentation.deeplabv3 import DeepLabHead as TVDeepLabHead

from ghost_backbones.engine import BackboneConfig, ConfigError
from segmentation import (
    MODELS,
    DeepLabV3Plus,
    build_model,
    deeplabv3_ghostnet,
    deeplabv3plus_ghostnet,
    fcn_ghostnet,
    lraspp_ghostnet,
)
from segmentation.config import model_config
from segmentation.models.backbone import NamedFeatures, create_feature_backbone
from segmentation.models.heads import ASPP_RATES, BatchSafeASPPPooling, DeepLabHead

CLASSES = {"deeplabv3": DeepLabV3, "deeplabv3plus": DeepLabV3Plus, "fcn": FCN, "lraspp": LRASPP}
NO_AUX = {"lraspp", "lraspp_mobilenet_v3_large"}
HALF = BackboneConfig(width=0.5)


def test_registry_lists_ours_and_the_baselines() -> None:
    assert MODELS.names(baselines=False) == sorted(CLASSES)
    assert MODELS.names() == sorted([*CLASSES, "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"])


@pytest.mark.parametrize("output_stride", [8, 16])
@pytest.mark.parametrize("arch", MODELS.names())
def test_output_contract_of_every_registered_model(arch: str, output_stride: int) -> None:
    aux = arch not in NO_AUX
    cfg = options_for(MODELS, arch, num_classes=5, backbone=HALF, output_stride=output_stride, aux_loss=aux)
    model = build_model(cfg).eval()
    if arch in CLASSES:
        assert type(model) is CLASSES[arch]
        assert model.backbone.reductions["out" if arch != "lraspp" else "high"] == output_stride
    with torch.no_grad():
        out = model(torch.rand(2, 3, 72, 88))
    assert list(out) == (["out", "aux"] if aux else ["out"])
    for logits in out.values():
        assert logits.shape == (2, 5, 72, 88)
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("arch", sorted(CLASSES))
def test_public_builders_equal_the_registry(arch: str) -> None:
    builder = {"deeplabv3": deeplabv3_ghostnet, "deeplabv3plus": deeplabv3plus_ghostnet, "fcn": fcn_ghostnet}
    builder["lraspp"] = lraspp_ghostnet
    torch.manual_seed(0)
    ours = builder[arch](num_classes=3, backbone={"width": 0.5})
    torch.manual_seed(0)
    registry = build_model(model_config(arch, num_classes=3, backbone=HALF))
    assert ours.state_dict().keys() == registry.state_dict().keys()
    for key, value in ours.state_dict().items():
        torch.testing.assert_close(value, registry.state_dict()[key], msg=key)


def test_non_ghostnet_timm_backbone() -> None:
    cfg = model_config("deeplabv3", num_classes=3, backbone=BackboneConfig(name="mobilenetv3_large_100"))
    model = build_model(cfg).eval()
    assert type(model.backbone.body).__name__ == "MobileNetV3Features"
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64))["out"].shape == (1, 3, 64, 64)
    with pytest.raises(ConfigError, match=r"width=0.5: timm's 'mobilenetv3_large_100' has no width option"):
        build_model(
            model_config("deeplabv3", num_classes=3, backbone=BackboneConfig(name="mobilenetv3_large_100", width=0.5))
        )


@pytest.mark.parametrize("output_stride", [8, 16])
def test_backbone_is_dilated_to_output_stride(output_stride: int) -> None:
    backbone = create_feature_backbone(BackboneConfig(), {"low": 1, "aux": 2, "out": 4}, output_stride=output_stride)
    assert backbone.reductions == {"low": 4, "aux": 8, "out": output_stride}
    feats = backbone(torch.rand(1, 3, 64, 64))
    assert list(feats) == ["low", "aux", "out"]
    for name, f in feats.items():
        assert f.shape[1] == backbone.channels[name]
        assert f.shape[-1] == 64 // backbone.reductions[name]


@pytest.mark.parametrize("width", [0.5, 1.0])
def test_head_channels_come_from_feature_info(width: float) -> None:
    backbone = {"width": width}
    model = deeplabv3plus_ghostnet(num_classes=3, backbone=backbone, aux_loss=True, head_channels=32)
    channels = model.backbone.channels
    assert model.classifier.aspp.convs[0][0].in_channels == channels["out"]
    assert model.classifier.low_proj[0].in_channels == channels["low"]
    assert model.aux_classifier[0].in_channels == channels["aux"]
    lraspp = lraspp_ghostnet(num_classes=3, backbone=backbone)
    assert lraspp.classifier.low_classifier.in_channels == lraspp.backbone.channels["low"]
    assert lraspp.classifier.cbr[0].in_channels == lraspp.backbone.channels["high"]
    assert lraspp.backbone.reductions["low"] == 8


@pytest.mark.parametrize("output_stride, rates", [(16, (6, 12, 18)), (8, (12, 24, 36))])
def test_aspp_rates_follow_output_stride(output_stride: int, rates: tuple[int, int, int]) -> None:
    model = deeplabv3_ghostnet(num_classes=3, backbone={"width": 0.5}, output_stride=output_stride)
    dilations = [branch[0].dilation[0] for branch in model.classifier[0].convs[1:4]]
    assert tuple(dilations) == rates == ASPP_RATES[output_stride]
    custom = deeplabv3_ghostnet(num_classes=3, backbone={"width": 0.5}, atrous_rates=[2, 4, 6])
    assert [b[0].dilation[0] for b in custom.classifier[0].convs[1:4]] == [2, 4, 6]


@pytest.mark.parametrize("name", ["deeplabv3", "deeplabv3plus"])
def test_training_batch_of_one(name: str) -> None:
    model = build_model(model_config(name, num_classes=3, backbone=HALF, aux_loss=True)).train()
    pooling = [m for m in model.modules() if isinstance(m, BatchSafeASPPPooling)]
    assert len(pooling) == 1
    before = pooling[0][2].running_mean.clone()
    out = model(torch.rand(1, 3, 64, 64))
    (out["out"].mean() + out["aux"].mean()).backward()
    assert torch.equal(pooling[0][2].running_mean, before)  # a lone sample leaves the pooling statistics alone
    assert pooling[0][1].weight.grad is not None


def test_batch_safe_pooling_matches_torchvision_for_real_batches() -> None:
    torch.manual_seed(0)
    ours, reference = BatchSafeASPPPooling(16, 8), ASPPPooling(16, 8)
    ours.load_state_dict(reference.state_dict())
    x = torch.rand(3, 16, 5, 5)
    torch.testing.assert_close(ours.train()(x), reference.train()(x))
    torch.testing.assert_close(ours[2].running_var, reference[2].running_var)
    torch.testing.assert_close(ours.eval()(x[:1]), reference.eval()(x[:1]))


def test_deeplab_head_256_matches_torchvision_parameters() -> None:
    ours = DeepLabHead(40, 21, (12, 24, 36), channels=256).state_dict()
    theirs = TVDeepLabHead(40, 21, (12, 24, 36)).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


@pytest.mark.parametrize("backbone", ["ghostnetv2", "ghostnetv3"])
def test_other_ghostnet_generations(backbone: str) -> None:
    model = deeplabv3_ghostnet(num_classes=4, backbone={"name": backbone, "width": 0.5}).eval()
    assert type(model.backbone.body.model).__name__ == "GhostNet" and model.backbone.body.model.version == backbone[-2:]
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64))["out"].shape == (1, 4, 64, 64)


@pytest.mark.parametrize("arch", MODELS.names(baselines=False))
def test_head_norm_groupnorm_swaps_the_head_norms_only(arch: str) -> None:
    aux = arch != "lraspp"
    bn = build_model(options_for(MODELS, arch, num_classes=3, backbone=HALF, aux_loss=aux))
    gn = build_model(options_for(MODELS, arch, num_classes=3, backbone=HALF, aux_loss=aux, head_norm="groupnorm"))
    heads = [name for name, _ in bn.named_children() if name != "backbone"]
    count = lambda model, kind: sum(isinstance(m, kind) for n in heads for m in getattr(model, n).modules())  # noqa: E731
    assert count(bn, nn.GroupNorm) == 0 and count(gn, nn.BatchNorm2d) == 0
    assert count(gn, nn.GroupNorm) == count(bn, nn.BatchNorm2d) > 0
    assert str(gn.backbone) == str(bn.backbone)  # the backbone keeps BatchNorm
    out = gn.train()(torch.rand(1, 3, 64, 64))  # no batch statistics: a batch of one trains
    sum(v.mean() for v in out.values()).backward()
    norms = [m for n in heads for m in getattr(gn, n).modules() if isinstance(m, nn.GroupNorm)]
    assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in norms)


def test_the_torchvision_baselines_have_no_head_norm_key() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['head_norm'\]; valid keys: \['arch', 'num_c"):
        model_config("lraspp_mobilenet_v3_large", num_classes=3, head_norm="groupnorm")


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: deeplabv3_ghostnet(num_classes=3, output_stride=32),
            r"output_stride must be one of \[8, 16\], got 32",
        ),
        (lambda: fcn_ghostnet(num_classes=3, output_stride=4), r"output_stride must be one of \[8, 16\], got 4"),
        (lambda: lraspp_ghostnet(num_classes=0), r"num_classes must be >= 1 to build a model, got 0"),
        (
            lambda: lraspp_ghostnet(num_classes=3, aux_loss=True),
            r"lraspp_ghostnet: this model has no auxiliary head, aux_loss must be None or False",
        ),
        (lambda: deeplabv3_ghostnet(num_classes=3, atrous_rates=[6, 12]), r"atrous_rates must be three positive"),
        (
            lambda: model_config("unet"),
            r"unknown segmentation architecture \(model.arch\) 'unet'; registered: \['deeplabv3'",
        ),
        (
            lambda: model_config("deeplabv3", head_norm="layernorm"),
            r"head_norm must be one of \['batchnorm', 'groupnorm'\]",
        ),
        (
            lambda: deeplabv3_ghostnet(num_classes=3, width=0.5),
            r"deeplabv3_ghostnet: unknown keyword argument\(s\) \['width'\]",
        ),
        (lambda: create_feature_backbone(BackboneConfig(), {}, 16), r"taps must name at least one feature map"),
        (lambda: create_feature_backbone(BackboneConfig(), {"a": 2, "b": 2}, 16), r"distinct feature indices"),
        (lambda: NamedFeatures(nn.Conv2d(3, 3, 1), ["out"]), r"Conv2d has no feature_info"),
    ],
)
def test_bad_arguments(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
