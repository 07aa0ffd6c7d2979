"""COCO-format data: category mapping, every bad input, crowd/empty images, colour modes, EXIF, transforms."""

import json
import warnings

import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from detection.config import DetectionConfig
from detection.data.coco import CategoryMap, CocoDetection, load_coco_annotations
from detection.data.sampler import GroupedBatchSampler
from detection.data.transforms import ZOOM_OUT_FILL, detection_transforms
from detection.task import collate
from ghost_backbones.data.images import read_rgb
from ghost_backbones.engine import ConfigError, DataError, load_config

CATEGORIES = [{"id": 7, "name": "triangle"}, {"id": 1, "name": "circle"}, {"id": 3, "name": "square"}]


def write_coco(root, annotations, *, images=None, categories=CATEGORIES, size=(40, 30), mode="RGB"):
    """A tiny COCO dataset under ``root``: image files ``{id}.png`` and ``ann.json``."""
    images = images if images is not None else [{"id": 1, "file_name": "1.png", "width": size[0], "height": size[1]}]
    (root / "images").mkdir(parents=True, exist_ok=True)
    for image in images:
        Image.new(mode, (image["width"], image["height"])).save(root / "images" / image["file_name"])
    path = root / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return root / "images", path


def ann(ann_id, category_id=1, bbox=(2, 3, 10, 12), image_id=1, **extra):
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": list(bbox), **extra}


# ------------------------------------------------------------------ category mapping
def test_category_map_is_contiguous_and_reversible():
    cats = CategoryMap.from_categories(CATEGORIES)
    assert cats.ids == (1, 3, 7) and cats.names == ("circle", "square", "triangle")
    assert [cats.to_label(i) for i in (1, 3, 7)] == [1, 2, 3]
    assert [cats.to_id(label) for label in (1, 2, 3)] == [1, 3, 7]
    assert cats.name(3) == "triangle" and cats.num_classes == 4
    assert CategoryMap.from_categories(cats.as_categories()) == cats


def test_category_map_rejects_bad_labels_and_duplicates():
    cats = CategoryMap.from_categories(CATEGORIES)
    with pytest.raises(ValueError, match=r"label must be in \[1, 3\], got 0"):
        cats.to_id(0)
    with pytest.raises(ValueError, match=r"category ids must be unique, got \[1, 1\]"):
        CategoryMap((1, 1), ("a", "b"))


def test_dataset_maps_non_contiguous_ids(coco_root):
    ds = CocoDetection(coco_root / "train2017", coco_root / "annotations" / "instances_train2017.json")
    assert ds.categories.ids == (1, 3, 7)
    raw = json.loads((coco_root / "annotations" / "instances_train2017.json").read_text())
    image, target = ds[0]
    expected = [
        ds.categories.to_label(a["category_id"])
        for a in raw["annotations"]
        if a["image_id"] == ds.images[0]["id"] and not a.get("iscrowd", 0)
    ]
    assert target["labels"].tolist() == expected
    assert set(target["labels"].tolist()) <= {1, 2, 3}
    assert isinstance(target["boxes"], tv_tensors.BoundingBoxes) and target["boxes"].format.value == "XYXY"


# ------------------------------------------------------------------ crowd and empty images
def test_crowd_regions_left_out_of_targets_but_kept_for_evaluation(tmp_path):
    images, path = write_coco(tmp_path, [ann(1), ann(2, category_id=3, iscrowd=1)])
    ds = CocoDetection(images, path)
    _, target = ds[0]
    assert target["labels"].tolist() == [1]
    assert target["boxes"].tolist() == [[2.0, 3.0, 12.0, 15.0]]
    assert [a["iscrowd"] for a in ds.coco["annotations"]] == [0, 1]


def test_images_without_annotations_are_kept(coco_root):
    ds = CocoDetection(coco_root / "val2017", coco_root / "annotations" / "instances_val2017.json")
    raw = json.loads((coco_root / "annotations" / "instances_val2017.json").read_text())
    annotated = {a["image_id"] for a in raw["annotations"]}
    empty = [i for i, image in enumerate(ds.images) if image["id"] not in annotated]
    assert len(ds) == len(raw["images"]) and empty
    _, target = ds[empty[0]]
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)


