"""YAML for presets and ``--set`` values: ``yaml.safe_load``, plus two fixes PyYAML lacks.

- PyYAML implements YAML 1.1, where ``1e-4`` (no dot) is a *string*; YAML 1.2, JSON and every
  researcher write learning rates that way. After ``yaml.safe_load`` (the only YAML loader
  layerlab uses), strings that are plain scientific-notation numbers are turned into floats.
- PyYAML keeps the last of two equal keys in a mapping without a word; in a preset that silently
  drops a setting. The document is first composed (parsed into nodes, nothing constructed) with
  the safe loader and a repeated key is an error naming its line.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_SCIENTIFIC = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def numbers(value: Any) -> Any:
    """``value`` with scientific-notation strings (``'1e-4'``) replaced by floats, recursively."""
    if isinstance(value, str) and _SCIENTIFIC.match(value.strip()):
        return float(value)
    if isinstance(value, list):
        return [numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: numbers(v) for k, v in value.items()}
    return value


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: str, mark: yaml.Mark) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.problem = f"duplicate key {key!r}"
        self.problem_mark = mark


def _check_duplicates(node: yaml.Node | None) -> None:
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise DuplicateKeyError(key.value, key.start_mark)
                seen.add(key.value)
            _check_duplicates(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicates(item)


def safe_load(text: str) -> Any:
    _check_duplicates(yaml.compose(text, Loader=yaml.SafeLoader))
    return numbers(yaml.safe_load(text))
