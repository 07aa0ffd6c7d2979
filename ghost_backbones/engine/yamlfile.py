"""YAML read as PyYAML's safe loader does, except that a key written twice in one mapping is an error.

PyYAML keeps the last of two equal keys, so a recipe with ``train:`` written twice silently loses the first section;
here it is a `DuplicateKeyError` naming the key and both lines.

Examples::

    >>> load_yaml("train:\\n  lr: 0.1\\nmodel: {}\\ntrain:\\n  epochs: 3\\n")
    Traceback (most recent call last):
      ...
    ghost_backbones.engine.yamlfile.DuplicateKeyError: key 'train' is written twice (lines 1 and 4): the second \
would replace the first; merge them
    >>> load_yaml("base: &b {lr: 0.1}\\ntrain:\\n  <<: *b\\n  lr: 0.2\\n")["train"]
    {'lr': 0.2}
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["DuplicateKeyError", "load_yaml"]

_MERGE = "tag:yaml.org,2002:merge"


class DuplicateKeyError(ValueError):
    """A mapping of a YAML text holds one key twice."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping (``<<`` merges may be overridden)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = lines.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise DuplicateKeyError(
                    f"key {key!r} is written twice (lines {first} and {line}): the second would replace the first; "
                    "merge them"
                )
            lines[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, with a key written twice in one mapping a `DuplicateKeyError` naming both lines.

    Raises:
        DuplicateKeyError: a mapping holds a key twice.
        yaml.YAMLError: not valid YAML.
    """
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
