"""Mask R-CNN: registry entries, COCO mask targets (polygon, RLE), masks through the transforms, segm AP, predict's
RLE, the CLIs end to end on the synthetic shapes, and the refusal of VOC data."""

import json

import numpy as np
import pytest
import torch
from helpers import options_for
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from torch import nn
from torchvision import tv_tensors

from detection import predict, train
from detection.config import DetectionConfig, model_config
from detection.data import CocoDetection, detection_transforms
from detection.data.coco import CategoryMap
from detection.evaluate import coco_evaluate, encode_masks, to_coco_results
from detection.models import MODELS, build_model, needs_masks
from ghost_backbones.engine import BackboneConfig, ConfigError, DataError, load_config, read_jsonl, run_cli

# ------------------------------------------------------------------------------------------------------- models
SMALL = dict(num_classes=3, min_size=96, max_size=96, backbone=BackboneConfig(width=0.5), fpn_channels=32,
             box_head_fcs=[32, 32], mask_head_layers=[16])  # fmt: skip


def _square_target() -> dict[str, torch.Tensor]:
    masks = torch.zeros(1, 96, 96, dtype=torch.uint8)
    masks[0, 12:70, 10:60] = 1
    return {"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0]]), "labels": torch.tensor([2]), "masks": masks}


@pytest.mark.parametrize("arch", ["mask_rcnn", "maskrcnn_mobilenet_v3_large_fpn"])
def test_registry_entries_train_and_predict_masks(arch):
    assert arch in MODELS and needs_masks(arch) and MODELS.is_baseline(arch) == (arch != "mask_rcnn")
    cfg = options_for(MODELS, arch, **SMALL)
    model = build_model(cfg)
    losses = model.train()([torch.rand(3, 96, 96), torch.rand(3, 96, 96)], [_square_target(), _square_target()])
    assert "loss_mask" in losses and all(torch.isfinite(v) for v in losses.values())
    with torch.no_grad():
        out = model.eval()([torch.rand(3, 96, 80)])[0]
    assert set(out) == {"boxes", "labels", "scores", "masks"}
    assert out["masks"].shape[1:] == (1, 96, 80)
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 3
    if arch == "mask_rcnn":  # our Faster R-CNN's parts, plus the mask branch on the same levels
        assert model.roi_heads.mask_roi_pool.featmap_names == model.backbone.level_names == ["0", "1", "2"]
        assert model.roi_heads.mask_head[0][0].out_channels == 16
    else:  # torchvision's mask head is its own: the key is not the baseline's
        with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['mask_head_layers'\]"):
            model_config(arch, mask_head_layers=[64])
    with pytest.raises(ConfigError, match=r"model.mask_head_layers needs at least one channel count >= 1 .*, got \[\]"):
        model_config("mask_rcnn", mask_head_layers=[])


def test_mask_loss_starts_at_ln2():
    """Mask logits start near 0 (detectron2's init): torchvision's Kaiming fan-out over 3 classes gave 2.2 here."""
    torch.manual_seed(0)
    model = build_model(model_config("mask_rcnn", **SMALL)).train()
    losses = model([torch.rand(3, 96, 96), torch.rand(3, 96, 96)], [_square_target(), _square_target()])
    assert losses["loss_mask"].item() == pytest.approx(np.log(2), abs=0.01)


# --------------------------------------------------------------------------------------------------------- data
# A 6 x 5 image; each object's mask, by hand (rows, columns).
POLYGON = np.zeros((5, 6), np.uint8)
POLYGON[1:3, 1:4] = 1  # pixels whose centre is inside the rectangle x 1..4, y 1..3
COMPRESSED = np.zeros((5, 6), np.uint8)
COMPRESSED[0, 2:6] = 1
UNCOMPRESSED = np.zeros((5, 6), np.uint8)
UNCOMPRESSED[3:5, 0] = 1  # column-major runs: 3 zeros, 2 ones, 25 zeros


def _ann(ann_id, bbox, segmentation, iscrowd=0):
    return {"id": ann_id, "image_id": 1, "category_id": 3, "bbox": bbox, "iscrowd": iscrowd,
            "segmentation": segmentation}  # fmt: skip


ANNOTATIONS = [
    _ann(1, [1, 1, 3, 2], [[1, 1, 4, 1, 4, 3, 1, 3]]),
    _ann(2, [2, 0, 4, 1], {"size": [5, 6], "counts": ":14000000"}),  # COMPRESSED, as pycocotools encodes it
    _ann(3, [0, 3, 1, 2], {"size": [5, 6], "counts": [3, 2, 25]}),
    _ann(4, [4, 3, 2, 2], {"size": [5, 6], "counts": [23, 2, 3, 2]}, iscrowd=1),  # left out of the targets
]


def write_coco(root, annotations, images=None):
    (root / "images").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 5)).save(root / "images" / "a.png")
    data = {"images": images or [{"id": 1, "file_name": "a.png", "width": 6, "height": 5}],
            "annotations": annotations, "categories": [{"id": 3, "name": "square"}]}  # fmt: skip
    (root / "instances.json").write_text(json.dumps(data))
    return root / "images", root / "instances.json"


