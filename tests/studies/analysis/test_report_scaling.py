"""The report's fast paths compute what the plain ones did (docs/speed.md, 'Report scaling')."""

from __future__ import annotations

import itertools

import numpy as np

from studies.analysis import _plots as _figures  # optuna_figures lives in _plots
from studies.analysis._collect import collect, matching_groups, same_value
from studies.analysis._transfer import MATRIX_DRAWS, _flips, compare_studies, rank_transfer_matrix
from tests.studies.analysis._synthetic import grid_study

DATASETS = ("d0", "d1", "d2")
MODELS = ("m0", "m1", "m2", "m3", "m4")


def _study():
    rng = np.random.default_rng(3)
    effect = {(d, m): float(rng.uniform(0.6, 0.9)) for d in DATASETS for m in MODELS}
    return grid_study({"dataset": DATASETS, "model": MODELS}, lambda p: effect[(p["dataset"], p["model"])], noise=0.02)


def test_rank_transfer_matrix_summary_matches_compare_studies():
    table = collect(_study())
    matrix = rank_transfer_matrix(table, by="dataset", n_bootstrap=0)
    assert len(matrix["pairs"]) == 3
    for pair in matrix["pairs"]:
        full = compare_studies(table, table, where_a={"dataset": pair["a"]}, where_b={"dataset": pair["b"]},
                               n_bootstrap=0, draws=MATRIX_DRAWS)
        assert pair["tau"] == full["kendall_tau"]
        assert (pair["tau_ci_low"], pair["tau_ci_high"]) == (full["kendall_ci_low"], full["kendall_ci_high"])
        assert (pair["settled"], pair["agree"]) == (full["concordance"]["settled"], full["concordance"]["agree"])
        assert pair["rho"] == full["spearman_rho"]
        assert pair["n_shared"] == full["n_shared"] == len(MODELS)
        assert pair["flips"] == len(full["flips"])
        assert pair["same_best"] == full["same_best"]


def test_flips_match_the_pairwise_loop_with_ties():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 12).astype(float), rng.integers(0, 4, 12).astype(float)  # many ties
    labels = [f"c{i}" for i in range(12)]
    expected = []
    for i, j in itertools.combinations(range(12), 2):
        da, db = a[i] - a[j], b[i] - b[j]
        if da * db < 0:
            expected.append({"config_1": labels[i], "config_2": labels[j], "a": [a[i], a[j]], "b": [b[i], b[j]],
                             "gap": abs(da) + abs(db)})
    expected.sort(key=lambda f: -f["gap"])
    got = _flips(labels, a, b)
    assert expected and got == expected


def test_matching_groups_agrees_with_same_value_per_group():
    table = collect(_study())
    for where in ({"dataset": "d1"}, {"model": "M3"}, {"dataset": "d2", "model": "m0"}, {"dataset": "nope"}):
        naive = [g for g in table.groups
                 if all(k in table.params_of(g) and same_value(table.params_of(g)[k], v) for k, v in where.items())]
        assert matching_groups(table, where) == naive
    assert len(matching_groups(table, {"model": "M3"})) == len(DATASETS)  # loose matching kept


def test_parallel_coordinates_skipped_above_the_cap_with_a_note(monkeypatch):
    study = _study()
    table = collect(study)
    figs, notes = _figures.optuna_figures(study, table)
    assert "Parallel coordinates" in [t for t, _ in figs]
    monkeypatch.setattr(_figures, "MAX_PARALLEL_TRIALS", len(table.trials) - 1)
    figs, notes = _figures.optuna_figures(study, table)
    assert "Parallel coordinates" not in [t for t, _ in figs]
    assert any(n.startswith(f"parallel coordinates: not drawn for {len(table.trials)} completed trials") for n in notes)
