"""Plotly figures for the report: ours for what Optuna does not draw (CIs, ablation deltas, learning
curves over repeats, confusion, rank transfer), Optuna's ``optuna.visualization`` for the rest.

Plotly express draws the figures that are one frame in one chart (importance bars, the rank
agreement matrix); graph objects draw those it cannot say in one call (per-point verdict colours,
bands and hidden legend entries of the learning curves, the confusion dropdown)."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from optuna.distributions import FloatDistribution, IntDistribution

from studies.analysis._collect import StudyTable
from studies.analysis._format import round_floats, short_label, unique_short_labels
from studies.analysis._leaderboard import Ablation

MAX_BARS = 30  # configs drawn in the leaderboard figure
MAX_CURVES = 10  # configs drawn (visible) in the learning-curve figure; the others start hidden
MAX_CURVE_CONFIGS = 300  # configs in the learning-curve figure at all (keeps the page a few MB)
MAX_CONFUSION_CELLS = 100_000  # matrix cells in the confusion dropdown (1000 configs of 10 classes, 10 of 100)
MAX_PARALLEL_TRIALS = 2000  # Optuna's parallel-coordinate plot draws one plotly trace per trial (validated, copied on write)
MAX_CONFUSION_CONFIGS = 200  # configs in the dropdown: each is a plotly trace, validated and copied on write
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
VERDICT_COLORS = {"better": "#2ca02c", "worse": "#d62728", "no detectable difference": "#7f7f7f"}


def _nan_to_none(values: Any) -> list[Any]:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]


def _errors(mid: pd.Series, low: pd.Series, high: pd.Series) -> dict[str, Any]:
    # an explicit colour: error bars otherwise inherit the marker's, and plotly.js warns in the
    # console when that is a per-point array (the ablation's verdict colours)
    return dict(type="data", symmetric=False, array=_nan_to_none(high - mid), arrayminus=_nan_to_none(mid - low), color="#555")


def leaderboard_figure(board: pd.DataFrame) -> go.Figure:
    top = board.head(MAX_BARS).iloc[::-1]
    ys = [f"#{r} {s}" for r, s in zip(top["rank"], unique_short_labels(top["label"], width=36))]
    hover = "%{customdata}<br>%{x:.4f}<extra>%{fullData.name}</extra>"
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=top["val_mean"], y=ys, mode="markers", name="validation (selection)", customdata=list(top["label"]),
        hovertemplate=hover,
        error_x=_errors(top["val_mean"], top["val_ci_low"], top["val_ci_high"]), marker=dict(size=9),
    ))
    if top["test_mean"].notna().any():
        fig.add_trace(go.Scatter(
            x=top["test_mean"], y=ys, mode="markers", name="test (reported)", customdata=list(top["label"]),
            hovertemplate=hover,
            error_x=_errors(top["test_mean"], top["test_ci_low"], top["test_ci_high"]), marker=dict(symbol="diamond", size=8),
        ))
    fig.update_layout(title="Mean over seed repeats with 95% CI", xaxis_title="score", height=max(320, 28 * len(top) + 120),
                      margin=dict(l=20, r=20), legend=dict(orientation="h"))
    fig.update_yaxes(automargin=True)
    return fig


def ablation_figure(ablation: Ablation) -> go.Figure | None:
    rows = ablation.rows
    if rows.empty:
        return None
    rows = rows.iloc[::-1]
    colors = [VERDICT_COLORS.get(v, "#1f77b4") for v in rows["verdict"]]
    fig = go.Figure(go.Scatter(
        x=rows["delta"], y=unique_short_labels(rows["variant"], width=36), mode="markers", marker=dict(size=10, color=colors),
        error_x=_errors(rows["delta"], rows["delta_ci_low"], rows["delta_ci_high"]),
        text=rows["verdict"], customdata=list(rows["variant"]),
        hovertemplate="%{customdata}<br>delta %{x:.4f}<br>%{text}<extra></extra>", showlegend=False,
    ))
    fig.add_vline(x=0, line_dash="dash", line_color="black")
    fig.update_layout(title=round_floats(f"Variant minus baseline ({', '.join(f'{k}={v}' for k, v in ablation.baseline.items())}), 95% CI"),
                      xaxis_title="delta of the objective", height=max(300, 28 * len(rows) + 120), margin=dict(l=20, r=20))
    fig.update_yaxes(automargin=True)
    return fig


def importance_figure(importance: dict[str, Any]) -> go.Figure | None:
    by = importance.get("by_evaluator") or {}
    if not by:
        return None
    params = list(dict.fromkeys(p for res in by.values() for p in res))
    frame = pd.DataFrame([{"evaluator": name, "parameter": p, **{k: res.get(p, {}).get(k) for k in ("value", "ci_low", "ci_high")}}
                          for name, res in by.items() for p in params])
    frame[["value", "ci_low", "ci_high"]] = frame[["value", "ci_low", "ci_high"]].astype(float)  # None -> NaN: no bar
    fig = px.bar(frame, x="parameter", y="value", color="evaluator", barmode="group", labels={"value": "importance"},
                 error_y=frame["ci_high"] - frame["value"], error_y_minus=frame["value"] - frame["ci_low"],
                 title="Parameter importance with 95% CI (Optuna's evaluators normalised; ANOVA: partial omega-squared)")
    with_ci = {name: all(res.get(p, {}).get("ci_low") is not None for p in params) for name, res in by.items()}
    fig.for_each_trace(lambda trace: trace.update(error_y_visible=with_ci[trace.name]))
    fig.update_layout(xaxis_title=None, legend=dict(orientation="h", title=None))
    return fig


def _curves(trial: optuna.trial.FrozenTrial, metric: str = "val_accuracy") -> dict[int, float]:
    history = trial.user_attrs.get("history")
    if isinstance(history, list) and history and isinstance(history[0], dict) and history[0].get(metric) is not None:
        return {int(h.get("epoch", i + 1)): float(h[metric]) for i, h in enumerate(history) if h.get(metric) is not None}
    if metric != "val_accuracy":  # Optuna's intermediate values are the validation accuracy
        return {}
    return {int(k): float(v) for k, v in trial.intermediate_values.items()}


def learning_curves_figure(table: StudyTable, board: pd.DataFrame, highlight: Sequence[str] = (), metric: str = "val_accuracy") -> tuple[go.Figure | None, dict[str, list[str]]]:
    """Validation accuracy per epoch (``history`` user attribute, else Optuna's intermediate
    values), mean over repeats with a +-1 SD band, for every config (up to
    :data:`MAX_CURVE_CONFIGS`, best first). The best :data:`MAX_CURVES` and the ``highlight``
    groups (the ablation baseline) are drawn; the others start hidden, one legend click away.
    Returns the figure and which configs are ``visible``, ``hidden`` and ``left_out``."""
    fig = go.Figure()
    shown: dict[str, list[str]] = {"visible": [], "hidden": [], "left_out": [], "no_curve": []}
    groups = list(board["group"])
    first = set(groups[:MAX_CURVES]) | set(highlight)
    for i, (group, label) in enumerate(zip(groups, board["label"])):
        rows = np.flatnonzero(table.frame["group"].to_numpy() == group)
        runs = [_curves(table.trials[r], metric) for r in rows]
        runs = [r for r in runs if r]
        if not runs:
            shown["no_curve"].append(label)
            continue
        if len(shown["visible"]) + len(shown["hidden"]) >= MAX_CURVE_CONFIGS:
            shown["left_out"].append(label)
            continue
        epochs = sorted(set().union(*runs))
        per_epoch = [[r[e] for r in runs if e in r] for e in epochs]
        mean = np.array([np.mean(v) for v in per_epoch])
        sd = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in per_epoch])
        color = PALETTE[i % len(PALETTE)]
        visible: bool | str = True if group in first else "legendonly"
        shown["visible" if visible is True else "hidden"].append(label)
        name = f"#{i + 1} {short_label(label, width=48, max_lines=1)} (n={len(runs)})" + (" [baseline]" if group in highlight else "")
        if len(runs) > 1:
            fig.add_trace(go.Scatter(x=epochs + epochs[::-1], y=_round(list(mean + sd) + list((mean - sd)[::-1])), fill="toself",
                                     fillcolor=color, opacity=0.15, line=dict(width=0), hoverinfo="skip", showlegend=False,
                                     legendgroup=group, visible=visible))
        fig.add_trace(go.Scatter(x=epochs, y=_round(mean), mode="lines+markers", name=name, line=dict(color=color),
                                 legendgroup=group, visible=visible, meta=[label],
                                 hovertemplate="%{meta[0]}<br>epoch %{x}: %{y:.4f}<extra></extra>"))
    if not shown["visible"] and not shown["hidden"]:
        return None, shown
    hidden = len(shown["hidden"])
    what = "Validation accuracy" if metric == "val_accuracy" else "Test accuracy (eval_test_every_epoch; never used for selection)"
    title = f"{what} per epoch: mean over repeats, band = ±1 SD"
    if hidden:
        title += f"<br><sup>best {MAX_CURVES} configs and the baseline shown; click a legend entry to show any of the other {hidden}</sup>"
    many = len(shown["visible"]) + hidden > MAX_CURVES
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="validation accuracy" if metric == "val_accuracy" else "test accuracy",
                      legend=dict(orientation="v") if many else dict(orientation="h", y=-0.25),
                      height=560 if many else 450)
    return fig, shown


def _round(values: Any, digits: int = 5) -> list[float]:
    """Fewer digits in the page: an 82-config report stays a few MB."""
    return [round(float(v), digits) for v in values]


def _confusion_share(table: StudyTable, group: str) -> tuple[np.ndarray, np.ndarray, int] | None:
    rows = np.flatnonzero(table.frame["group"].to_numpy() == group)
    mats = [np.asarray(table.trials[r].user_attrs["confusion"]) for r in rows if table.trials[r].user_attrs.get("confusion")]
    mats = [m for m in mats if m.ndim == 2 and m.shape == mats[0].shape]
    if not mats:
        return None
    total = np.sum(mats, axis=0)
    share = total / np.maximum(total.sum(axis=1, keepdims=True), 1)
    return total, np.round(share, 4), len(mats)


def _heatmap(total: np.ndarray, share: np.ndarray, visible: bool = True) -> go.Heatmap:
    classes = [str(i) for i in range(total.shape[0])]
    return go.Heatmap(z=share, x=classes, y=classes, colorscale="Blues", zmin=0, zmax=1, visible=visible,
                      text=total, texttemplate="%{text}" if total.shape[0] <= 30 else None,
                      hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>", colorbar=dict(title="row share"))


def confusion_figure(table: StudyTable, group: str, role: str = "best config") -> go.Figure | None:
    """Test-set confusion matrix of one config, summed over its repeats (rows: true class)."""
    found = _confusion_share(table, group)
    if found is None:
        return None
    total, share, runs = found
    fig = go.Figure(_heatmap(total, share))
    fig.update_layout(title=f"Test confusion of the {role} ({short_label(table.label_of(group), width=70)}), summed over {runs} run(s)",
                      xaxis_title="predicted class", yaxis_title="true class", yaxis_autorange="reversed",
                      height=max(400, min(900, 40 * total.shape[0] + 150)))
    return fig


def confusion_browser_figure(table: StudyTable, groups: Sequence[str]) -> tuple[go.Figure | None, dict[str, list[str]]]:
    """Every config's confusion matrix in one figure with a dropdown (configs in ``groups``
    order, as many as fit :data:`MAX_CONFUSION_CELLS`). Returns the figure and which configs are
    ``included`` and ``left_out``."""
    shown: dict[str, list[str]] = {"included": [], "left_out": []}
    names: list[str] = []
    traces = []
    cells = 0
    for group in groups:
        found = _confusion_share(table, group)
        if found is None:
            continue
        total, share, runs = found
        if cells + total.size > MAX_CONFUSION_CELLS or len(traces) >= MAX_CONFUSION_CONFIGS:
            shown["left_out"].append(table.label_of(group))
            continue
        cells += total.size
        traces.append(_heatmap(total, share, visible=not shown["included"]))
        shown["included"].append(f"{table.label_of(group)} ({runs} run(s))")
        names.append(f"{round_floats(table.label_of(group))} ({runs} run(s))")
    if len(shown["included"]) < 2:
        return None, shown
    fig = go.Figure(data=traces)  # one validation of all traces, not one per add_trace
    n = len(shown["included"])
    # The title sits at the top of the figure and the dropdown on its own row below it, just above
    # the plot area: plotly does not lay them out against each other, so each gets a fixed band of
    # the top margin (title: top 50 px, dropdown: the next 45 px).
    buttons = [dict(label=short_label(label, width=60, max_lines=1), method="update",
                    args=[{"visible": [j == i for j in range(n)]}, {"title.text": _confusion_title(label)}])
               for i, label in enumerate(names)]
    size = max(len(t.z) for t in fig.data)
    fig.update_layout(title=dict(text=_confusion_title(names[0]), y=1.0, yref="container", yanchor="top", pad=dict(t=12)),
                      updatemenus=[dict(buttons=buttons, x=0, xanchor="left", y=1.0, yanchor="bottom",
                                        pad=dict(b=8), direction="down", showactive=True)],
                      xaxis_title="predicted class", yaxis_title="true class", yaxis_autorange="reversed",
                      height=max(480, min(900, 40 * size + 230)), margin=dict(t=110))
    return fig, shown


def _confusion_title(label: str) -> str:
    return "Test confusion: " + short_label(label, width=90, max_lines=1)


def transfer_figure(result: dict[str, Any]) -> go.Figure:
    configs = pd.DataFrame(result["configs"])
    fig = go.Figure(go.Scatter(
        x=configs["mean_a"], y=configs["mean_b"], mode="markers+text", textposition="top center",
        text=[short_label(c, width=24, max_lines=1) for c in configs["config"]], customdata=list(configs["config"]),
        hovertemplate="%{customdata}<br>A %{x:.4f}, B %{y:.4f}<extra></extra>",
        error_x=_errors(configs["mean_a"], configs["ci_low_a"], configs["ci_high_a"]),
        error_y=_errors(configs["mean_b"], configs["ci_low_b"], configs["ci_high_b"]), marker=dict(size=9), showlegend=False,
    ))
    tau = result["kendall_tau"]
    ci = "" if result["kendall_ci_low"] is None else f" (95% CI {result['kendall_ci_low']:.2f} to {result['kendall_ci_high']:.2f})"
    fig.update_layout(
        title=f"Rank transfer {result['study_a']} -> {result['study_b']}: Kendall tau {tau if tau is None else f'{tau:.2f}'}{ci}",
        xaxis_title=f"{result['study_a']}: mean {result['metric']}", yaxis_title=f"{result['study_b']}: mean {result['metric']}",
        height=560,
    )
    return fig


def transfer_matrix_figure(matrix: dict[str, Any]) -> go.Figure:
    values = [str(v) for v in matrix["values"]]
    index = {v: i for i, v in enumerate(values)}
    z = np.eye(len(values))
    for p in matrix["pairs"]:
        i, j = index[str(p["a"])], index[str(p["b"])]
        z[i, j] = z[j, i] = np.nan if p["tau"] is None else p["tau"]
    fig = px.imshow(z, x=values, y=values, zmin=-1, zmax=1, color_continuous_scale="RdBu", text_auto=".2f", aspect="auto",
                    labels={"color": "Kendall tau"}, title=f"Rank agreement of configs between {matrix['by']} values")
    fig.update_layout(height=max(400, 45 * len(values) + 200))  # imshow's y axis runs top-down, as a matrix reads
    return fig


def readable(fig: go.Figure) -> go.Figure:
    """Every figure, ours or Optuna's, at any page width from 800 px: no fixed width (the page's
    column decides), titles that wrap instead of running off, automatic margins for long tick
    labels, legends below the plot, and subplot grids (Optuna's contour) tall enough to stay
    square-ish. Works on a copy; the figure handed in is not changed."""
    fig = go.Figure(fig)
    layout = fig.layout
    fig.update_layout(width=None, autosize=True, font=dict(size=12), hoverlabel=dict(namelength=-1))
    title = layout.title.text if layout.title and layout.title.text else None
    if title and "<br>" not in title and len(title) > 90:  # plotly never wraps a title itself
        fig.update_layout(title_text=short_label(title, width=90, max_lines=3))
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
    for annotation in fig.layout.annotations or ():  # Optuna 5 draws axis labels as annotations
        if isinstance(annotation.text, str):
            annotation.text = round_floats(annotation.text)
    for trace in fig.data:  # parallel coordinates (Parcoords): categorical tick labels of sampled floats
        for dim in (trace.dimensions if "dimensions" in trace else ()):
            if getattr(dim, "ticktext", None) is not None:
                dim.ticktext = [round_floats(str(t)) for t in dim.ticktext]
    for trace in fig.data:  # categorical ticks with long sampled floats: round the shown text only
        for axis in ("x", "y"):
            values = getattr(trace, axis, None)
            if values is not None and len(values) and all(isinstance(v, str) and "<br>" not in v for v in values) and any(len(v) > 40 or round_floats(v) != v for v in values):
                rounded = [short_label(v, width=30, max_lines=2) for v in values]
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


def optuna_figures(study: optuna.Study, table: StudyTable) -> tuple[list[tuple[str, go.Figure]], list[str]]:
    """Optuna's own plotly figures that apply to this study, and notes on the ones skipped."""
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
                     f"{MAX_PARALLEL_TRIALS}: one line per trial); the leaderboard and importance sections rank the configs")
    elif table.param_names():
        add("Parallel coordinates", lambda: vis.plot_parallel_coordinate(study))
    else:
        notes.append("parallel coordinates: the study has no parameters")
    numeric = numeric_params(table)
    if numeric:
        add("Slice plot (numeric parameters)", lambda: vis.plot_slice(study, params=numeric))
    else:
        notes.append("slice plot: no numeric (int/float) parameter")
    if len(numeric) >= 2:
        add("Contour plot (numeric parameters)", lambda: vis.plot_contour(study, params=numeric[:4]))
    else:
        notes.append("contour plot: needs 2 or more numeric parameters")
    return figs, notes
