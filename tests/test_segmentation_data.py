"""VOC reader and joint transforms: palette masks read as indices, 255 kept, every bad-input check."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN as MEAN
from timm.data import IMAGENET_DEFAULT_STD as STD

from ghost_backbones.data.synthetic import SHAPE_CLASSES, make_shapes_voc
from ghost_backbones.engine import ConfigError, DataError, load_config
from segmentation.config import SegmentationConfig
from segmentation.data import SEGMENTATION_FORMATS, SegmentationDataset
from segmentation.data.transforms import SegmentationEvalTransform, SegmentationTrainTransform
from segmentation.data.voc import VOCSegmentation, read_split, resolve_voc_root
from segmentation.task import build_dataset, segmentation_loss

NUM_CLASSES = 1 + len(SHAPE_CLASSES)


def _train_transform(crop, base, scale_range=(0.5, 2.0), hflip_prob=0.5) -> SegmentationTrainTransform:
    return SegmentationTrainTransform(crop, base, scale_range, hflip_prob, mean=MEAN, std=STD)


@pytest.fixture
def voc_copy(tmp_path: Path) -> Path:
    """A private, tiny dataset the test may damage."""
    return make_shapes_voc(tmp_path / "voc", num_train=3, num_val=2, image_size=64, seed=1)


def _voc(root: Path) -> Path:
    return root / "VOCdevkit" / "VOC2012"


def _first_id(root: Path, split: str = "train") -> str:
    return (_voc(root) / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()[0]


def test_palette_masks_read_as_indices(voc_root: Path) -> None:
    ds = VOCSegmentation(voc_root, "train", num_classes=NUM_CLASSES)
    assert len(ds) == 12
    image, mask = ds[0]
    raw = Image.open(ds.samples[0][1])
    assert raw.mode == "P"
    assert image.mode == "RGB" and image.size == raw.size
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, np.array(raw))  # indices, not palette colours
    values = set(np.unique(np.concatenate([ds[i][1].ravel() for i in range(len(ds))])).tolist())
    assert 255 in values and values <= {0, 1, 2, 3, 255}
    assert values & {1, 2, 3}


@pytest.mark.parametrize("sub", ["", "VOCdevkit/VOC2012"])
def test_root_or_voc2012_folder(voc_root: Path, sub: str) -> None:
    ds = VOCSegmentation(voc_root / sub, "val", num_classes=NUM_CLASSES)
    assert ds.root == resolve_voc_root(voc_root)
    assert len(ds) == 6 and ds.ids[0] == _first_id(voc_root, "val")


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no VOC dataset at .*expected .*VOCdevkit/VOC2012"):
        VOCSegmentation(tmp_path)


def test_missing_split_list(voc_root: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"split list not found: .*train_aug.txt \(available in .*'train'"):
        VOCSegmentation(voc_root, "train_aug")


@pytest.mark.parametrize("folder, suffix", [("JPEGImages", ".jpg"), ("SegmentationClass", ".png")])
def test_missing_file_named_in_split(voc_copy: Path, folder: str, suffix: str) -> None:
    victim = _voc(voc_copy) / folder / f"{_first_id(voc_copy)}{suffix}"
    victim.unlink()
    with pytest.raises(DataError, match=rf"train.txt: missing file\(s\): {victim} \(listed in train.txt:1\)"):
        VOCSegmentation(voc_copy, "train", num_classes=NUM_CLASSES)


def test_size_mismatch_names_both_files(voc_copy: Path) -> None:
    image_id = _first_id(voc_copy)
    mask_path = _voc(voc_copy) / "SegmentationClass" / f"{image_id}.png"
    mask = Image.open(mask_path)
    mask.crop((0, 0, 40, 50)).save(mask_path)
    ds = VOCSegmentation(voc_copy, "train", num_classes=NUM_CLASSES)
    match = rf"size mismatch: image .*{image_id}.jpg is 64x64 but mask .*{image_id}.png is 40x50"
    with pytest.raises(DataError, match=match):
        ds[0]


def test_label_out_of_range_names_file_and_value(voc_copy: Path) -> None:
    mask_path = _voc(voc_copy) / "SegmentationClass" / f"{_first_id(voc_copy)}.png"
    mask = Image.open(mask_path)
    values = np.array(mask)
    values[0, 0] = 7
    bad = Image.fromarray(values)
    bad.putpalette(mask.getpalette())
    bad.save(mask_path)
    ds = VOCSegmentation(voc_copy, "train", num_classes=NUM_CLASSES)
    with pytest.raises(DataError, match=rf"{mask_path}: label value\(s\) \[7\] outside \[0, 4\)"):
        ds[0]
    assert VOCSegmentation(voc_copy, "train", num_classes=8)[0][1][0, 0] == 7  # fine with more classes


def test_rgb_mask_rejected(voc_copy: Path) -> None:
    mask_path = _voc(voc_copy) / "SegmentationClass" / f"{_first_id(voc_copy)}.png"
    Image.open(mask_path).convert("RGB").save(mask_path)
    with pytest.raises(DataError, match=r"mask mode is 'RGB'; expected a palette \('P'\) or grayscale \('L'\)"):
        VOCSegmentation(voc_copy, "train", num_classes=NUM_CLASSES)[0]


def test_corrupt_image_error_or_skip(voc_copy: Path) -> None:
    image_id = _first_id(voc_copy)
    image_path = _voc(voc_copy) / "JPEGImages" / f"{image_id}.jpg"
    image_path.write_bytes(image_path.read_bytes()[:200])  # truncated JPEG
    with pytest.raises(DataError, match=rf"{image_path}: cannot read image"):
        VOCSegmentation(voc_copy, "train", num_classes=NUM_CLASSES)[0]
    ds = VOCSegmentation(voc_copy, "train", num_classes=NUM_CLASSES, skip_bad_images=True)
    with pytest.warns(RuntimeWarning, match=rf"skipping unreadable sample: {image_path}"):
        image, mask = ds[0]
    expected = np.array(Image.open(ds.samples[1][1]))
    np.testing.assert_array_equal(mask, expected)  # the next readable sample


def test_augmented_set_two_column_list(voc_copy: Path) -> None:
    voc = _voc(voc_copy)
    shutil.copytree(voc / "SegmentationClass", voc / "SegmentationClassAug")
    ids = (voc / "ImageSets" / "Segmentation" / "trainval.txt").read_text().split()
    lines = [f"/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png" for i in ids]
    (voc / "ImageSets" / "Segmentation" / "train_aug.txt").write_text("\n".join(lines) + "\n")
    samples = read_split(voc, "train_aug")
    assert len(samples) == 5 and samples[0][1].parent.name == "SegmentationClassAug"
    one_column = VOCSegmentation(voc_copy, "trainval", mask_dir="SegmentationClassAug", num_classes=NUM_CLASSES)
    assert one_column.samples == samples


def test_malformed_list_line(voc_copy: Path) -> None:
    (_voc(voc_copy) / "ImageSets" / "Segmentation" / "odd.txt").write_text("a b c\n")
    with pytest.raises(DataError, match=r"odd.txt:1: expected 'ID' or 'IMAGE MASK', got 'a b c'"):
        VOCSegmentation(voc_copy, "odd")


def test_train_transform_crops_scales_and_pads(voc_root: Path) -> None:
    torch.manual_seed(0)
    ds = VOCSegmentation(voc_root, "train", num_classes=NUM_CLASSES, transforms=_train_transform(96, 64))
    original = set(np.unique(ds.load(0)[1]).tolist())
    for _ in range(4):
        image, mask = ds[0]
        assert image.shape == (3, 96, 96) and image.dtype == torch.float32
        assert mask.shape == (96, 96) and mask.dtype == torch.int64
        assert set(mask.unique().tolist()) <= original | {255}  # nearest neighbour: no new labels
    # scale <= 1 of a 64-px base: the 96 crop needs padding, with 255 in the mask
    padded = _train_transform(96, 64, (0.5, 1.0))(*ds.load(0))[1]
    assert (padded == 255).float().mean() > 0.5


def test_flip_moves_image_and_mask_together() -> None:
    labels = np.zeros((8, 8), dtype=np.uint8)
    labels[:, :3] = 2
    image = Image.fromarray(np.repeat(labels[..., None] * 100, 3, axis=2))
    t = SegmentationTrainTransform(8, 8, (1.0, 1.0), 1.0, mean=MEAN, std=STD)
    x, y = t(image, labels)
    assert torch.equal(y, torch.from_numpy(labels[:, ::-1].copy()).long())
    pixel = x[:, 0, -1] * torch.tensor(STD) + torch.tensor(MEAN)
    torch.testing.assert_close(pixel, torch.full((3,), 200 / 255), atol=1e-5, rtol=0)


def test_eval_transform_keeps_mask_resolution(voc_root: Path) -> None:
    ds = VOCSegmentation(
        voc_root, "val", num_classes=NUM_CLASSES, transforms=SegmentationEvalTransform(100, mean=MEAN, std=STD)
    )
    image, mask = ds[0]
    raw_image, raw_mask = ds.load(0)
    assert mask.shape == (raw_image.height, raw_image.width)
    assert min(image.shape[-2:]) == 100
    torch.testing.assert_close(mask, torch.from_numpy(raw_mask).long())


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: _train_transform(0, 64), r"crop_size and base_size must be >= 1, got 0 and 64"),
        (lambda: _train_transform(8, 8, (2.0, 1.0)), r"scale_range must be \[min, max\]"),
        (lambda: _train_transform(8, 8, hflip_prob=2), r"hflip_prob must be in \[0, 1\], got 2"),
        (lambda: SegmentationEvalTransform(-1, mean=MEAN, std=STD), r"base_size must be >= 0"),
        (lambda: VOCSegmentation("/nonexistent", num_classes=300), r"num_classes must be in \[1, 255\], got 300"),
    ],
)
def test_bad_transform_and_dataset_arguments(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_loss_ignores_void_pixels() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 5)
    target = torch.randint(0, 4, (2, 5, 5))
    target[0, :2] = 255
    keep = target != 255
    expected = torch.nn.functional.cross_entropy(logits.permute(0, 2, 3, 1)[keep], target[keep])
    torch.testing.assert_close(segmentation_loss(logits, target), expected)
    void = segmentation_loss(logits.requires_grad_(), torch.full((2, 5, 5), 255))
    assert void.item() == 0.0
    void.backward()  # a crop without labelled pixels still gives a usable (zero) gradient


def test_data_format_is_a_registered_name(voc_root: Path) -> None:
    assert SEGMENTATION_FORMATS.names() == ["voc"]
    with pytest.raises(ConfigError, match=r"data.format must be one of \['voc'\], got 'coco'"):
        load_config(SegmentationConfig, None, ["data.format=coco"])
    cfg = load_config(SegmentationConfig, None, [f"data.root={voc_root}"])
    val = build_dataset(cfg.data, train=False, transforms=None, num_classes=1 + len(SHAPE_CLASSES))
    assert isinstance(val, SegmentationDataset) and val.image_path(0) == val.samples[0][0]
    assert val.load(0)[1].dtype == np.uint8