def test_mask_targets_match_pycocotools_and_the_hand_made_masks(tmp_path):
    images, annotations = write_coco(tmp_path, ANNOTATIONS)
    _, target = CocoDetection(images, annotations, masks=True)[0]
    assert isinstance(target["masks"], tv_tensors.Mask) and target["masks"].dtype == torch.uint8
    expected = np.stack([POLYGON, COMPRESSED, UNCOMPRESSED])
    np.testing.assert_array_equal(target["masks"].numpy(), expected)
    coco = COCO(str(annotations))
    reference = np.stack([coco.annToMask(coco.anns[i]) for i in (1, 2, 3)])
    np.testing.assert_array_equal(target["masks"].numpy(), reference)
    assert target["labels"].tolist() == [1, 1, 1] and len(target["boxes"]) == 3


def test_box_detectors_read_no_masks(tmp_path):
    plain = [{k: v for k, v in ann.items() if k != "segmentation"} for ann in ANNOTATIONS]
    images, annotations = write_coco(tmp_path, plain)
    _, target = CocoDetection(images, annotations)[0]
    assert sorted(target) == ["boxes", "image_id", "labels"]


@pytest.mark.parametrize(
    "segmentation, message",
    [
        (None, r"annotation id 1 has no 'segmentation' \(polygons \[\[x, y, \.\.\.\]\] or an RLE"),
        ([[1, 1, 4, 1, 4]], "annotation id 1 has a 'segmentation' polygon that is not a flat list of x, y numbers"),
        ([[1, 1, 4, True, 4, 3]], "polygon that is not a flat list"),
        ({"size": [6, 5], "counts": [30]}, r"RLE 'segmentation' of size \[6, 5\] \(height, width\), but its image is "
                                           r"\[5, 6\]"),
        ({"size": [5, 6], "counts": [3, 2]}, "uncompressed RLE whose 'counts' are not non-negative integers summing "
                                             "to height x width = 30"),
        ({"size": [5, 6], "counts": 7}, "'counts' is neither a list of run lengths nor a compressed string"),
        ({"counts": "abc"}, r"RLE 'segmentation' without a \[height, width\] 'size'"),
    ],
)  # fmt: skip
def test_bad_segmentations_are_errors_naming_file_and_annotation(tmp_path, segmentation, message):
    images, annotations = write_coco(tmp_path, [_ann(1, [1, 1, 3, 2], segmentation)])
    with pytest.raises(DataError, match=f"{annotations}: {message}" if "id 1" in message else message):
        CocoDetection(images, annotations, masks=True)


def test_masks_need_image_sizes_and_degenerate_polygon_parts_warn(tmp_path):
    images, annotations = write_coco(tmp_path, ANNOTATIONS[:1], images=[{"id": 1, "file_name": "a.png"}])
    with pytest.raises(DataError, match="image id 1 has no integer 'width' and 'height'; instance masks need them"):
        CocoDetection(images, annotations, masks=True)
    images, annotations = write_coco(tmp_path, [_ann(1, [1, 1, 3, 2], [[1, 1, 4, 1, 4, 3, 1, 3], [0, 0, 2, 2]])])
    with pytest.warns(UserWarning, match=r"dropped polygon parts with fewer than 3 points .* 1 annotation\(s\)"):
        _, target = CocoDetection(images, annotations, masks=True)[0]
    np.testing.assert_array_equal(target["masks"][0].numpy(), POLYGON)


