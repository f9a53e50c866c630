"""Plotly figures for the report: ours for what Optuna does not draw (CIs, ablation deltas, learning
curves over repeats, confusion, rank transfer), Optuna's ``optuna.visualization`` for the rest.

Plotly express draws the figures that are one frame in one chart (importance bars, the rank
agreement matrix); graph objects draw those it cannot say in one call (per-point verdict colours,
bands and hidden legend entries of the learning curves, the confusion dropdown)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from studies.analysis._collect import StudyTable
from studies.analysis._format import round_floats, short_label, unique_short_labels
from studies.analysis._leaderboard import Ablation

MAX_BARS = 30  # configs drawn in the leaderboard figure
MAX_CURVES = 10  # configs drawn (visible) in the learning-curve figure; the others start hidden
MAX_CURVE_CONFIGS = 300  # configs in the learning-curve figure at all (keeps the page a few MB)
MAX_CONFUSION_CELLS = 100_000  # matrix cells in the confusion dropdown (1000 configs of 10 classes, 10 of 100)
MAX_CONFUSION_CONFIGS = 200  # configs in the dropdown: each is a plotly trace, validated and copied on write
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
VERDICT_COLORS = {"better": "#2ca02c", "worse": "#d62728", "no detectable difference": "#7f7f7f"}


def _nan_to_none(values: Any) -> list[Any]:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]


def _errors(mid: pd.Series, low: pd.Series, high: pd.Series) -> dict[str, Any]:
    # an explicit colour: error bars otherwise inherit the marker's, and plotly.js warns in the
    # console when that is a per-point array (the ablation's verdict colours)
    return dict(type="data", symmetric=False, array=_nan_to_none(high - mid), arrayminus=_nan_to_none(mid - low),
                color="#555")


def _axis_labels(labels: Sequence[Any], ids: dict[str, str] | None, width: int = 36) -> list[str]:
    """One line per row (a wrapped tick label collides with its neighbours at 28 px a row): the
    short ID when IDs are in use, else the label rounded and cut to ``width``."""
    if ids:
        return [ids.get(str(label), str(label)) for label in labels]
    return unique_short_labels([short_label(label, width=width, max_lines=1) for label in labels], width=width + 2)


def _rows_height(n: int, base: int = 120, per_row: int = 28, least: int = 320) -> int:
    return max(least, per_row * n + base)


def leaderboard_figure(board: pd.DataFrame, ids: dict[str, str] | None = None) -> go.Figure:
    top = board.head(MAX_BARS).iloc[::-1]
    if ids:
        ys = _axis_labels(top["label"], ids)
    else:
        ys = [f"#{r} {s}" for r, s in zip(top["rank"], _axis_labels(top["label"], None))]
    hover = "%{customdata}<br>%{x:.4f}<extra>%{fullData.name}</extra>"
    custom = [round_floats(str(label)) for label in top["label"]]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=top["val_mean"], y=ys, mode="markers", name="validation (selection)", customdata=custom,
        hovertemplate=hover,
        error_x=_errors(top["val_mean"], top["val_ci_low"], top["val_ci_high"]), marker=dict(size=9),
    ))
    if top["test_mean"].notna().any():
        fig.add_trace(go.Scatter(
            x=top["test_mean"], y=ys, mode="markers", name="test (reported)", customdata=custom,
            hovertemplate=hover,
            error_x=_errors(top["test_mean"], top["test_ci_low"], top["test_ci_high"]),
            marker=dict(symbol="diamond", size=8),
        ))
    fig.update_layout(title="Mean over seed repeats with 95% CI", xaxis_title="score", height=_rows_height(len(top)),
                      margin=dict(l=20, r=20), legend=dict(orientation="h"))
    fig.update_yaxes(automargin=True, type="category")
    return fig


def ablation_figure(ablation: Ablation, ids: dict[str, str] | None = None) -> go.Figure | None:
    rows = ablation.rows
    if rows.empty:
        return None
    rows = rows.iloc[::-1]
    colors = [VERDICT_COLORS.get(v, "#1f77b4") for v in rows["verdict"]]
    fig = go.Figure(go.Scatter(
        x=rows["delta"], y=_axis_labels(rows["variant"], ids), mode="markers", marker=dict(size=10, color=colors),
        error_x=_errors(rows["delta"], rows["delta_ci_low"], rows["delta_ci_high"]),
        text=rows["verdict"], customdata=[round_floats(str(v)) for v in rows["variant"]],
        hovertemplate="%{customdata}<br>delta %{x:.4f}<br>%{text}<extra></extra>", showlegend=False,
    ))
    fig.add_vline(x=0, line_dash="dash", line_color="black")
    labels = ablation.baseline_labels
    base = (ids.get(labels[0]) if ids and len(labels) == 1 and labels[0] in ids
            else short_label(", ".join(f"{k}={v}" for k, v in ablation.baseline.items()), width=40, max_lines=1))
    fig.update_layout(title=f"Variant minus baseline ({base}), simultaneous 95% CI",
                      xaxis_title="delta of the objective", height=_rows_height(len(rows), least=300),
                      margin=dict(l=20, r=20))
    fig.update_yaxes(automargin=True, type="category")
    return fig


def choices_figure(choices: dict[str, Any]) -> go.Figure | None:
    """Each choice's effect with its simultaneous interval, coloured by verdict: a forest plot."""
    if not choices.get("available") or choices["rows"].empty:
        return None
    rows = choices["rows"].iloc[::-1]
    colors = ["#7f7f7f" if v == "no detectable effect" else ("#2ca02c" if v.startswith("better") and k == "level" else
              "#d62728" if v == "worse" else "#1f77b4") for v, k in zip(rows["verdict"], rows["kind"])]
    names = [f"{p}={c.split(' vs ')[0]}" if k == "level" else f"{p} {k}"
             for p, c, k in zip(rows["parameter"], rows["contrast"], rows["kind"])]
    fig = go.Figure(go.Scatter(
        x=rows["effect"], y=_axis_labels(names, None, width=32), mode="markers", marker=dict(size=10, color=colors),
        error_x=_errors(rows["effect"], rows["effect_ci_low"], rows["effect_ci_high"]), text=rows["verdict"],
        customdata=[f"{p}: {round_floats(c)}" for p, c in zip(rows["parameter"], rows["contrast"])],
        hovertemplate="%{customdata}<br>effect %{x:.4f}<br>%{text}<extra></extra>", showlegend=False,
    ))
    fig.add_vline(x=0, line_dash="dash", line_color="black")
    fig.update_layout(title="Effect of each choice, simultaneous 95% CI (levels against the reference)",
                      xaxis_title="change of the objective", height=_rows_height(len(rows), least=260),
                      margin=dict(l=20, r=20))
    fig.update_yaxes(automargin=True, type="category")
    return fig


