"""Training machinery shared by every task: typed config, distributed setup, checkpoints, logging, the loop.

A task (detection, segmentation) subclasses `Task` with its model, data, loss and metric, and its ``train.py``
is a thin CLI over `build_parser`, `parse_config` and `fit`.

Examples::

    >>> from ghost_backbones.engine import build_parser, parse_config, fit, run_cli
    >>> def main(argv=None):
    ...     cfg = parse_config(MyConfig, build_parser("Train my task", MyConfig), argv)
    ...     return fit(MyTask(cfg))
    >>> raise SystemExit(run_cli(main))  # doctest: +SKIP
"""

from ..errors import ConfigError, DataError, NonFiniteLossError
from . import distributed
from .backbone import backbone_mean_std, create_backbone, pretrained_mean_std
from .checkpoint import (
    load_checkpoint,
    load_model_weights,
    load_trained_model,
    read_trained_checkpoint,
    save_checkpoint,
)
from .cli import COMMON_FLAGS, build_parser, parse_config, run_cli
from .config import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    convert_section,
    load_config,
    switch_variant,
    valid_keys,
    variant_section,
)
from .describe import describe_run
from .distributed import resolve_device
from .jsonl import JsonlLogger, read_jsonl, write_json
from .loop import fit
from .loop_parts import ShardSampler, autocast, get_metric, progress
from .registry import CONFIGS, Entry, ModelRegistry, Registry
from .schedule import lr_lambda
from .sections import BackboneConfig, CheckedSection, NormName, TrainConfig, check_choices
from .task import PREVIEW_IMAGES, Task

__all__ = [
    "BackboneConfig",
    "CheckedSection",
    "COMMON_FLAGS",
    "CONFIGS",
    "Entry",
    "ModelRegistry",
    "NormName",
    "Registry",
    "backbone_mean_std",
    "check_choices",
    "create_backbone",
    "describe_run",
    "load_model_weights",
    "load_trained_model",
    "pretrained_mean_std",
    "read_trained_checkpoint",
    "ConfigError",
    "DataError",
    "JsonlLogger",
    "NonFiniteLossError",
    "ShardSampler",
    "PREVIEW_IMAGES",
    "Task",
    "TrainConfig",
    "apply_overrides",
    "autocast",
    "build_parser",
    "config_from_dict",
    "config_to_dict",
    "convert_section",
    "distributed",
    "fit",
    "get_metric",
    "load_checkpoint",
    "load_config",
    "lr_lambda",
    "parse_config",
    "progress",
    "read_jsonl",
    "resolve_device",
    "run_cli",
    "save_checkpoint",
    "switch_variant",
    "valid_keys",
    "variant_section",
    "write_json",
]
