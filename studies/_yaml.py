"""YAML for presets and ``--set`` values: ``yaml.safe_load``, plus two fixes PyYAML lacks.

- PyYAML implements YAML 1.1, where ``1e-4`` (no dot) is a *string*; YAML 1.2, JSON and every
  researcher write learning rates that way. After ``yaml.safe_load`` (the only YAML loader
  layerlab uses), strings that are plain scientific-notation numbers are turned into floats.
- PyYAML keeps the last of two equal keys in a mapping without a word; in a preset that silently
  drops a setting. The document is first composed (parsed into nodes, nothing constructed) with
  the safe loader and a repeated key is an error naming its line.

An alias "bomb" (``b: &b [*a, *a, ...]`` nested a few times) composes to a few nodes but expands
to billions of values once constructed and serialised. The composed document's expanded size
(aliases counted each time they are used) is capped at ``MAX_NODES`` before anything is built.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_NODES = 100_000  # scalars, sequences and mappings after expanding aliases; presets have a few hundred
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


class DocumentTooLargeError(yaml.YAMLError):
    def __init__(self, size: int, mark: yaml.Mark | None) -> None:
        self.problem = (f"the document expands to more than {MAX_NODES:,} values once its aliases are expanded; "
                        "refusing it (an alias bomb?)")
        super().__init__(self.problem)
        self.problem_mark = mark


def _expanded_size(node: yaml.Node | None, memo: dict[int, int]) -> int:
    """Nodes in the document with every alias expanded; an alias reuses its anchor's node object,
    so memoising by identity keeps this linear in the composed size."""
    if node is None:
        return 0
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a recursive alias counts once while it is being measured
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, memo) for item in node.value)
    else:
        size = 1
    memo[id(node)] = size = min(size, MAX_NODES + 1)  # saturate: no need for the exact astronomic count
    return size


def _check_duplicates(node: yaml.Node | None, visited: set[int] | None = None) -> None:
    visited = set() if visited is None else visited
    if node is None or id(node) in visited:  # an alias's node is checked once
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise DuplicateKeyError(key.value, key.start_mark)
                seen.add(key.value)
            _check_duplicates(value, visited)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicates(item, visited)


def safe_load(text: str) -> Any:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    size = _expanded_size(node, {})
    if size > MAX_NODES:
        raise DocumentTooLargeError(size, node.start_mark if node is not None else None)
    _check_duplicates(node)
    return numbers(yaml.safe_load(text))
