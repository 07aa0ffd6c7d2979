"""``python -m ghost_backbones.bench``: the backbone benchmark (see :mod:`ghost_backbones.bench.backbone`)."""

from ghost_backbones.engine import run_cli

from .backbone import main

raise SystemExit(run_cli(main))
