"""What a preset asks of the report for its paper, as plain data (the preset's ``report`` key).

The report code is generic; a paper's own tables and the words that go with them live in the
preset that reproduces the paper, so adding a paper needs no edit of ``studies/analysis``. The
mapping is stored with the study's spec (:class:`studies.StudySpec` ``report``), so a report built
from the storage alone reads the same text. One layout exists today::

    report:
      best_per_dataset:            # per dataset, the best config of each group (seed 000, Table 3)
        title: "..."               # the section's title
        group_key: family          # the config key whose value puts a config in a group
        label_param: model         # the searched dimension that names a config in the table
        groups: {"Base0/BaseSeq": [fcl, seq], BaseRes18: [resnet]}
        paragraphs: ["...", "..."] # the section's text; {groups} is replaced by the groups

Unknown keys and wrong types are refused with the key and what is valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from searchspace.errors import ConfigError, valid_list


@dataclass(frozen=True)
class BestPerDataset:
    """A "best model per dataset" table: per value of the ``dataset`` dimension, the best config
    (mean validation objective) within each group of ``group_key`` values, test beside it."""

    title: str
    groups: Mapping[str, tuple[str, ...]]
    group_key: str = "family"
    label_param: str = "model"
    paragraphs: tuple[str, ...] = ()

    def text(self) -> list[str]:
        """The paragraphs, ``{groups}`` written out as ``name: families a, b; ...``."""
        groups = "; ".join(f"{name}: families {', '.join(values)}" for name, values in self.groups.items())
        return [p.replace("{groups}", groups) for p in self.paragraphs]


LAYOUTS: dict[str, type] = {"best_per_dataset": BestPerDataset}
_FIELDS: dict[str, tuple[type, ...]] = {
    "title": (str,), "groups": (dict,), "group_key": (str,), "label_param": (str,), "paragraphs": (list, tuple),
}


def parse_report(report: Mapping[str, Any] | None) -> dict[str, BestPerDataset]:
    """The layouts of a preset's ``report`` mapping; raises ConfigError naming a bad key or value."""
    if report is None:
        return {}
    if not isinstance(report, Mapping):
        raise ConfigError(f"report must be a mapping of {valid_list(LAYOUTS)} to their settings, got {report!r}")
    out = {}
    for name, settings in report.items():
        if name not in LAYOUTS:
            raise ConfigError(f"unknown report layout {name!r}; valid: {valid_list(LAYOUTS)}")
        if not isinstance(settings, Mapping):
            raise ConfigError(f"report.{name} must be a mapping of {valid_list(_FIELDS)}, got {settings!r}")
        unknown = sorted(set(settings) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"report.{name}: unknown key(s) {valid_list(unknown)}; valid: {valid_list(_FIELDS)}")
        for key in ("title", "groups"):
            if key not in settings:
                raise ConfigError(f"report.{name}: missing required key {key!r}")
        for key, value in settings.items():
            if not isinstance(value, _FIELDS[key]):
                raise ConfigError(f"report.{name}.{key} must be {' or '.join(t.__name__ for t in _FIELDS[key])}, "
                                  f"got {type(value).__name__} {value!r}")
        groups = settings["groups"]
        if not groups or not all(isinstance(v, (list, tuple)) and v and all(isinstance(x, str) for x in v)
                                 for v in groups.values()):
            raise ConfigError(f"report.{name}.groups must map each group name to a list of "
                              f"{settings.get('group_key', 'family')} values, got {groups!r}")
        out[name] = LAYOUTS[name](**{**settings, "groups": {str(k): tuple(v) for k, v in groups.items()},
                                     "paragraphs": tuple(str(p) for p in settings.get("paragraphs", ()))})
    return out
