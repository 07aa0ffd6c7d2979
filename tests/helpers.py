"""Helpers the test modules share (imported as ``from helpers import ...``, like ``engine_toy``)."""

from typing import Any

from ghost_backbones.engine import Registry, convert_section


def options_for(registry: Registry, arch: str, **fields: Any) -> Any:
    """``arch``'s ``model`` section from the ``fields`` it reads, the others left out: for tests parametrized over
    every architecture of a registry with one set of small settings (a single architecture's config rejects a key
    it does not read; that is tested on its own)."""
    return convert_section(fields, registry.options(arch), arch=arch)