def importance_figure(answer: dict[str, Any]) -> go.Figure | None:
    """The importance answer's shares with their CIs, for the parameters its noise verdict lets
    stand (a bar for a parameter the verdict calls noise would read as a finding)."""
    shown = [e for e in answer.get("params", []) if e["shown"] and e["value"] is not None]
    if not shown:
        return None
    frame = pd.DataFrame([{"parameter": e["parameter"], "value": e["value"], "ci_low": e["ci_low"],
                           "ci_high": e["ci_high"]} for e in shown])
    frame[["value", "ci_low", "ci_high"]] = frame[["value", "ci_low", "ci_high"]].astype(float)  # None -> NaN
    share = "partial omega-squared" if answer["evaluator"] == "anova" else "importance"
    fig = px.bar(frame, x="parameter", y="value", labels={"value": share}, error_y=frame["ci_high"] - frame["value"],
                 error_y_minus=frame["value"] - frame["ci_low"], title=f"Parameters above noise: {share} with 95% CI")
    fig.update_layout(xaxis_title=None, height=360)
    return fig


def _curves(trial: optuna.trial.FrozenTrial, metric: str = "val_accuracy") -> dict[int, float]:
    history = trial.user_attrs.get("history")
    if isinstance(history, list) and history and isinstance(history[0], dict) and history[0].get(metric) is not None:
        return {int(h.get("epoch", i + 1)): float(h[metric]) for i, h in enumerate(history)
                if h.get(metric) is not None}
    if metric != "val_accuracy":  # Optuna's intermediate values are the validation accuracy
        return {}
    return {int(k): float(v) for k, v in trial.intermediate_values.items()}


def learning_curves_figure(table: StudyTable, board: pd.DataFrame, highlight: Sequence[str] = (),
                           metric: str = "val_accuracy",
                           ids: dict[str, str] | None = None) -> tuple[go.Figure | None, dict[str, list[str]]]:
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
        shown_as = ids[label] if ids and label in ids else f"#{i + 1} {short_label(label, width=48, max_lines=1)}"
        name = f"{shown_as} (n={len(runs)})" + (" [baseline]" if group in highlight else "")
        if len(runs) > 1:
            fig.add_trace(go.Scatter(x=epochs + epochs[::-1], y=_round(list(mean + sd) + list((mean - sd)[::-1])),
                                     fill="toself", fillcolor=color, opacity=0.15, line=dict(width=0), hoverinfo="skip",
                                     showlegend=False, legendgroup=group, visible=visible))
        fig.add_trace(go.Scatter(x=epochs, y=_round(mean), mode="lines+markers", name=name, line=dict(color=color),
                                 legendgroup=group, visible=visible, meta=[label],
                                 hovertemplate="%{meta[0]}<br>epoch %{x}: %{y:.4f}<extra></extra>"))
    if not shown["visible"] and not shown["hidden"]:
        return None, shown
    hidden = len(shown["hidden"])
    what = ("Validation accuracy" if metric == "val_accuracy"
            else "Test accuracy (eval_test_every_epoch; never used for selection)")
    title = f"{what} per epoch: mean over repeats, band = ±1 SD"
    if hidden:
        title += (f"<br><sup>best {MAX_CURVES} configs and the baseline shown; "
                  f"click a legend entry to show any of the other {hidden}</sup>")
    many = len(shown["visible"]) + hidden > MAX_CURVES
    fig.update_layout(title=title, xaxis_title="epoch",
                      yaxis_title="validation accuracy" if metric == "val_accuracy" else "test accuracy",
                      legend=dict(orientation="v") if many else dict(orientation="h", y=-0.25),
                      height=560 if many else 450)
    return fig, shown


