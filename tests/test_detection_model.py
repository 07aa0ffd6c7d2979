"""The timm -> FPN adapter and the Faster R-CNN builder: levels, channels, strides, anchors, RoI pooling."""

import re
from collections import OrderedDict

import pytest
import timm
import torch
from torchvision.models.detection import FasterRCNN
from torchvision.ops.misc import FrozenBatchNorm2d as TvFrozenBN

from detection.config import DetectionConfig, model_config
from detection.fpn import TimmFPNBackbone, ghostnet_fpn_backbone, make_norm
from detection.models import MODELS, anchor_generator_for, build_model, fasterrcnn_ghostnet_fpn, needs_masks
from ghost_backbones.engine import (
    BackboneConfig,
    ConfigError,
    config_from_dict,
    config_to_dict,
    load_config,
    switch_variant,
    valid_keys,
)

SMALL = dict(backbone={"width": 0.5}, fpn_channels=32)
ANCHORS = dict(anchor_sizes=None, anchor_scales=(4.0, 8.0), aspect_ratios=(0.5, 1.0, 2.0))


ARCH_OPTS = {
    "retinanet": dict(extra_blocks="p6p7", anchor_scales=[4.0, 5.04, 6.35]),
    "fcos": dict(extra_blocks="p6p7", anchor_scales=[1.0], aspect_ratios=[1.0]),
    "ssdlite": dict(out_indices=[3, 4]),
}


def _num_classes(model) -> int:
    """Classes (with background) of a torchvision detector's classification layer, whatever its class."""
    if hasattr(model, "roi_heads"):
        return model.roi_heads.box_predictor.cls_score.out_features
    head = model.head.classification_head
    return head.num_classes if hasattr(head, "num_classes") else head.num_columns  # SSD: one column per class