# ------------------------------------------------------------------ bad input, each with its message
def test_missing_annotation_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"annotation file not found: .*nope\.json"):
        load_coco_annotations(tmp_path / "nope.json")


def test_missing_image_folder_names_the_path(tmp_path):
    _, path = write_coco(tmp_path, [ann(1)])
    with pytest.raises(FileNotFoundError, match=r"image folder not found: .*missing_dir"):
        CocoDetection(tmp_path / "missing_dir", path)


def test_invalid_json_and_missing_sections(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match=r"bad\.json: not a valid JSON file"):
        load_coco_annotations(bad)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(
        DataError, match=r"bad\.json: not a COCO instances file, missing list\(s\) \['annotations', 'categories'\]"
    ):
        load_coco_annotations(bad)
    bad.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    with pytest.raises(DataError, match="'categories' is empty"):
        load_coco_annotations(bad)
    bad.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1}, {"id": 1}]}))
    with pytest.raises(DataError, match="category id 1 is listed twice"):
        load_coco_annotations(bad)
    bad.write_text(json.dumps({"images": [{"id": 1}], "annotations": [], "categories": [{"id": 1}]}))
    with pytest.raises(DataError, match="every image needs an 'id' and a 'file_name'"):
        load_coco_annotations(bad)


def test_unknown_category_names_the_annotation(tmp_path):
    _, path = write_coco(tmp_path, [ann(1), ann(42, category_id=5)])
    with pytest.raises(DataError, match=r"ann\.json: annotation id 42 has category_id 5, which is not in 'categories'"):
        load_coco_annotations(path)


def test_missing_image_names_the_annotation(tmp_path):
    _, path = write_coco(tmp_path, [ann(1), ann(17, image_id=99)])
    with pytest.raises(DataError, match="annotation id 17 refers to image_id 99, which is not in 'images'"):
        load_coco_annotations(path)


def test_malformed_bbox_names_the_annotation(tmp_path):
    _, path = write_coco(tmp_path, [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}])
    with pytest.raises(DataError, match=r"annotation id 5 has no valid 'bbox' \[x, y, width, height\]"):
        load_coco_annotations(path)


def test_degenerate_boxes_dropped_with_one_warning(tmp_path):
    anns = [ann(1), ann(2, bbox=(1, 1, 0, 5)), ann(3, bbox=(1, 1, 4, -2)), ann(4, bbox=(0, 0, 3, 3))]
    images, path = write_coco(tmp_path, anns)
    with pytest.warns(
        UserWarning,
        match=r"dropped 2 annotation\(s\) with zero or negative box width/height "
        r"\(first ids: \[2, 3\]\)",
    ) as record:
        ds = CocoDetection(images, path)
    assert len([w for w in record if "dropped" in str(w.message)]) == 1
    assert [a["id"] for a in ds.coco["annotations"]] == [1, 4]
    assert ds[0][1]["boxes"].shape == (2, 4)


def corrupt_dataset(tmp_path):
    images = [{"id": i, "file_name": f"{i}.png", "width": 40, "height": 30} for i in (1, 2, 3)]
    image_dir, path = write_coco(tmp_path, [ann(1, image_id=1), ann(2, image_id=2)], images=images)
    (image_dir / "2.png").write_bytes(b"this is not a png")
    return image_dir, path


def test_corrupt_image_error_names_the_file(tmp_path):
    ds = CocoDetection(*corrupt_dataset(tmp_path))
    assert ds[0][1]["labels"].tolist() == [1]
    with pytest.raises(DataError, match=r"2\.png: cannot read image"):
        ds[1]


def test_missing_image_file_error_names_the_file(tmp_path):
    image_dir, path = write_coco(tmp_path, [ann(1)])
    (image_dir / "1.png").unlink()
    with pytest.raises(DataError, match=r"1\.png: image file not found"):
        CocoDetection(image_dir, path)[0]