def test_transforms_move_masks_with_boxes(tmp_path):
    images, annotations = write_coco(tmp_path, ANNOTATIONS)
    flip_and_double = detection_transforms(True, min_sizes=[10], max_size=100, hflip_prob=1.0)
    image, target = CocoDetection(images, annotations, flip_and_double, masks=True)[0]
    assert image.shape == (3, 10, 12) and target["masks"].shape == (3, 10, 12)
    for box, mask in zip(target["boxes"].tolist(), target["masks"]):
        rows, cols = mask.nonzero(as_tuple=True)
        assert box == [cols.min().item(), rows.min().item(), cols.max().item() + 1, rows.max().item() + 1]
    np.testing.assert_array_equal(target["masks"][0][::2, ::2].flip(-1).numpy(), POLYGON)  # nearest: 2x2 blocks


# -------------------------------------------------------------------------------------------------- evaluation
def _gt():
    images = [{"id": 1, "width": 40, "height": 40}]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [5, 5, 20, 20], "area": 400.0, "iscrowd": 0,
         "segmentation": [[5, 5, 25, 5, 25, 25, 5, 25]]},
    ]  # fmt: skip
    return {"images": images, "annotations": annotations, "categories": [{"id": 3, "name": "square"}]}


def _result(dx: int) -> dict:
    masks = torch.zeros(1, 1, 40, 40)
    masks[0, 0, 5:25, 5 + dx : 25 + dx] = 1.0
    output = {"boxes": torch.tensor([[5.0, 5.0, 25.0, 25.0]]), "labels": torch.tensor([1]),
              "scores": torch.tensor([0.9]), "masks": masks}  # fmt: skip
    return to_coco_results(1, output, CategoryMap((3,), ("square",)))[0]


def test_segm_ap_is_one_for_perfect_masks_and_lower_for_a_shifted_one():
    perfect = coco_evaluate(_gt(), [_result(0)], [1], iou_types=("bbox", "segm"), verbose=False)
    assert set(perfect) == {"bbox", "segm"}
    assert perfect["segm"]["AP"] == pytest.approx(1.0) and perfect["bbox"]["AP"] == pytest.approx(1.0)
    assert perfect["segm"]["per_category"] == [{"id": 3, "name": "square", "AP": pytest.approx(1.0)}]
    shifted = coco_evaluate(_gt(), [_result(6)], [1], iou_types=("bbox", "segm"), verbose=False)
    assert shifted["segm"]["AP"] < 0.5 and shifted["bbox"]["AP"] == pytest.approx(1.0)  # the box did not move
    assert set(coco_evaluate(_gt(), [_result(0)], [1], verbose=False)) == {"bbox"}  # box detectors: as before
    with pytest.raises(ValueError, match=r"iou_types must be among \['bbox', 'segm'\], got \['keypoints'\]"):
        coco_evaluate(_gt(), [], [1], iou_types=("keypoints",))