def _target(arch: str) -> dict[str, torch.Tensor]:
    """One box on a 96x96 image; for Mask R-CNN its instance mask too."""
    target = {"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0]]), "labels": torch.tensor([2])}
    if needs_masks(arch):
        target["masks"] = torch.zeros(1, 96, 96, dtype=torch.uint8)
        target["masks"][0, 12:70, 10:60] = 1
    return target


@pytest.mark.parametrize("arch", MODELS.names())
def test_every_registered_detector_trains_and_predicts(arch):
    cfg = model_config(arch, num_classes=3, min_size=96, max_size=96, **ARCH_OPTS.get(arch, {}))
    model = build_model(cfg)
    target = _target(arch)
    losses = model.train()([torch.rand(3, 96, 96), torch.rand(3, 96, 96)], [target, target])
    assert losses and all(torch.isfinite(v) for v in losses.values())
    with torch.no_grad():
        out = model.eval()([torch.rand(3, 96, 96)])
    assert set(out[0]) == {"boxes", "labels", "scores"} | ({"masks"} if needs_masks(arch) else set())
    assert _num_classes(model) == 3
    assert model.transform.min_size == ((320,) if arch == "ssdlite320_mobilenet_v3_large" else (96,))  # its own


@pytest.mark.parametrize("arch", MODELS.names(baselines=False))
def test_every_architecture_takes_any_timm_features_only_backbone(arch):
    opts = {**ARCH_OPTS.get(arch, {}), "out_indices": [3, 4]}
    cfg = model_config(arch, num_classes=3, min_size=96, max_size=96, **opts,
                      backbone=BackboneConfig(name="mobilenetv3_large_100"))  # fmt: skip
    model = build_model(cfg)
    assert isinstance(model.backbone.body, timm.models.mobilenetv3.MobileNetV3Features)
    target = _target(arch)
    losses = model.train()([torch.rand(3, 96, 96), torch.rand(3, 96, 96)], [target, target])
    assert losses and all(torch.isfinite(v) for v in losses.values())
    with torch.no_grad():
        assert set(model.eval()([torch.rand(3, 96, 96)])[0]) >= {"boxes", "labels", "scores"}


def test_registry_names_ours_and_the_baselines():
    assert MODELS.names(baselines=False) == ["faster_rcnn", "fcos", "mask_rcnn", "retinanet", "ssdlite"]
    baselines = set(MODELS.names()) - set(MODELS.names(baselines=False))
    assert baselines == {
        "fasterrcnn_mobilenet_v3_large_fpn", "retinanet_mobilenet_v3_large_fpn", "fcos_mobilenet_v3_large_fpn",
        "ssdlite320_mobilenet_v3_large", "maskrcnn_mobilenet_v3_large_fpn",
    }  # fmt: skip


def test_retinanet_fcos_ssdlite_follow_the_levels():
    small = dict(backbone=BackboneConfig(width=0.5), fpn_channels=32)
    retina = build_model(model_config("retinanet", num_classes=3, **ARCH_OPTS["retinanet"], **small))
    assert retina.backbone.strides == [8, 16, 32, 64, 128]
    assert retina.anchor_generator.sizes[0] == (32, 40, 51) and retina.anchor_generator.sizes[-1] == (512, 645, 813)
    assert retina.head.regression_head._loss_type == "giou"
    assert any(isinstance(m, torch.nn.GroupNorm) for m in retina.head.modules())
    fcos = build_model(model_config("fcos", num_classes=3, **ARCH_OPTS["fcos"], **small))
    assert fcos.anchor_generator.sizes == ((8,), (16,), (32,), (64,), (128,))
    with pytest.raises(ConfigError, match="'fcos' needs one anchor per location"):
        model_config("fcos", num_classes=3, extra_blocks="p6p7", anchor_scales=[4.0, 8.0])
    ssd = build_model(model_config("ssdlite", num_classes=3, out_indices=[3, 4], min_size=128, max_size=128))
    maps = ssd.eval().backbone(torch.rand(1, 3, 128, 128))
    assert [m.shape[-1] for m in maps.values()] == [8, 4, 2, 1, 1, 1]
    assert ssd.backbone.out_channels == [112, 960, 512, 256, 256, 128]
    assert ssd.transform.fixed_size == (128, 128)
    # Post-processing as torchvision's ssdlite320_mobilenet_v3_large, not SSD's own defaults (0.45 / 400).
    theirs = build_model(model_config("ssdlite320_mobilenet_v3_large", num_classes=3))
    assert (ssd.nms_thresh, ssd.topk_candidates) == (theirs.nms_thresh, theirs.topk_candidates) == (0.55, 300)
    with pytest.raises(ConfigError, match=r"unknown detection architecture \(model.arch\) 'yolo'; registered: \['fa"):
        model_config("yolo")


@pytest.mark.parametrize(
    "out_indices, extra, names, strides",
    [
        ((2, 3, 4), "pool", ["0", "1", "2", "pool"], [8, 16, 32, 64]),
        ((1, 2, 3, 4), "pool", ["0", "1", "2", "3", "pool"], [4, 8, 16, 32, 64]),
        ((3, 4), "pool", ["0", "1", "pool"], [16, 32, 64]),
        ((2, 3, 4), "p6p7", ["0", "1", "2", "p6", "p7"], [8, 16, 32, 64, 128]),
        ((2, 3, 4), "none", ["0", "1", "2"], [8, 16, 32]),
    ],
)
def test_backbone_levels_follow_out_indices(out_indices, extra, names, strides):
    backbone = ghostnet_fpn_backbone(out_indices=list(out_indices), extra_blocks=extra, **SMALL).eval()
    out = backbone(torch.rand(1, 3, 128, 128))
    assert isinstance(out, OrderedDict) and list(out) == names == backbone.names
    assert isinstance(backbone.out_channels, int) and backbone.out_channels == 32
    assert backbone.strides == strides
    for name, stride in zip(names, strides):
        assert out[name].shape == (1, 32, -(-128 // stride), -(-128 // stride)), name


def test_backbone_reads_channels_from_feature_info():
    backbone = ghostnet_fpn_backbone(out_indices=[1, 2, 3, 4], fpn_channels=16)
    body = timm.create_model("ghostnet", features_only=True, out_indices=(1, 2, 3, 4))
    expected = body.feature_info.channels()
    assert expected == [24, 40, 112, 960]
    assert [block[0].in_channels for block in backbone.fpn.inner_blocks] == expected


@pytest.mark.parametrize("name", ["mobilenetv3_large_100", "ghostnet_100"])
def test_any_timm_features_only_model(name):
    model = fasterrcnn_ghostnet_fpn(
        num_classes=3, backbone={"name": name}, fpn_channels=32, min_size=96, max_size=96
    ).eval()
    with torch.no_grad():
        out = model([torch.rand(3, 96, 96)])
    assert set(out[0]) == {"boxes", "labels", "scores"}
    assert model.backbone.strides == [8, 16, 32, 64]


@pytest.mark.parametrize(
    "out_indices, expected",
    [
        ((2, 3, 4), ((32, 64), (64, 128), (128, 256), (256, 512))),  # 3 levels + pool
        ((1, 2, 3, 4), ((16, 32), (32, 64), (64, 128), (128, 256), (256, 512))),  # 4 levels + pool
        ((0, 1, 2, 3, 4), ((8, 16), (16, 32), (32, 64), (64, 128), (128, 256), (256, 512))),  # 5 levels + pool
    ],
)
def test_anchors_and_roi_pooling_follow_the_levels(out_indices, expected):
    model = fasterrcnn_ghostnet_fpn(num_classes=4, out_indices=list(out_indices), min_size=128, max_size=128, **SMALL)
    generator = model.rpn.anchor_generator
    assert generator.sizes == expected
    assert generator.aspect_ratios == ((0.5, 1.0, 2.0),) * len(expected)
    assert model.roi_heads.box_roi_pool.featmap_names == [str(i) for i in range(len(out_indices))]
    # Training runs end to end: the RPN head has one anchor set per map (no count mismatch).
    model.train()
    target = {"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0]]), "labels": torch.tensor([2])}
    losses = model([torch.rand(3, 128, 128), torch.rand(3, 128, 128)], [target, target])
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values())


def test_explicit_anchor_sizes_must_match_the_maps():
    backbone = ghostnet_fpn_backbone(out_indices=[3, 4], **SMALL)
    explicit = {**ANCHORS, "anchor_sizes": [[32], [64], [128]]}
    assert anchor_generator_for(backbone, **explicit).sizes == ((32,), (64,), (128,))
    with pytest.raises(ValueError, match=r"one tuple per feature map: the backbone gives 3 maps \['0', '1', 'pool'\]"):
        anchor_generator_for(backbone, **{**ANCHORS, "anchor_sizes": [[32], [64], [128], [256], [512]]})
    with pytest.raises(ValueError, match="same number of anchor sizes"):
        anchor_generator_for(backbone, **{**ANCHORS, "anchor_sizes": [[32], [64, 96], [128]]})
    with pytest.raises(ValueError, match="anchor_scales must hold at least one scale"):
        anchor_generator_for(backbone, **{**ANCHORS, "anchor_scales": ()})
    with pytest.raises(ValueError, match="aspect_ratios must hold at least one ratio"):
        anchor_generator_for(backbone, **{**ANCHORS, "aspect_ratios": ()})


def test_builder_contract():
    model = fasterrcnn_ghostnet_fpn(num_classes=5, box_head_fcs=[64, 48], min_size=128, max_size=160, **SMALL)
    assert isinstance(model, FasterRCNN)
    assert model.roi_heads.box_predictor.cls_score.out_features == 5
    assert model.roi_heads.box_predictor.cls_score.in_features == 48
    assert model.transform.min_size == (128,) and model.transform.max_size == 160
    cfg = model.backbone.body.pretrained_cfg
    assert model.transform.image_mean == list(cfg["mean"]) and model.transform.image_std == list(cfg["std"])


def test_builder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_classes counts the background too: 0 .* or >= 2, got 1"):
        fasterrcnn_ghostnet_fpn(num_classes=1)
    with pytest.raises(ValueError, match="num_classes must be >= 2 .* to build a detector, got 0"):
        fasterrcnn_ghostnet_fpn(num_classes=0)
    with pytest.raises(ValueError, match="box_head_fcs needs at least one layer width"):
        fasterrcnn_ghostnet_fpn(num_classes=3, box_head_fcs=[])
    with pytest.raises(ValueError, match="extra_blocks must be one of .* got 'p5'"):
        ghostnet_fpn_backbone(extra_blocks="p5", **SMALL)
    with pytest.raises(ValueError, match="norm must be one of .* got 'layernorm'"):
        make_norm("layernorm")
    with pytest.raises(ValueError, match="fpn_channels must be >= 1, got 0"):
        ghostnet_fpn_backbone(fpn_channels=0)
    with pytest.raises(ValueError, match="min_size <= max_size, got 0, 1333"):
        fasterrcnn_ghostnet_fpn(num_classes=3, min_size=0)
    with pytest.raises(ValueError, match="body must be a timm model created with features_only=True"):
        TimmFPNBackbone(torch.nn.Conv2d(3, 8, 3), fpn_channels=8, extra_blocks="pool", fpn_norm="none")


@pytest.mark.parametrize("norm, cls", [("groupnorm", torch.nn.GroupNorm), ("batchnorm", torch.nn.BatchNorm2d)])
def test_fpn_and_box_head_norm(norm, cls):
    model = fasterrcnn_ghostnet_fpn(num_classes=3, fpn_norm=norm, box_head_convs=[32], box_head_norm=norm, **SMALL)
    assert any(isinstance(m, cls) for m in model.backbone.fpn.modules())
    assert any(isinstance(m, cls) for m in model.roi_heads.box_head.modules())


def test_pretrained_backbone_gets_frozen_batchnorm(tmp_path):
    """Pretrained (here from a local file, no download) -> frozen BN, as torchvision does; from scratch -> trainable."""
    weights = tmp_path / "ghostnet.pth"
    torch.save(timm.create_model("ghostnet", width=0.5).state_dict(), weights)
    overlay = {"pretrained_cfg_overlay": {"file": str(weights)}}
    pretrained = ghostnet_fpn_backbone(
        backbone={"width": 0.5, "pretrained": True, "timm_kwargs": overlay}, fpn_channels=32
    )
    norms = [m for m in pretrained.body.modules() if "BatchNorm" in type(m).__name__]
    assert norms and all("Frozen" in type(m).__name__ for m in norms)
    scratch = ghostnet_fpn_backbone(**SMALL)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in scratch.body.modules())
    assert not any(isinstance(m, TvFrozenBN) or "Frozen" in type(m).__name__ for m in scratch.body.modules())


@pytest.mark.parametrize("arch, smallest", [("retinanet", (32, 40, 51)), ("fcos", (16,))])
def test_one_stage_recipes_use_p4_p7_with_the_counterparts_anchors(arch, smallest):
    from detection.benchmark import arch_models

    size, models = arch_models(arch, 4)
    ours, theirs = models.values()
    assert size == 800 and ours.backbone.strides == [16, 32, 64, 128]  # no head on the stride-8 map (speed)
    assert ours.anchor_generator.sizes == theirs.anchor_generator.sizes  # same anchors, hence same FCOS size ranges
    assert ours.anchor_generator.sizes[0] == smallest


@pytest.mark.parametrize(
    "overrides, unread",
    [
        (["model.arch=ssdlite", "model.fpn_channels=64"], ["model.fpn_channels"]),
        (["model.arch=ssdlite", "model.rpn_pre_nms_top_n_test=500", "model.anchor_scales=[4.0]"],
         ["model.anchor_scales", "model.rpn_pre_nms_top_n_test"]),
        (["model.arch=fcos", "model.head_norm=batchnorm"], ["model.head_norm"]),
        (["model.arch=retinanet", "model.mask_head_layers=[64]"], ["model.mask_head_layers"]),
        (["model.arch=fasterrcnn_mobilenet_v3_large_fpn", "model.backbone.width=1.3"], ["model.backbone"]),
    ],
)  # fmt: skip
def test_a_key_the_architecture_does_not_read_is_an_error(overrides, unread):
    arch = overrides[0].split("=")[1]
    with pytest.raises(
        ConfigError, match=re.escape(f"{unread} not read by model.arch='{arch}'; its keys: ['model.arch'")
    ):
        load_config(DetectionConfig, None, overrides)
    assert not any(k.startswith(tuple(unread)) for k in valid_keys(type(model_config(arch)), "model."))


def test_a_checkpoint_config_keeps_only_its_architectures_keys():
    """Checkpoints of releases whose ``model`` section held every architecture's keys still load; recipes do not."""
    saved = config_to_dict(DetectionConfig())
    saved["model"].update(arch="ssdlite", fpn_channels=64, ssd_extra_channels=[64, 32])
    cfg = config_from_dict(DetectionConfig, saved)
    assert type(cfg.model).__name__ == "SSDLiteConfig" and cfg.model.ssd_extra_channels == [64, 32]
    with pytest.raises(ConfigError, match=r"'model.box_head_fcs', .*\] not read by model.arch='ssdlite'"):
        config_from_dict(DetectionConfig, saved, source="recipe")


def test_the_demo_trains_a_counterpart_on_the_same_recipe():
    cfg = load_config(DetectionConfig, MODELS.recipe("retinanet"), ["model.anchor_scales=[4.0]", "model.min_size=96"])
    theirs = switch_variant(cfg, "model", "retinanet_mobilenet_v3_large_fpn")
    assert type(theirs.model).__name__ == "RetinaNetBaselineConfig" and theirs.train == cfg.train
    assert (theirs.model.anchor_scales, theirs.model.min_size) == ([4.0], 96)  # the keys both read keep their values
