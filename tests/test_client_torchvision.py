"""torchvision's model registry: ``get_model`` builds every architecture of ours with exactly the arguments
torchvision's ``references/detection/train.py`` and ``references/segmentation/train.py`` pass, and a model so built
trains a step the way those scripts train it.

The scripts' calls (torchvision's references)::

    kwargs = {"trainable_backbone_layers": args.trainable_backbone_layers}
    if args.data_augmentation in ["multiscale", "lsj"]:
        kwargs["_skip_resize"] = True
    if "rcnn" in args.model and args.rpn_score_thresh is not None:
        kwargs["rpn_score_thresh"] = args.rpn_score_thresh
    model = torchvision.models.get_model(args.model, weights=args.weights, weights_backbone=args.weights_backbone,
                                         num_classes=num_classes, **kwargs)              # detection
    model = torchvision.models.get_model(args.model, weights=args.weights, weights_backbone=args.weights_backbone,
                                         num_classes=num_classes, aux_loss=args.aux_loss)  # segmentation
"""

import pytest
import torch
import torchvision
from torch.nn import functional as F

import detection  # noqa: F401  (registers the detectors)
import segmentation  # noqa: F401  (registers the segmentation models)
from ghost_backbones.engine import ConfigError
from ghost_backbones.torchvision_registry import (
    REGISTERED,
    REGISTRATION_ERRORS,
    check_torchvision_registry,
    register_torchvision_model,
    torchvision_fields,
)
from segmentation.models.deeplab import DeepLabV3Config

DETECTORS = [
    "fasterrcnn_ghostnet_fpn",
    "maskrcnn_ghostnet_fpn",
    "retinanet_ghostnet_fpn",
    "fcos_ghostnet_fpn",
    "ssdlite_ghostnet",
]
SEGMENTERS = ["deeplabv3_ghostnet", "deeplabv3plus_ghostnet", "fcn_ghostnet", "lraspp_ghostnet"]
FEATURES = ["ghostnet_features", "ghostnetv2_features", "ghostnetv3_features"]


def test_every_model_is_in_torchvisions_registry() -> None:
    """The one test that fails loudly when a torchvision release changes its registry."""
    check_torchvision_registry()
    assert set(DETECTORS + SEGMENTERS + FEATURES) <= set(REGISTERED)
    assert set(REGISTERED) <= set(torchvision.models.list_models())


def _reference_detector(name: str, augmentation: str = "lsj", rpn_score_thresh: float | None = 0.05):
    kwargs = {"trainable_backbone_layers": None}
    if augmentation in ["multiscale", "lsj"]:
        kwargs["_skip_resize"] = True
    if "rcnn" in name and rpn_score_thresh is not None:
        kwargs["rpn_score_thresh"] = rpn_score_thresh
    return torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=91, **kwargs)


@pytest.mark.parametrize("name", DETECTORS)
def test_detection_reference_call_trains_a_step(name: str) -> None:
    torch.manual_seed(0)
    model = _reference_detector(name)
    boxes = torch.tensor([[10.0, 12.0, 60.0, 70.0]])
    target = {"boxes": boxes, "labels": torch.tensor([3])}
    if name.startswith("maskrcnn"):
        target["masks"] = torch.zeros(1, 96, 96, dtype=torch.uint8)
        target["masks"][0, 12:70, 10:60] = 1
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
    model.train()
    # Two images per batch (the scripts' default); _skip_resize: trained at the size given (the lsj crops' size).
    losses = model([torch.rand(3, 96, 96), torch.rand(3, 96, 96)], [target, target])
    loss = sum(losses.values())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    with torch.no_grad():
        out = model.eval()([torch.rand(3, 96, 96)])
    assert {"boxes", "labels", "scores"} <= set(out[0])


def test_detection_reference_call_keeps_torchvisions_arguments() -> None:
    model = _reference_detector("fasterrcnn_ghostnet_fpn", augmentation="hflip", rpn_score_thresh=0.3)
    assert model.rpn.score_thresh == 0.3 and model.transform._skip_resize is False
    assert model.roi_heads.box_predictor.cls_score.out_features == 91
    assert not any(not p.requires_grad for p in model.backbone.parameters())  # no weights_backbone: all train