def _round(values: Any, digits: int = 5) -> list[float]:
    """Fewer digits in the page: an 82-config report stays a few MB."""
    return [round(float(v), digits) for v in values]


def _confusion_share(table: StudyTable, group: str) -> tuple[np.ndarray, np.ndarray, int] | None:
    rows = np.flatnonzero(table.frame["group"].to_numpy() == group)
    mats = [np.asarray(table.trials[r].user_attrs["confusion"]) for r in rows
            if table.trials[r].user_attrs.get("confusion")]
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
                      hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
                      colorbar=dict(title="row share"))


def confusion_figure(table: StudyTable, group: str, role: str = "best config",
                     ids: dict[str, str] | None = None) -> go.Figure | None:
    """Test-set confusion matrix of one config, summed over its repeats (rows: true class)."""
    found = _confusion_share(table, group)
    if found is None:
        return None
    total, share, runs = found
    fig = go.Figure(_heatmap(total, share))
    label = table.label_of(group)
    which = ids[label] if ids and label in ids else short_label(label, width=40, max_lines=1)
    fig.update_layout(title=f"Test confusion of the {role} ({which}), summed over {runs} run(s)",
                      xaxis_title="predicted class", yaxis_title="true class", yaxis_autorange="reversed",
                      height=max(400, min(900, 40 * total.shape[0] + 150)))
    return fig


def confusion_browser_figure(table: StudyTable, groups: Sequence[str],
                             ids: dict[str, str] | None = None) -> tuple[go.Figure | None, dict[str, list[str]]]:
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
        label = table.label_of(group)
        names.append(f"{ids[label] if ids and label in ids else round_floats(label)} ({runs} run(s))")
    if len(shown["included"]) < 2:
        return None, shown
    fig = go.Figure(data=traces)  # one validation of all traces, not one per add_trace
    n = len(shown["included"])
    # The title sits at the top of the figure and the dropdown on its own row below it, just above
    # the plot area: plotly does not lay them out against each other, so each gets a fixed band of
    # the top margin (title: top 50 px, dropdown: the next 45 px).
    buttons = [dict(label=short_label(label, width=40, max_lines=1), method="update",
                    args=[{"visible": [j == i for j in range(n)]}, {"title.text": _confusion_title(label)}])
               for i, label in enumerate(names)]
    size = max(len(t.z) for t in fig.data)
    fig.update_layout(title=dict(text=_confusion_title(names[0]), y=1.0, yref="container", yanchor="top",
                                 pad=dict(t=12)),
                      updatemenus=[dict(buttons=buttons, x=0, xanchor="left", y=1.0, yanchor="bottom",
                                        pad=dict(b=8), direction="down", showactive=True)],
                      xaxis_title="predicted class", yaxis_title="true class", yaxis_autorange="reversed",
                      height=max(480, min(900, 40 * size + 230)), margin=dict(t=110))
    return fig, shown


def _confusion_title(label: str) -> str:
    return "Test confusion: " + short_label(label, width=50, max_lines=1)


def transfer_figure(result: dict[str, Any]) -> go.Figure:
    configs = pd.DataFrame(result["configs"])
    fig = go.Figure(go.Scatter(
        x=configs["mean_a"], y=configs["mean_b"], mode="markers+text", textposition="top center",
        text=[short_label(c, width=24, max_lines=1) for c in configs["config"]], customdata=list(configs["config"]),
        hovertemplate="%{customdata}<br>A %{x:.4f}, B %{y:.4f}<extra></extra>",
        error_x=_errors(configs["mean_a"], configs["ci_low_a"], configs["ci_high_a"]),
        error_y=_errors(configs["mean_b"], configs["ci_low_b"], configs["ci_high_b"]), marker=dict(size=9),
        showlegend=False,
    ))
    tau = result["kendall_tau"]
    ci = ("" if result["kendall_ci_low"] is None
          else f" (95% CI {result['kendall_ci_low']:.2f} to {result['kendall_ci_high']:.2f})")
    fig.update_layout(
        title=f"Rank transfer {result['study_a']} -> {result['study_b']}: "
              f"Kendall tau {tau if tau is None else f'{tau:.2f}'}{ci}",
        xaxis_title=f"{result['study_a']}: mean {result['metric']}",
        yaxis_title=f"{result['study_b']}: mean {result['metric']}",
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
    fig = px.imshow(z, x=values, y=values, zmin=-1, zmax=1, color_continuous_scale="RdBu", text_auto=".2f",
                    aspect="auto", labels={"color": "Kendall tau"},
                    title=f"Rank agreement of configs between {matrix['by']} values")
    fig.update_layout(height=max(400, 45 * len(values) + 200))  # imshow's y axis runs top-down, as a matrix reads
    return fig


# split out to _plots.py; the old names stay importable from here
from studies.analysis._plots import numeric_params, optuna_figures, readable  # noqa: E402,F401
