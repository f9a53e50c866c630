"""Optuna's own figures (``optuna.visualization``) for the report, and the readability pass every
figure, ours or Optuna's, goes through before it is drawn (:func:`readable`)."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence

import optuna
import plotly.graph_objects as go
from optuna.distributions import FloatDistribution, IntDistribution

from studies.analysis._collect import StudyTable
from studies.analysis._format import round_floats, short_label

# Optuna's parallel-coordinate plot draws one plotly trace per trial (validated, copied on write)
MAX_PARALLEL_TRIALS = 2000
TITLE_WIDTH = 60  # characters per title line: 17 px plotly titles fit an 800 px page
MAX_TICK_TEXT = 10  # characters of a parallel-coordinate tick label (its axis is ~70 px from the next at 800 px)
MAX_PARALLEL_PARAMS = 8
MAX_SLICES = 4  # subplots in the slice plot's one row: more crowd their ticks at 800 px
def readable(fig: go.Figure) -> go.Figure:
    """Every figure, ours or Optuna's, at any page width from 800 px: no fixed width (the page's
    column decides), titles that wrap instead of running off, automatic margins for long tick
    labels, legends below the plot, and subplot grids (Optuna's contour) tall enough to stay
    square-ish. Works on a copy; the figure handed in is not changed."""
    fig = go.Figure(fig)
    layout = fig.layout
    fig.update_layout(width=None, autosize=True, font=dict(size=12), hoverlabel=dict(namelength=-1))
    title = layout.title.text if layout.title and layout.title.text else None
    if title and "<br>" not in title and len(title) > TITLE_WIDTH:  # plotly never wraps a title itself
        fig.update_layout(title_text=short_label(title, width=TITLE_WIDTH, max_lines=3))
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    axes = [k for k in layout.to_plotly_json() if k.startswith("xaxis")]
    grid = int(round(math.sqrt(len(axes)))) if len(axes) > 1 else 1
    if grid > 1 and grid * grid == len(axes):  # a k x k matrix of subplots, e.g. plot_contour
        fig.update_layout(height=max(layout.height or 0, 260 * grid + 120))
        fig.update_xaxes(title_font=dict(size=11), tickfont=dict(size=10))
        fig.update_yaxes(title_font=dict(size=11), tickfont=dict(size=10))
    elif len(axes) > 1:  # a row of subplots, e.g. plot_slice over several parameters: wrap the ticks
        fig.update_xaxes(tickangle=-30, tickfont=dict(size=10))
    legend = layout.legend
    if legend.orientation == "h" and (legend.y is None or legend.y < 0):
        # below the x-axis title, not on it: anchored to the figure's bottom edge, with room kept
        fig.update_layout(legend=dict(yref="container", y=0, yanchor="bottom", x=0, xanchor="left"),
                          margin=dict(b=max(layout.margin.b or 0, 110)))
    parallel = bool(fig.layout.annotations) and bool(fig.layout.shapes) and layout.xaxis.tickmode == "array"
    for annotation in fig.layout.annotations or ():  # Optuna 5 draws axis labels as annotations
        if isinstance(annotation.text, str):
            text = round_floats(annotation.text)
            if parallel and len(text) > MAX_TICK_TEXT:  # a tick label of parallel coordinates: cut, full on hover
                annotation.hovertext, text = text, text[: MAX_TICK_TEXT - 1] + "…"
            annotation.text = text
    if len(axes) > 1:  # a log axis in a row of subplots: decades only (plotly's 2 and 5 between them crowd)
        fig.for_each_xaxis(lambda axis: axis.update(dtick=1) if axis.type == "log" else None)
    for trace in fig.data:  # parallel coordinates (Parcoords): categorical tick labels of sampled floats
        for dim in (trace.dimensions if "dimensions" in trace else ()):
            if getattr(dim, "ticktext", None) is not None:
                dim.ticktext = [round_floats(str(t)) for t in dim.ticktext]
    for trace in fig.data:  # categorical ticks with long sampled floats: round the shown text only
        for axis in ("x", "y"):
            values = getattr(trace, axis, None)
            if values is None or not len(values) or not all(isinstance(v, str) and "<br>" not in v for v in values):
                continue
            if any(len(v) > 40 or round_floats(v) != v for v in values):
                rounded = [short_label(v, width=30, max_lines=1) for v in values]
                if len(set(rounded)) == len(set(values)):
                    setattr(trace, axis, rounded)
    return fig


def numeric_params(table: StudyTable) -> list[str]:
    names = []
    for name in table.param_names():
        dists = {type(t.distributions[name]) for t in table.trials if name in t.distributions}
        if dists and all(issubclass(d, (FloatDistribution, IntDistribution)) for d in dists):
            names.append(name)
    return names


class _PlotView(optuna.Study):
    """``study`` as Optuna's plot functions read it: the completed trials already collected, without
    their user attributes. ``plot_optimization_history`` calls ``study.get_trials()``, a deepcopy of
    every trial with its history and confusion matrix (millions of copied objects on a study of
    thousands of trials), and each plot re-reads the storage; here they copy plain numbers."""

    def __init__(self, study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial]) -> None:
        self.__dict__.update(study.__dict__)
        self._view_trials = []
        for trial in trials:
            light = copy.copy(trial)
            light.user_attrs = {}
            self._view_trials.append(light)

    def _get_trials(self, deepcopy: bool = True, states=None, **_kwargs) -> list[optuna.trial.FrozenTrial]:
        out = [t for t in self._view_trials if states is None or t.state in states]
        # shallow copies stand for Optuna's deepcopy: the plots only read the trials, and a deepcopy of
        # every trial's distributions and intermediate values was seconds on a study of thousands
        return [copy.copy(t) for t in out] if deepcopy else out


def optuna_figures(study: optuna.Study, table: StudyTable,
                   order: Sequence[str] = ()) -> tuple[list[tuple[str, go.Figure]], list[str]]:
    """Optuna's own plotly figures that apply to this study, and notes on the ones skipped.
    ``order``: parameters, most important first; the parallel-coordinate and slice plots keep the
    first :data:`MAX_PARALLEL_PARAMS` (more axes collide at 800 px) and say which they left out."""
    from optuna import visualization as vis

    study = _PlotView(study, table.trials)  # the completed trials: what every plot below draws

    figs: list[tuple[str, go.Figure]] = []
    notes: list[str] = []

    def add(title: str, make: Callable[[], go.Figure]) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                figs.append((title, make()))
        except Exception as exc:  # a plot Optuna cannot draw for this study must not sink the report
            notes.append(f"{title}: not drawn ({type(exc).__name__}: {exc})")

    add("Optimisation history", lambda: vis.plot_optimization_history(study))
    if table.param_names() and len(table.trials) > MAX_PARALLEL_TRIALS:
        # one line per trial: over a few thousand the plot is unreadable, and it was half of a
        # 5,040-trial report's CPU (Optuna 5 builds one trace per trial)
        notes.append(f"parallel coordinates: not drawn for {len(table.trials)} completed trials (more than "
                     f"{MAX_PARALLEL_TRIALS}: one line per trial); the leaderboard and importance sections rank the "
                     "configs")
    elif table.param_names():
        names = _ordered(table.param_names(), order)
        kept = names[:MAX_PARALLEL_PARAMS]
        if len(names) > len(kept):
            notes.append(f"parallel coordinates: drawn for the {len(kept)} most important parameters only (more axes "
                         f"collide); left out: {', '.join(names[len(kept):])}")
        add("Parallel coordinates", lambda: vis.plot_parallel_coordinate(study, params=kept))
    else:
        notes.append("parallel coordinates: the study has no parameters")
    numeric = _ordered(numeric_params(table), order)
    if len(numeric) > MAX_SLICES:
        notes.append(f"slice plot: drawn for the {MAX_SLICES} most important numeric parameters only; left out: "
                     f"{', '.join(numeric[MAX_SLICES:])}")
    if numeric:
        add("Slice plot (numeric parameters)", lambda: vis.plot_slice(study, params=numeric[:MAX_SLICES]))
    else:
        notes.append("slice plot: no numeric (int/float) parameter")
    if len(numeric) >= 2:
        add("Contour plot (numeric parameters)", lambda: vis.plot_contour(study, params=numeric[:4]))
    else:
        notes.append("contour plot: needs 2 or more numeric parameters")
    return figs, notes


def _ordered(names: Sequence[str], order: Sequence[str]) -> list[str]:
    """``names`` with those in ``order`` first, in its order; the rest as they were."""
    rank = {n: i for i, n in enumerate(order)}
    return sorted(names, key=lambda n: rank.get(n, len(rank)))