@pytest.mark.parametrize("name", SEGMENTERS)
@pytest.mark.parametrize("aux_loss", [False, True])
def test_segmentation_reference_call_trains_a_step(name: str, aux_loss: bool) -> None:
    if aux_loss and name.startswith("lraspp"):
        with pytest.raises(ConfigError, match="no auxiliary head"):
            torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
        return
    model = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=21, aux_loss=aux_loss)
    groups = [
        {"params": [p for p in model.backbone.parameters() if p.requires_grad]},
        {"params": [p for p in model.classifier.parameters() if p.requires_grad]},
    ]
    if aux_loss:
        groups.append({"params": [p for p in model.aux_classifier.parameters() if p.requires_grad], "lr": 0.1})
    optimizer = torch.optim.SGD(groups, lr=0.01, momentum=0.9, weight_decay=1e-4)
    target = torch.randint(0, 21, (2, 64, 64))
    target[:, :4] = 255
    output = model.train()(torch.rand(2, 3, 64, 64))
    losses = {k: F.cross_entropy(v, target, ignore_index=255) for k, v in output.items()}
    loss = losses["out"] + 0.5 * losses["aux"] if len(losses) > 1 else losses["out"]
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert set(output) == ({"out", "aux"} if aux_loss else {"out"}) and torch.isfinite(loss)


def test_weights_backbone_and_trainable_layers_map_onto_the_backbone() -> None:
    def fields(**arguments):
        arguments = {"weights": None, "num_classes": None, "trainable_backbone_layers": None, **arguments}
        defaults = {"num_classes": 91, "trainable_backbone_layers": 3}
        return torchvision_fields("x()", DeepLabV3Config, {}, defaults=defaults, **arguments)[0]

    assert fields(weights_backbone=None)["backbone"] == {} and fields(weights_backbone=None)["num_classes"] == 91
    pretrained = fields(weights_backbone="MobileNet_V3_Large_Weights.IMAGENET1K_V1")["backbone"]
    assert pretrained == {"pretrained": True, "frozen_stages": 2}  # 3 of 6 layers train: stem + levels 0, 1 frozen
    assert fields(weights_backbone="DEFAULT", trainable_backbone_layers=6)["backbone"] == {"pretrained": True}
    assert fields(weights_backbone="DEFAULT", trainable_backbone_layers=0)["backbone"]["frozen_stages"] == 5
    with pytest.warns(UserWarning, match="no effect without weights_backbone"):
        assert fields(weights_backbone=None, trainable_backbone_layers=2)["backbone"] == {}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (dict(weights="DEFAULT"), "no trained weights are published"),
        (dict(weights_backbone="COCO_V1"), "weights_backbone must be None or ImageNet"),
        (
            dict(weights_backbone="DEFAULT", trainable_backbone_layers=7),
            r"trainable_backbone_layers must be in \[0, 6\]",
        ),
        (dict(rpn_scor_thresh=0.1), r"fasterrcnn_ghostnet_fpn: unknown keyword argument\(s\) \['rpn_scor_thresh'\]"),
        (dict(fpn_channels=0), r"model.fpn_channels must be >= 1, got 0"),
        (dict(backbone={"widht": 2}), r"fasterrcnn_ghostnet_fpn\(\): unknown config key\(s\) \['backbone.widht'\]"),
    ],
)
def test_bad_torchvision_arguments(call: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as error:
        torchvision.models.get_model("fasterrcnn_ghostnet_fpn", **call)
    assert "checkpoint config" not in str(error.value)


def test_feature_extractor_builds_from_the_registry() -> None:
    body = torchvision.models.get_model("ghostnetv2_features", weights=None, width=0.5, out_indices=(2, 3, 4)).eval()
    assert [f.shape[1] for f in body(torch.rand(1, 3, 64, 64))] == body.feature_info.channels()
    with pytest.raises(ConfigError, match="weights must be None or ImageNet"):
        torchvision.models.get_model("ghostnet_features", weights="COCO_V1")


def test_registering_a_name_again() -> None:
    """The same builder again (its module imported again) keeps the entry; another builder is reported, not raised."""
    from detection.models.fcos import fcos_ghostnet_fpn

    register_torchvision_model("fcos_ghostnet_fpn")(fcos_ghostnet_fpn)
    check_torchvision_registry(["fcos_ghostnet_fpn"])
    try:
        register_torchvision_model("fcos_ghostnet_fpn")(lambda **kwargs: None)
        with pytest.raises(RuntimeError, match="torchvision already has another model named 'fcos_ghostnet_fpn'"):
            check_torchvision_registry(["fcos_ghostnet_fpn"])
    finally:
        REGISTRATION_ERRORS.pop("fcos_ghostnet_fpn", None)
        REGISTERED["fcos_ghostnet_fpn"] = fcos_ghostnet_fpn
    check_torchvision_registry()
