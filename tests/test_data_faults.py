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
