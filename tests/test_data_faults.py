"""Doubtful annotation files read as the devkit and pycocotools read them: a VOC ``<filename>`` naming another image,
a validation polygon of 2 points."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from PIL import Image

from detection.data import CocoDetection, VocDetection, voc_categories
from detection.evaluate import coco_evaluate, to_coco_results
from ghost_backbones.data.synthetic.voc_detection import VocObject, voc_annotation_xml

CATS = voc_categories(["circle", "square", "triangle"])


# ------------------------------------------------------------------ VOC: the image is the id's
def test_voc_filename_naming_another_image_is_read_by_id_with_a_warning(tmp_path):
    voc = tmp_path / "VOCdevkit" / "VOC2007"
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (voc / folder).mkdir(parents=True)
    for i, image_id in enumerate(("0001", "0002", "0003")):
        Image.new("RGB", (40, 30), (80 * i, 0, 0)).save(voc / "JPEGImages" / f"{image_id}.jpg")
        xml = voc_annotation_xml(image_id, year="2007", size=(40, 30), objects=[VocObject("circle", (1, 1, 5, 5), 0)])
        if image_id != "0003":  # 0001 and 0002 name each other's image, as a copied-and-edited file does
            other = "0002.jpg" if image_id == "0001" else "0001.jpg"
            xml = xml.replace(f"<filename>{image_id}.jpg</filename>", f"<filename>{other}</filename>")
        (voc / "Annotations" / f"{image_id}.xml").write_text(xml)
    (voc / "ImageSets" / "Main" / "train.txt").write_text("0001\n0002\n0003\n")
    with pytest.warns(UserWarning) as caught:
        ds = VocDetection(tmp_path, ["2007"], "train", categories=CATS)
    (warning,) = [str(w.message) for w in caught]
    assert warning == (
        f"{voc / 'ImageSets' / 'Main' / 'train.txt'}: 2 annotation(s) of 3 name another image in <filename> than their "
        "id (first: 0001.xml names '0002.jpg', 0002.xml names '0001.jpg'); each is read with the image of its id "
        "(JPEGImages/<id>.jpg), as the devkit does"
    )
    assert [ds.image_path(i).name for i in range(3)] == ["0001.jpg", "0002.jpg", "0003.jpg"]
    image, _ = ds[0]
    assert image.getpixel((0, 0))[0] < 20  # 0001's own (black) pixels, not 0002's


def test_voc_filename_that_agrees_gives_no_warning(tmp_path):
    voc = tmp_path / "VOCdevkit" / "VOC2007"
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (voc / folder).mkdir(parents=True)
    Image.new("RGB", (40, 30)).save(voc / "JPEGImages" / "0001.jpg")
    xml = voc_annotation_xml("0001", year="2007", size=(40, 30), objects=[VocObject("circle", (1, 1, 5, 5), 0)])
    (voc / "Annotations" / "0001.xml").write_text(xml.replace("<filename>0001.jpg</filename>", ""))  # none: the id's
    (voc / "ImageSets" / "Main" / "train.txt").write_text("0001\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = VocDetection(tmp_path, ["2007"], "train", categories=CATS)
    assert ds.image_path(0).name == "0001.jpg"


# ------------------------------------------------------------------ COCO: a 2-point validation polygon
def test_a_two_point_validation_polygon_does_not_stop_the_segm_evaluation(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "a.png")
    square = {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4], "iscrowd": 0,
              "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]}  # fmt: skip
    line = {
        "id": 2,
        "image_id": 1,
        "category_id": 3,
        "bbox": [2, 2, 3, 3],
        "iscrowd": 0,
        "segmentation": [[2, 2, 5, 5]],
    }
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}], "annotations": [square, line],
            "categories": [{"id": 3, "name": "square"}]}  # fmt: skip
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match=r"from 1 annotation\(s\) \(first ids: \[2\]\); an annotation left without a "):
        ds = CocoDetection(tmp_path / "images", path, masks=True)
    _, target = ds[0]
    assert target["masks"][1].sum() == 0 and target["masks"][0].sum() == 16  # the 2-point one: an empty mask
    output = {
        "boxes": target["boxes"][:1].float(),
        "labels": target["labels"][:1],
        "scores": torch.ones(1),
        "masks": target["masks"][:1, None].float(),
    }  # fmt: skip  (the square found exactly)
    results = to_coco_results(1, output, ds.categories)
    metrics = coco_evaluate(ds.coco, results, [1], iou_types=("bbox", "segm"), verbose=False)
    assert 0.0 < metrics["segm"]["AP"] < 1.0  # one of two objects found; no crash inside pycocotools


# ------------------------------------------------------------------ COCO AP: pycocotools on the file
def test_coco_ap_is_pycocotools_on_the_raw_file_with_unrounded_boxes(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    (tmp_path / "images").mkdir()
    images = [{"id": i, "file_name": f"{i}.png", "width": 64, "height": 48} for i in (1, 2)]
    for image in images:
        Image.new("RGB", (64, 48)).save(tmp_path / "images" / image["file_name"])
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [4.3, 5.7, 20.2, 14.9]},
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [50.0, 10.0, 34.0, 20.0]},  # 20 px past the right edge
        {"id": 3, "image_id": 2, "category_id": 7, "bbox": [10.0, 10.0, 8.004, 8.004]},
        {"id": 4, "image_id": 2, "category_id": 7, "bbox": [30.0, 30.0, 0.0, 5.0]},  # no area
    ]
    path = tmp_path / "instances.json"
    raw = {"images": images, "annotations": annotations,
           "categories": [{"id": 3, "name": "square"}, {"id": 7, "name": "circle"}]}  # fmt: skip
    path.write_text(json.dumps(raw))
    with pytest.warns(UserWarning):  # clipped, dropped: for training
        ds = CocoDetection(tmp_path / "images", path)
    cleaned = json.dumps(ds.coco, sort_keys=True)
    xyxy = {1: [[4.31, 5.69, 24.537, 20.613], [50.0, 10.0, 64.0, 30.0]], 2: [[10.004, 9.996, 18.006, 18.0]]}
    results = []
    for image_id, boxes in xyxy.items():
        label = 1 if image_id == 1 else 2
        output = {"boxes": torch.tensor(boxes, dtype=torch.float64), "labels": torch.tensor([label] * len(boxes)),
                  "scores": torch.linspace(0.9, 0.5, len(boxes))}  # fmt: skip
        results += to_coco_results(image_id, output, ds.categories)
    ours = coco_evaluate(ds.evaluation_coco, results, [1, 2], verbose=False)["bbox"]

    gt = COCO(str(path))  # pycocotools on the file, with the same (unrounded) boxes
    for ann in gt.dataset["annotations"]:
        ann.setdefault("iscrowd", 0)
        ann.setdefault("area", ann["bbox"][2] * ann["bbox"][3])
    gt.createIndex()
    evaluator = COCOeval(gt, gt.loadRes(json.loads(json.dumps(results))), iouType="bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert [ours[name] for name in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")] == [
        pytest.approx(float(v), abs=1e-12) for v in evaluator.stats[:9]
    ]
    assert ours["AP"] < 0.9  # the box past the edge is found only as the image shows it: not a perfect score
    assert json.dumps(ds.coco, sort_keys=True) == cleaned  # the dataset's ground truth is as it was read
    assert all("ignore" not in ann for ann in ds.evaluation_coco["annotations"])
