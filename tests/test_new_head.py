"""README's worked example, run from the README itself: a new detection head is one module (its options dataclass
and its registration) plus a recipe, and the config check, training, evaluation and predict find it by name."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch

from detection.config import DetectionConfig, model_config
from detection.models import MODELS, build_model
from detection.predict import main as predict
from detection.train import main as train
from ghost_backbones.engine import ConfigError, load_config, run_cli

README = Path(__file__).resolve().parents[1] / "README.md"


def _section_blocks(heading: str) -> dict[str, str]:
    """The fenced code blocks of README's ``heading`` section, by language."""
    text = README.read_text()
    section = text[text.index(heading) :]
    section = section[: section.index("\n### ", 1)] if "\n### " in section[1:] else section
    return {lang: body for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)}


@pytest.fixture(scope="module")
def new_head(tmp_path_factory):
    """README's ``detection/models/ssd.py`` imported as a module of its own (registering ``ssd``), and its recipe."""
    blocks = _section_blocks("### Adding a detection head")
    folder = tmp_path_factory.mktemp("new_head")
    (folder / "ssd_head.py").write_text(blocks["python"])
    (folder / "ssd_ghostnet_demo.yaml").write_text(blocks["yaml"])
    spec = importlib.util.spec_from_file_location("ssd_head", folder / "ssd_head.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ssd_head"] = module
    spec.loader.exec_module(module)
    yield folder / "ssd_ghostnet_demo.yaml"
    MODELS.unregister("ssd")
    del sys.modules["ssd_head"]


def test_the_new_head_is_a_registry_entry_with_its_own_options(new_head):
    entry = MODELS.entry("ssd")
    assert (entry.counterpart, entry.recipe, entry.options.__name__) == ("ssdlite320_mobilenet_v3_large",
                                                                         "ssd_ghostnet", "SSDConfig")  # fmt: skip
    cfg = load_config(DetectionConfig, new_head)
    assert type(cfg.model).__name__ == "SSDConfig" and cfg.model.extra_channels == [128, 64]
    with pytest.raises(ConfigError, match=r"\['model.fpn_channels'\] not read by model.arch='ssd'; its keys: "):
        load_config(DetectionConfig, new_head, ["model.fpn_channels=64"])
    model = build_model(model_config("ssd", num_classes=4, min_size=128, max_size=128, backbone={"width": 0.5}))
    out = model.eval()([torch.rand(3, 128, 96)])[0]
    assert sorted(out) == ["boxes", "labels", "scores"]


def test_the_new_head_trains_evaluates_and_predicts(new_head, coco_root, tmp_path, capsys):
    out = tmp_path / "run"
    metrics = train(["--config", str(new_head), "--data-path", str(coco_root), "--output-dir", str(out),
                     "--epochs", "1", "--batch-size", "4", "--workers", "0", "--device", "cpu",
                     "--min-size", "128", "--max-size", "128", "--opts", "model.backbone.width=0.5",
                     "train.warmup_iters=2"])  # fmt: skip
    assert 0.0 <= metrics["bbox"]["AP"] <= 1.0 and (out / "best.pth").is_file()
    drawn = tmp_path / "drawn"
    predict(["--weights", str(out / "best.pth"), "--input", str(coco_root / "val2017"), "--output-dir", str(drawn)])
    assert (drawn / "detections.json").is_file()
    code = run_cli(train, ["--config", str(new_head), "--opts", "model.anchor_scales=[1.0]"])
    assert code == 2 and "['model.anchor_scales'] not read by model.arch='ssd'" in capsys.readouterr().err
