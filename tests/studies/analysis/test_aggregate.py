"""Aggregates over tasks (studies.analysis._aggregate): IQM, P(X > Y) and profiles on known numbers,
matching across studies and splitting by dataset, chance normalisation, and one-line refusals."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from scipy import stats

from searchspace.errors import AnalysisError
from studies.analysis._aggregate import aggregate_scores, aggregate_studies
from studies.analysis._aggregate_report import format_aggregate
from tests.studies.analysis._synthetic import grid_study

MODELS = ("m1", "m2", "m3")
COUNTS = {"a": [30, 10], "b": [5, 15], "c": [10, 10, 20]}  # test images per class: majority 0.75, 0.75, 0.5


def _accuracy_study(means, *, name="acc", repeats=3, noise=0.02, models=MODELS, rng_seed=0, dataset=True,
                    confusion=True, seeds=None):
    """A study of accuracies (val_accuracy stored, as layerlab's objective does) over dataset x model, or
    model alone when ``dataset`` is a fixed name; each trial stores its task's test confusion matrix."""
    rng = np.random.default_rng(rng_seed)
    study = optuna.create_study(study_name=name, direction="maximize")
    datasets = list(means) if dataset is True else [dataset]
    for d in datasets:
        for m in models:
            for r in range(repeats):
                params = {"dataset": d, "model": m} if dataset is True else {"model": m}
                dist = {k: CategoricalDistribution(list(means) if k == "dataset" else list(models)) for k in params}
                acc = float(np.clip(means[d][m] + rng.normal(0, noise), 0, 1))
                attrs = {"seed": (seeds or {}).get(m, 100) + r, "repeat": r, "val_accuracy": acc, "test_accuracy": acc}
                if confusion:
                    attrs["confusion"] = [[c] + [0] * (len(COUNTS[d]) - 1) for c in COUNTS[d]]
                study.add_trial(optuna.trial.create_trial(params=params, distributions=dist, value=acc,
                                                          user_attrs=attrs))
    return study


MEANS = {"a": {"m1": 0.80, "m2": 0.82, "m3": 0.90}, "b": {"m1": 0.85, "m2": 0.86, "m3": 0.95},
         "c": {"m1": 0.60, "m2": 0.63, "m3": 0.70}}


def test_iqm_is_scipys_trimmed_mean_of_every_run_pooled():
    rng = np.random.default_rng(0)
    tasks = [{"x": rng.normal(mu, 0.05, 4), "y": rng.normal(mu + 0.1, 0.05, 4)} for mu in (0.2, 0.5, 0.9)]
    result = aggregate_scores(tasks, n_bootstrap=200)
    got = result["iqm"].set_index("config")
    for c in ("x", "y"):
        pooled = np.concatenate([t[c] for t in tasks])
        assert got.loc[c, "iqm"] == pytest.approx(stats.trim_mean(pooled, 0.25))
        assert got.loc[c, "iqm_ci_low"] < got.loc[c, "iqm"] < got.loc[c, "iqm_ci_high"]
        assert got.loc[c, "mean"] == pytest.approx(np.mean([t[c].mean() for t in tasks]))
    assert list(result["iqm"]["config"]) == ["y", "x"] and result["reference"] == "y"  # the best IQM by default


def test_probability_of_improvement_pairs_by_seed_and_counts_ties_half():
    tasks = [{"x": [1.0, 2.0, 3.0], "y": [0.0, 3.0, 3.0]},  # seed by seed: win, loss, tie -> 0.5
             {"x": [5.0, 5.0, 5.0], "y": [4.0, 4.0, 6.0]}]  # win, win, loss -> 2/3
    row = aggregate_scores(tasks, reference="y", n_bootstrap=200)["improvement"].iloc[0]
    assert row["p_improvement"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert row["tasks_paired"] == 2 and row["reading"] == "undecided"


def test_unpaired_probability_of_improvement_is_rliables_mann_whitney():
    rng = np.random.default_rng(1)
    tasks = [{"x": rng.normal(0.1, 1, 4), "y": rng.normal(0, 1, 5)} for _ in range(3)]  # unequal runs: unpaired
    row = aggregate_scores(tasks, reference="y", n_bootstrap=200)["improvement"].iloc[0]
    expected = np.mean([stats.mannwhitneyu(t["x"], t["y"], alternative="greater").statistic / 20 for t in tasks])
    assert row["p_improvement"] == pytest.approx(expected) and row["tasks_paired"] == 0


def test_winning_every_seed_is_not_a_certainty():
    tasks = [{"x": [0.9, 0.91, 0.92], "y": [0.5, 0.51, 0.52]} for _ in range(4)]  # 12 wins of 12
    row = aggregate_scores(tasks, reference="y", n_bootstrap=200)["improvement"].iloc[0]
    assert row["p_improvement"] == 1.0 and row["p_improvement_ci_high"] == 1.0
    assert 0.6 < row["p_improvement_ci_low"] < 0.9  # Wilson's bound for 12 of 12, not the bootstrap's point
    assert row["reading"] == "better than the reference"


def test_profile_is_the_fraction_of_runs_above_each_threshold():
    tasks = [{"x": [0.1, 0.4, 0.7]}, {"x": [0.2, 0.5, 0.9]}]
    result = aggregate_scores(tasks, thresholds=[0.0, 0.3, 0.6, 0.9], n_bootstrap=200)
    curve = result["profiles"]["by_config"]["x"]
    assert curve["fraction"] == pytest.approx([1.0, 4 / 6, 2 / 6, 0.0])
    assert all(lo <= f <= hi for lo, f, hi in zip(curve["low"], curve["fraction"], curve["high"]))
    assert result["improvement"].empty and result["reference"] is None  # one config: nothing to compare


def test_a_single_run_per_task_gets_estimates_without_intervals():
    result = aggregate_scores([{"x": [0.5], "y": [0.6]}, {"x": [0.7], "y": [0.6]}], n_bootstrap=50)
    assert result["iqm"]["iqm_ci_low"].isna().all() and "single run" in result["notes"][0]


def test_study_split_by_dataset_chance_normalised():
    result = aggregate_studies([_accuracy_study(MEANS)], n_bootstrap=300)
    assert result["over"] == "dataset" and result["normalization"] == "chance" and result["matched_on"] == ["model"]
    assert [t["chance"] for t in result["tasks"]] == [0.75, 0.75, 0.5]
    assert [t["task"] for t in result["tasks"]] == ["a", "b", "c"] and all(t["paired"] for t in result["tasks"])
    study = _accuracy_study(MEANS)
    runs = {m: np.concatenate([
        (np.array([t.value for t in study.trials if t.params == {"dataset": d, "model": m}]) - c) / (1 - c)
        for d, c in (("a", 0.75), ("b", 0.75), ("c", 0.5))]) for m in MODELS}
    iqm = result["iqm"].set_index("config")["iqm"]
    assert iqm["model=m3"] == pytest.approx(stats.trim_mean(runs["m3"], 0.25))
    assert result["iqm"]["config"].iloc[0] == "model=m3"
    raw = aggregate_studies([study], normalize="none", n_bootstrap=300)
    assert raw["normalization"] == "none" and raw["iqm"]["iqm"].max() < 1
    # a per-task rescaling leaves P(X > Y) as it is
    assert raw["improvement"]["p_improvement"].tolist() == result["improvement"]["p_improvement"].tolist()


def test_several_studies_are_the_tasks_and_a_given_baseline_is_the_reference():
    studies = [_accuracy_study(MEANS, name=f"one-{d}", dataset=d, rng_seed=i) for i, d in enumerate(MEANS)]
    result = aggregate_studies(studies, baseline="model=m1", n_bootstrap=300)
    assert [t["task"] for t in result["tasks"]] == ["one-a", "one-b", "one-c"] and result["over"] is None
    assert result["reference"] == "model=m1" and result["reference_source"] == "--baseline"
    improvement = result["improvement"].set_index("config")
    assert set(improvement.index) == {"model=m2", "model=m3"}
    assert improvement.loc["model=m3", "reading"] == "better than the reference"  # +0.08 at noise 0.02
    text = format_aggregate(result)
    assert text.startswith("aggregate over 3 studies: 3 shared configs (matched on model)")
    assert "P(X > model=m1) (--baseline;" in text and "better than the reference" in text


def test_the_presets_baseline_is_the_default_reference_without_its_dataset():
    from dataclasses import replace
    from types import SimpleNamespace

    from studies.analysis._collect import collect

    table = replace(collect(_accuracy_study(MEANS)), spec=SimpleNamespace(baseline={"model": "m1", "dataset": "a"}))
    result = aggregate_studies([table], n_bootstrap=100)
    assert result["reference"] == "model=m1" and result["reference_source"] == "study spec"


def test_minimised_objectives_compare_lower_as_better():
    study = grid_study({"dataset": ("a", "b", "c"), "model": ("m1", "m2")},
                       lambda p: 1.0 if p["model"] == "m1" else 2.0, direction="minimize", noise=0.01)
    result = aggregate_studies([study], baseline="model=m2", n_bootstrap=200)
    row = result["improvement"].iloc[0]
    assert row["config"] == "model=m1" and row["p_improvement"] == 1.0 and result["higher_is_better"] is False
    iqm = result["iqm"].set_index("config")
    assert iqm.loc["model=m1", "iqm"] == pytest.approx(1.0, abs=0.02)
    assert iqm.loc["model=m1", "iqm_ci_low"] < iqm.loc["model=m1", "iqm"] < iqm.loc["model=m1", "iqm_ci_high"]
    assert result["normalization"] == "none"


def test_configs_missing_from_a_task_are_left_out_with_a_note_and_different_seeds_are_unpaired():
    means = {d: dict(v, m4=0.5) for d, v in MEANS.items()}
    study = _accuracy_study(means, models=(*MODELS, "m4"), seeds={"m4": 500})
    trimmed = optuna.create_study(direction="maximize", study_name="trimmed")
    trimmed.add_trials([t for t in study.trials if not (t.params["model"] == "m4" and t.params["dataset"] == "c")])
    result = aggregate_studies([trimmed], n_bootstrap=200)
    assert result["configs"] == ["model=m1", "model=m2", "model=m3"]
    assert any("1 config(s) not in every task are left out" in n for n in result["notes"])
    with_m4 = aggregate_studies([study], n_bootstrap=200)
    assert not any(t["paired"] for t in with_m4["tasks"])  # m4 ran other seeds: no task lines up by seed

OTHER = {d: {"m4": 0.5, "m5": 0.6} for d in MEANS}

BAD = [
    (lambda: [_accuracy_study(MEANS, dataset="a")], {},
     "an aggregate needs at least 2 tasks, and study 'acc' is one task (it does not search 'dataset')"),
    (lambda: [_accuracy_study({"a": MEANS["a"]})], {},
     "an aggregate needs at least 2 tasks, got 1 ('a': the only value"),
    (lambda: [_accuracy_study(MEANS)], {"over": "depth"}, "study 'acc' does not search 'depth'"),
    (lambda: [_accuracy_study(MEANS, name="x", dataset="a"),
              _accuracy_study(OTHER, name="y", dataset="b", models=("m4", "m5"))],
     {}, "no config is in every task (2 tasks: x, y); configs are matched on model"),
    (lambda: [_accuracy_study(MEANS, name="x", dataset="a"),
              grid_study({"depth": (1, 2)}, lambda p: 0.5, name="y")], {},
     "studies 'x', 'y' share no searched parameter"),
    (lambda: [_accuracy_study(MEANS, name="x", dataset="a")] * 2, {}, "study 'x' is given more than once"),
    (lambda: [_accuracy_study(MEANS)], {"baseline": "model=m9"},
     "baseline model=m9 matches no shared config; shared configs"),
    (lambda: [_accuracy_study(MEANS)], {"baseline": "depth=3"}, "baseline key(s) depth are not parameters"),
    (lambda: [_accuracy_study(MEANS, confusion=False)], {"normalize": "chance"},
     "normalize=chance needs each task's class"),
    (lambda: [_accuracy_study(MEANS)], {"normalize": "minmax"},
     "unknown normalize 'minmax'; valid: auto, chance, none"),
    (lambda: [_accuracy_study(MEANS)], {"metric": "loss"}, "unknown metric 'loss'"),
]


@pytest.mark.parametrize("make, kwargs, message", BAD)
def test_bad_input_is_one_line(make, kwargs, message):
    with pytest.raises(AnalysisError) as info:
        aggregate_studies(make(), n_bootstrap=50, **kwargs)
    assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)


def test_two_configs_with_the_same_shared_parameters_point_to_over():
    x = _accuracy_study(MEANS, name="x", dataset="a")
    with pytest.raises(AnalysisError, match=r"task 'acc' has two configs with the same shared parameters .*"
                                            r"\(--over dataset\)"):
        aggregate_studies([_accuracy_study(MEANS), x], n_bootstrap=50)


def test_report_of_a_study_that_varies_dataset_has_the_aggregate_sections():
    from studies.analysis._report import build_report
    from studies.analysis._text import format_summary

    report = build_report(_accuracy_study(MEANS), n_bootstrap=0, datasets="none", evaluators=("anova",))
    titles = [s.title for s in report.sections]
    assert "Aggregate over tasks: IQM" in titles and "Aggregate over tasks: probability of improvement" in titles
    assert "Aggregate over tasks: performance profile" in titles
    data = report.data["aggregate_by_dataset"]
    assert data["available"] and data["reference"] == "model=m3" and len(data["tasks"]) == 3
    assert '"aggregate_by_dataset"' in report.to_json()
    summary = format_summary(report)
    assert "aggregate over 3 datasets, IQM of the validation objective, chance-normalised" in summary
    assert "  P(X > model=m3): " in summary
    plain = build_report(grid_study({"model": MODELS}, lambda p: 0.5), n_bootstrap=0, datasets="none",
                         evaluators=("anova",))
    assert "aggregate_by_dataset" not in plain.data