def test_skip_bad_images_warns_with_a_count(tmp_path):
    image_dir, path = corrupt_dataset(tmp_path)
    evaluation = CocoDetection(image_dir, path, skip_bad_images=True)
    with pytest.warns(UserWarning, match=r"skipped bad image: .*2\.png: cannot read image .*\(1 skipped so far"):
        assert evaluation[1] is None
    with pytest.warns(UserWarning, match=r"\(2 skipped so far"):
        assert evaluation[1] is None
    images, targets = collate([evaluation[0], None, evaluation[2]])
    assert [t["image_id"] for t in targets] == [1, 3]
    training = CocoDetection(image_dir, path, skip_bad_images=True, substitute_bad=True)
    with pytest.warns(UserWarning, match="1 skipped so far"):
        _, target = training[1]
    assert target["image_id"] == 3  # the next readable image takes its place


def test_image_size_mismatch_names_the_file(tmp_path):
    images = [{"id": 1, "file_name": "1.png", "width": 40, "height": 30}]
    image_dir, path = write_coco(tmp_path, [ann(1)], images=images)
    Image.new("RGB", (50, 50)).save(image_dir / "1.png")
    with pytest.raises(DataError, match=r"1\.png: image is 50x50 but its annotation file says 40x30"):
        CocoDetection(image_dir, path)[0]


# ------------------------------------------------------------------ colour modes and EXIF
@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16"])
def test_any_colour_mode_becomes_rgb(tmp_path, mode):
    suffix = ".jpg" if mode == "CMYK" else ".png"
    images = [{"id": 1, "file_name": f"1{suffix}", "width": 40, "height": 30}]
    image_dir, path = write_coco(tmp_path, [ann(1)], images=images, mode=mode)
    image, _ = CocoDetection(image_dir, path)[0]
    assert image.mode == "RGB" and image.size == (40, 30)


def rotated_photo(path):
    """A 40x30 stored image whose EXIF says 'rotate 90': it displays as 30x40, red on the displayed top."""
    image = Image.new("RGB", (40, 30), "blue")
    image.paste((255, 0, 0), (0, 0, 10, 30))  # left band stored; after a 90 degree CW rotation it is at the top
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    image.save(path, exif=exif)


def test_read_rgb_applies_exif_orientation(tmp_path):
    rotated_photo(tmp_path / "photo.jpg")
    shown = read_rgb(tmp_path / "photo.jpg")
    assert shown.size == (30, 40)
    assert shown.getpixel((15, 2))[0] > 200  # the red band is on top
    # COCO boxes are in stored pixels: with the stored size in the JSON, the orientation is not applied.
    assert read_rgb(tmp_path / "photo.jpg", expected_size=(40, 30)).size == (40, 30)
    assert read_rgb(tmp_path / "photo.jpg", expected_size=(30, 40)).size == (30, 40)


# ------------------------------------------------------------------ transforms and batching
def test_training_transform_flips_boxes_and_drops_degenerate():
    image = Image.new("RGB", (64, 32))
    boxes = tv_tensors.BoundingBoxes([[0, 0, 16, 16], [70, 0, 80, 10]], format="XYXY", canvas_size=(32, 64))
    out, target = detection_transforms(True, hflip_prob=1.0)(image, {"boxes": boxes, "labels": torch.tensor([1, 2])})
    assert out.dtype == torch.float32 and out.shape == (3, 32, 64)
    assert target["boxes"].tolist() == [[48.0, 0.0, 64.0, 16.0]]  # the box outside the image is gone
    assert target["labels"].tolist() == [1]


@pytest.mark.parametrize("min_sizes", [[48], [40, 56, 72]])
def test_training_transform_multiscale(min_sizes):
    torch.manual_seed(0)
    seen = set()
    for _ in range(12):
        image = Image.new("RGB", (64, 32))
        boxes = tv_tensors.BoundingBoxes([[8, 8, 24, 24]], format="XYXY", canvas_size=(32, 64))
        out, target = detection_transforms(True, min_sizes=min_sizes, hflip_prob=0.0)(
            image, {"boxes": boxes, "labels": torch.tensor([1])}
        )
        seen.add(out.shape[1])
        scale = out.shape[1] / 32
        assert target["boxes"].tolist() == [[8 * scale, 8 * scale, 24 * scale, 24 * scale]]
    assert seen == set(min_sizes)