class FixedDetector(nn.Module):
    """Returns the same detections for every image (a predict test without training)."""

    def __init__(self, output: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.output = output

    def forward(self, images):
        return [dict(self.output) for _ in images]


def test_predict_draws_masks_and_writes_rle_that_decodes_back(tmp_path):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (48, 32), "white").save(tmp_path / "in" / "7.png")
    masks = torch.zeros(2, 1, 32, 48)
    masks[0, 0, 4:20, 6:30] = 0.9
    masks[1, 0, 10:30, 30:44] = 0.3  # below the mask threshold: an empty mask
    output = {"boxes": torch.tensor([[6.0, 4.0, 30.0, 20.0], [30.0, 10.0, 44.0, 30.0]]),
              "labels": torch.tensor([1, 1]), "scores": torch.tensor([0.9, 0.8]), "masks": masks}  # fmt: skip
    dets = predict.predict_images(FixedDetector(output), CategoryMap((3,), ("square",)), [tmp_path / "in" / "7.png"],
                                  tmp_path / "out")  # fmt: skip
    assert json.loads((tmp_path / "out" / "detections.json").read_text()) == dets
    assert [(d["image_id"], d["category_id"]) for d in dets] == [(7, 3), (7, 3)]
    for det, mask in zip(dets, masks):
        assert isinstance(det["segmentation"]["counts"], str) and det["segmentation"]["size"] == [32, 48]
        np.testing.assert_array_equal(mask_utils.decode(det["segmentation"]), (mask[0] > 0.5).numpy())
    drawn = np.asarray(Image.open(tmp_path / "out" / "7.png"))
    assert (drawn[8:16, 10:26] != 255).any(axis=-1).all()  # painted inside the mask
    assert (drawn[24:28, 2:4] == 255).all()  # untouched outside every box and mask
    assert encode_masks(torch.zeros(0, 1, 4, 4)) == []


# ------------------------------------------------------------------------------------------------------- CLIs
TINY = [
    "model.arch=mask_rcnn", "model.backbone.width=0.5", "model.fpn_channels=32", "model.box_head_fcs=[32, 32]",
    "model.mask_head_layers=[16]", "model.box_batch_size_per_image=32", "model.rpn_post_nms_top_n_train=100",
    "model.rpn_post_nms_top_n_test=50", "train.warmup_iters=2", "train.lr=0.01", "data.val_batch_size=3",
]  # fmt: skip


def args(root, out, *extra, epochs=1):
    return ["--data-path", str(root), "--output-dir", str(out), "--epochs", str(epochs), "--batch-size", "4",
            "--workers", "0", "--device", "cpu", "--min-size", "96", "--max-size", "128", *extra,
            "--opts", *TINY]  # fmt: skip


def test_train_resume_evaluate_predict_through_the_clis(coco_root, tmp_path):
    out = tmp_path / "run"
    first = train.main(args(coco_root, out))
    assert set(first) >= {"bbox", "segm"} and set(first["segm"]) >= {"AP", "AP50", "per_category"}
    resumed = train.main(args(coco_root, out, "--resume", str(out / "checkpoint.pth"), epochs=2))
    epochs = [r["epoch"] for r in read_jsonl(out / "log.jsonl") if r["type"] == "epoch"]
    assert epochs == [0, 1] and all(np.isfinite(r["loss_mask"]) for r in read_jsonl(out / "log.jsonl")
                                    if r["type"] == "epoch")  # fmt: skip
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["epoch"] == 1 and saved["segm"] == resumed["segm"] and saved["bbox"] == resumed["bbox"]
    again = train.main(args(coco_root, tmp_path / "eval", "--test-only", "--resume", str(out / "checkpoint.pth")))
    assert again["segm"]["AP"] == pytest.approx(resumed["segm"]["AP"], abs=1e-9)
    weights, pred = str(out / "checkpoint.pth"), str(tmp_path / "pred")
    dets = predict.main(["--weights", weights, "--input", str(coco_root / "val2017"), "--output-dir", pred,
                         "--score-thresh", "0.0", "--device", "cpu"])  # fmt: skip
    assert dets and all(isinstance(d["segmentation"]["counts"], str) for d in dets)
    assert len(list((tmp_path / "pred").glob("*.jpg"))) == 6


def test_mask_rcnn_on_voc_data_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match="model.arch='mask_rcnn' learns instance masks, and data.format='voc' has"):
        load_config(DetectionConfig, None, ["model.arch=mask_rcnn", "data.format=voc"])
    argv = ["--data-path", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--device", "cpu",
            "--opts", "model.arch=mask_rcnn", "data.format=voc"]  # fmt: skip
    assert run_cli(train.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: model.arch='mask_rcnn' learns instance masks")
    assert "has none (its annotations hold boxes only)" in err[0] and not (tmp_path / "out").exists()
