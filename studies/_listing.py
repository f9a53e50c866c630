"""What a preset is before it runs, as ``space grid`` and ``presets show`` print it: the grid's
first cells with their configs, the cost, and the preset file itself.

These were the command line's own code; they are API functions so that ``cli.py`` only parses and
prints, and a notebook gets the same listing (``describe_grid(spec).text()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from searchspace import grid_points
from searchspace.errors import SpaceError
from studies._estimate import Estimate, estimate_cost, per_trial_lines
from studies._presets import load_preset, preset_path
from studies._spec import StudySpec
from studies._terminal import fit_lines


def repeats_text(spec: StudySpec) -> str:
    """``3 repeats``, or under a variance design ``15 repeats (3 per source: init, order, ...)``."""
    if not spec.vary:
        return f"{spec.repeats} repeats"
    return f"{spec.repeats} repeats ({spec.seed_design().per_source} per source: {', '.join(spec.vary)})"


@dataclass(frozen=True)
class GridListing:
    """A spec's grid (its first ``limit`` cells in grid order) and its cost; ``size`` is None for a
    sampled space with continuous dimensions, which has no grid to list."""

    spec: StudySpec
    size: int | None
    points: list[Any]  # searchspace GridPoints
    estimate: Estimate

    def to_dict(self) -> dict[str, Any]:
        """What ``space grid --json`` prints: each listed cell's params, full config and config id."""
        from objectives import RunConfig
        from objectives.interface import objective_config_parts

        parts = objective_config_parts(self.spec.objective)
        runs = [(p, RunConfig.from_flat(p.config, parts=parts)) for p in self.points]
        return {
            "preset": self.spec.name,
            "sampler": self.spec.sampler,
            "n_trials": self.spec.n_trials,
            "grid_size": self.size,
            "repeats": self.spec.repeats,
            "estimate": self.estimate.to_dict(),
            "configs": [{"params": p.params, "config": run.to_flat(), "config_id": run.config_id} for p, run in runs],
        }

    def text(self, *, preset: str | None = None) -> str:
        """What ``space grid`` prints: the trial count, the cost, then one line per listed cell.
        ``preset``: the name the user gave (a sampled space's hint names it)."""
        spec, size = self.spec, self.size
        if spec.sampler == "grid":
            lines = [f"preset {spec.name!r}: {size} configs x {repeats_text(spec)} = {size * spec.repeats} trials"]
        else:
            lines = [f"preset {spec.name!r}: {spec.sampler}, {spec.n_trials} sampled configs x "
                     f"{repeats_text(spec)} = {spec.total_cells()} trials"]
        lines.extend(self.estimate.lines())
        if spec.sampler != "grid":
            lines.extend(per_trial_lines(self.estimate))
        if size is None:
            lines.append("no grid to list: the space has continuous dimensions "
                         f"(`presets show {preset or spec.name}` shows them)")
        elif spec.sampler != "grid":
            lines.append(f"the grid the sampler draws from: {size} configs")
        for i, point in enumerate(self.points):
            shown = ", ".join(f"{k}={v}" for k, v in point.params.items()) or "(fixed)"
            lines.append(fit_lines([f"{i + 1:>4}  {shown}"]))
        return "\n".join(lines)


def describe_grid(spec: StudySpec, *, limit: int | None = None) -> GridListing:
    """The grid of ``spec`` (its first ``limit`` cells) and what running it costs. Every config is
    resolved first (an unknown key or a bad value raises); no data is loaded."""
    try:
        size = spec.grid_size()
    except SpaceError:
        if spec.sampler == "grid":
            raise
        size = None  # continuous dimensions: a sampled study with no grid to list, priced per trial
    spec.validate()
    points = [] if size is None else grid_points(spec.space)[:limit]
    return GridListing(spec=spec, size=size, points=points, estimate=estimate_cost(spec))


def show_preset(name: str) -> str:
    """A preset's YAML file as written (its comments cite the paper), checked first, with the size
    of its grid under it: what ``presets show`` prints."""
    spec = load_preset(name)  # reads and checks the file; a bad preset raises here
    text = preset_path(name).read_text().rstrip()
    if spec.sampler == "grid":
        text += f"\n# grid: {spec.grid_size()} configs x {spec.repeats} repeats = {spec.total_cells()} trials"
    return text
