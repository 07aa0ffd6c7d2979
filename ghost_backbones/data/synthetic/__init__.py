"""Synthetic shapes datasets written in the real COCO, Pascal VOC segmentation, Pascal VOC detection and YOLO layouts.

Offline there is no dataset to download, so the demo, the tests and users' smoke tests train on generated shapes
(circles, squares, triangles) drawn with PIL on a lightly textured background. The files are byte-for-byte the
formats the real loaders read, so the same ``--data-path`` code path serves both real and synthetic data:

* COCO (``make_shapes_coco``, ``coco.py``), the torchvision ``references/detection`` layout::

      ROOT/annotations/instances_{train,val}2017.json
      ROOT/{train,val}2017/000000000001.jpg ...

  Category ids are deliberately not contiguous (``circle=1, square=3, triangle=7``, like COCO's gaps), a few val
  images hold no object, and ``crowd=True`` adds ``iscrowd=1`` regions with an uncompressed-RLE segmentation.
  Every annotation describes the *full* shape (amodal): ``bbox`` is the tight box of the polygon in
  ``segmentation`` and ``area`` is the pixel area of that polygon, also where a later shape partly covers it.
* Pascal VOC segmentation (``make_shapes_voc``, ``voc.py``), what ``VOCSegmentation(ROOT, year="2012")`` reads::

      ROOT/VOCdevkit/VOC2012/JPEGImages/shapes_000000.jpg ...
      ROOT/VOCdevkit/VOC2012/SegmentationClass/shapes_000000.png ...   (mode 'P', VOC colour map)
      ROOT/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val,trainval}.txt

  Mask index 0 is background, ``1..N`` the classes in ``classes`` order, 255 (void) a thin band straddling each
  object's outline as in real VOC. Overlapping objects: the later one is drawn on top.
* Pascal VOC detection (``make_shapes_voc_detection``, ``voc_detection.py``), what
  ``VOCDetection(ROOT, year="2007")`` reads; 2007 and 2012 can share one ``VOCdevkit`` ("07+12")::

      ROOT/VOCdevkit/VOC2007/Annotations/000001.xml ...   (VOC XML, 1-based inclusive boxes, <difficult>)
      ROOT/VOCdevkit/VOC2007/JPEGImages/000001.jpg ...
      ROOT/VOCdevkit/VOC2007/ImageSets/Main/{train,val,trainval}.txt and <class>_{train,val,trainval}.txt

* ultralytics YOLO (``make_shapes_yolo``, ``yolo.py``), what ``data.format=yolo`` and ultralytics read::

      ROOT/data.yaml                          (names, train: images/train, val: images/val)
      ROOT/images/{train,val}/000001.jpg ...  (every 4th a .png)
      ROOT/labels/{train,val}/000001.txt ...  (one "class cx cy w h" line per shape, normalised)

All four draw their images with ``scenes.py`` (the same shapes, placement and rendering). Generation is
deterministic for a seed (each image has its own random stream keyed by seed, layout, split and index) and uses PIL
and numpy only. Command line (``cli.py``)::

    python -m ghost_backbones.data.synthetic coco --output data/shapes_coco --num-train 200 --num-val 50
    python -m ghost_backbones.data.synthetic voc --output data/shapes_voc --image-size 192,320
    python -m ghost_backbones.data.synthetic voc-det --output data/shapes_vocdet --year 2007
    python -m ghost_backbones.data.synthetic voc-det --output data/shapes_vocdet --year 2012
    python -m ghost_backbones.data.synthetic yolo --output data/shapes_yolo
"""

from .cli import main
from .coco import make_shapes_coco
from .scenes import AVAILABLE_SHAPES, SHAPE_CATEGORY_IDS, SHAPE_CLASSES
from .voc import make_shapes_voc
from .voc_detection import make_shapes_voc_detection
from .yolo import make_shapes_yolo

__all__ = [
    "AVAILABLE_SHAPES",
    "SHAPE_CATEGORY_IDS",
    "SHAPE_CLASSES",
    "main",
    "make_shapes_coco",
    "make_shapes_voc",
    "make_shapes_voc_detection",
    "make_shapes_yolo",
]