def test_transform_rejects_bad_flip_probability():
    with pytest.raises(ValueError, match=r"hflip_prob must be in \[0, 1\], got 1.5"):
        detection_transforms(True, hflip_prob=1.5)
    with pytest.raises(ValueError, match=r"augmentation must be one of \['hflip', 'ssd', 'ssdlite'\], got 'mosaic'"):
        detection_transforms(True, augmentation="mosaic")
    with pytest.raises(ConfigError, match=r"data.augmentation must be one of \['hflip', 'ssd', 'ssdlite'\], got 'x'"):
        load_config(DetectionConfig, None, ["data.augmentation=x"])


def _shapes_sample(width=96, height=64):
    """A grey image with three objects whose masks fill their boxes exactly (labels 1, 2, 3)."""
    image = Image.new("RGB", (width, height), (90, 90, 90))
    rects = [(4, 4, 30, 40), (40, 10, 90, 30), (50, 36, 70, 60)]
    masks = torch.zeros(len(rects), height, width, dtype=torch.uint8)
    for k, (x0, y0, x1, y1) in enumerate(rects):
        masks[k, y0:y1, x0:x1] = 1
    target = {
        "boxes": tv_tensors.BoundingBoxes(rects, format="XYXY", canvas_size=(height, width)),
        "labels": torch.tensor([1, 2, 3]),
        "masks": tv_tensors.Mask(masks),
    }
    return image, target


@pytest.mark.parametrize("augmentation", ["ssdlite", "ssd"])
def test_ssd_policies_crop_and_zoom_out_boxes_and_masks_together(augmentation):
    transform = detection_transforms(True, hflip_prob=0.5, augmentation=augmentation)
    fill = v2.ToDtype(torch.float32, scale=True)(torch.tensor(ZOOM_OUT_FILL["others"], dtype=torch.uint8))
    cropped = zoomed = 0
    for seed in range(40):
        torch.manual_seed(seed)
        image, target = transform(*_shapes_sample())
        height, width = image.shape[-2:]
        assert target["masks"].shape == (len(target["boxes"]), height, width) and len(target["labels"]) == len(
            target["masks"]
        )
        for box, mask, label in zip(target["boxes"].tolist(), target["masks"], target["labels"].tolist()):
            rows, cols = mask.nonzero(as_tuple=True)  # the mask still fills its box, wherever the crop cut both
            assert box == [cols.min().item(), rows.min().item(), cols.max().item() + 1, rows.max().item() + 1]
            assert label in (1, 2, 3)
        cropped += width * height < 96 * 64
        if width * height > 96 * 64:
            zoomed += 1
            border = (image == fill[:, None, None]).all(0)  # the canvas around the image: the mean colour
            assert border.sum() >= width * height - 96 * 64 and not target["masks"][:, border].any()
    assert cropped > 0
    assert (zoomed > 0) == (augmentation == "ssd")


def test_iou_crop_leaves_an_image_without_objects_whole():
    torch.manual_seed(0)
    empty = {"boxes": tv_tensors.BoundingBoxes(torch.zeros(0, 4), format="XYXY", canvas_size=(32, 48)),
             "labels": torch.zeros(0, dtype=torch.int64)}  # fmt: skip
    image, target = detection_transforms(True, augmentation="ssdlite")(Image.new("RGB", (48, 32)), empty)
    assert image.shape == (3, 32, 48) and target["boxes"].shape == (0, 4)


def test_grouped_batches_share_orientation():
    groups = [0, 1, 0, 1, 0, 1, 1, 0, 0, 1]
    batches = list(GroupedBatchSampler(range(10), groups, batch_size=2))
    assert len(batches) == len(GroupedBatchSampler(range(10), groups, batch_size=2)) == 5
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert all(len({groups[i] for i in b}) == 1 for b in batches[:-1])
    assert batches[-1] == [8, 9]  # what is left at the end is batched regardless of group
    assert list(GroupedBatchSampler(range(3), [0, 1, 0], batch_size=4)) == [[0, 2, 1]]
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        GroupedBatchSampler(range(3), [0, 0, 0], batch_size=0)


def test_no_warning_on_clean_data(coco_root):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = CocoDetection(coco_root / "train2017", coco_root / "annotations" / "instances_train2017.json")
        assert all(ds[i] is not None for i in range(len(ds)))
