"""Racing seed repeats: the decision logic, the storage-backed race (SQLite, journal), the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from studies import load_preset
from studies.engine._race import DONE, PENDING, RaceError, RaceSettings, block_variance, compare_paired, replay
from studies.engine._race_storage import race_spec
from tests.studies._race_util import (
    RACE_PRESET,
    SETTINGS,
    race_study,
)
from tests.studies._util import ROOT, load, worker_env, write_preset


def _cells(values):
    return {(c, r): (DONE, float(v)) for c, row in enumerate(values) for r, v in enumerate(row)}


# -- the logic ----------------------------------------------------------------------------------


def test_compare_paired_equals_scipy_ttest_rel_and_tost():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=6), rng.normal(size=6)
    cmp = compare_paired(a, b, margin=0.4)
    assert cmp.p == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
    tost = max(stats.ttest_1samp(a - b, -0.4, alternative="greater").pvalue,
               stats.ttest_1samp(a - b, 0.4, alternative="less").pvalue)
    assert cmp.p_equivalent == pytest.approx(tost, rel=1e-9)


def test_zero_variance_difference_is_never_significant():
    # every seed one step apart: the exact sign-flip test, p = 2 / 2**3, never the t-test's 0
    assert compare_paired([0.5, 0.6, 0.7], [0.49, 0.59, 0.69]).p == pytest.approx(0.25)
    assert compare_paired([0.5, 0.6, 0.7], [0.5, 0.6, 0.7]).p == 1.0


def test_the_race_uses_the_reports_paired_test():
    from studies.analysis._paired import compare_paired as report_test

    rng = np.random.default_rng(5)
    cases = [(rng.normal(size=n), rng.normal(size=n)) for n in (2, 3, 5, 10)]
    cases.append(([0.5, 0.6, 0.7, 0.8], [0.49, 0.59, 0.69, 0.79]))  # no spread
    for a, b in cases:
        assert compare_paired(a, b).p == pytest.approx(report_test(a, b).p_value, rel=1e-9, abs=1e-12)


def test_a_clearly_worse_config_stops_at_the_first_look_and_nulls_run_to_max():
    rng = np.random.default_rng(0)
    values = [rng.normal(0, 1, 10), rng.normal(-100, 1, 10), rng.normal(0, 1, 10)]
    state = replay([0, 1, 2], _cells(values), RaceSettings(futility=0), baseline=0)
    assert state.finished
    assert state.decisions[1].verdict == "worse" and state.decisions[1].round == 0
    assert state.repeats == {0: 10, 1: 3, 2: 10}
    assert state.decisions[2].verdict == "no difference"
    assert state.trials == 23 and state.trials_fixed == 30


def test_futility_stops_a_config_with_no_trend_and_then_the_baseline():
    rng = np.random.default_rng(4)
    shared = rng.normal(0, 1, 10)
    values = [shared + rng.normal(0, 0.1, 10), shared + rng.normal(0, 0.1, 10)]
    values[1][:3] = values[0][:3] + np.array([0.05, -0.05, 0.001])  # no trend at all
    state = replay([0, 1], _cells(values), RaceSettings(), baseline=0)
    assert state.decisions[1].verdict == "no difference" and "futile" in state.decisions[1].reason
    # predictive power with no trend falls below 0.02 before the last look (at 7 of 10 seeds here),
    # and the baseline stops with its last open config
    assert state.repeats[0] == state.repeats[1] < 10 and state.finished


def test_replay_stops_at_the_first_unfinished_round_and_lists_missing_cells():
    cells = _cells([[0, 0, 0], [1, 1, 1]])
    cells[(1, 2)] = (PENDING, None)
    state = replay([0, 1], cells, RaceSettings(), baseline=0)
    assert not state.finished and state.round == 0 and state.to_queue == []
    cells = {k: v for k, v in _cells([[0.1, 0.3, 0.2], [0.2, 0.1, 0.3]]).items()}
    state = replay([0, 1], cells, RaceSettings(futility=0), baseline=0)
    assert state.round == 1 and state.to_queue == [(0, 3), (1, 3)] and state.open == [1]


def test_selection_eliminates_the_clearly_worse_and_names_a_winner():
    rng = np.random.default_rng(1)
    values = [rng.normal(m, 0.1, 10) for m in (0, -20, -20, -1)]
    state = replay(range(4), _cells(values), RaceSettings(mode="selection"))
    assert state.decisions[1].verdict == state.decisions[2].verdict == "eliminated"
    assert state.decisions[0].verdict == "winner"


def test_block_variance_is_the_two_way_anova_residual_mean_square():
    import pandas as pd
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(6)
    values = rng.normal(size=(5, 3)) + rng.normal(size=3)[None, :]
    mse, df = block_variance(_cells(values), range(5), 3)
    frame = pd.DataFrame([(c, r, v) for c, row in enumerate(values) for r, v in enumerate(row)], columns=["c", "r", "y"])
    fit = smf.ols("y ~ C(c) + C(r)", data=frame).fit()
    assert df == fit.df_resid == 8 and mse == pytest.approx(fit.mse_resid, rel=1e-9)
    cells = _cells(values)
    cells[(2, 1)] = (DONE, None)  # a failed trial: its seed leaves the block
    assert block_variance(cells, range(5), 3)[1] == 4


def test_selection_eliminates_far_configs_at_the_first_look_with_the_block_variance():
    # ten configs 5 noise SDs apart: a paired t-test on 3 seeds (2 df) cannot eliminate any of them at the
    # first look's level; the block's 18 df eliminate all but the best two
    rng = np.random.default_rng(7)
    values = [rng.normal(-5.0 * c, 1.0, 10) for c in range(10)]
    state = replay(range(10), _cells(values), RaceSettings(mode="selection"))
    first = [c for c, d in state.decisions.items() if d.verdict == "eliminated" and d.round == 0]
    assert len(first) >= 7 and 0 not in first
    assert all("block-design t" in state.decisions[c].reason for c in first)
    assert state.decisions[0].verdict == "winner"


def test_a_config_noisier_than_the_block_gets_the_paired_test():
    # fifteen quiet configs and one far below but noisy (its differences spread 20 apart): its pairs' own
    # standard error exceeds the pooled one, so at the first look it gets the paired t-test on 2 degrees
    # of freedom (t ~ 8.7, p ~ 0.007: not enough), never the block's 30 degrees of freedom
    rng = np.random.default_rng(8)
    shared = rng.normal(0, 1, 10)
    values = [shared + rng.normal(0.0, 1.0, 10) for _ in range(15)]
    values.append(shared + np.array([-100.0, -120.0, -80.0, -90.0, -110.0, -100.0, -130.0, -70.0, -100.0, -100.0]))
    state = replay(range(16), _cells(values), RaceSettings(mode="selection"))
    noisy = state.decisions[15]
    assert noisy.verdict == "eliminated" and noisy.round > 0 and "paired t" in noisy.reason


def test_equivalence_margin_stops_a_null_config_early():
    rng = np.random.default_rng(2)
    shared = rng.normal(0, 1, 10)
    values = [shared + rng.normal(0, 0.01, 10), shared + rng.normal(0, 0.01, 10)]
    state = replay([0, 1], _cells(values), RaceSettings(margin=0.5), baseline=0)
    assert state.decisions[1].verdict == "equivalent" and state.repeats[1] < 10


def test_spending_adds_up_to_alpha():
    s = RaceSettings(min_repeats=3, max_repeats=10, alpha=0.05)
    assert sum(s.level(n) for n in s.looks) == pytest.approx(0.05)
    assert all(s.level(n) > 0 for n in s.looks)


@pytest.mark.parametrize("kwargs, match", [
    ({"min_repeats": 5, "max_repeats": 4}, "must not exceed"),
    ({"alpha": 1.0}, "strictly between 0 and 1"),
    ({"alpha": 0.0}, "strictly between 0 and 1"),
    ({"min_repeats": 1}, ">= 2"),
    ({"mode": "best"}, "unknown --race-mode"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(RaceError, match=match):
        RaceSettings(**kwargs)


def test_a_sampled_study_cannot_race(tmp_path):
    spec = load_preset(str(write_preset(tmp_path, RACE_PRESET, "race"))).replace(sampler="tpe", n_trials=4)
    with pytest.raises(RaceError, match="needs a grid study"):
        race_spec(spec, SETTINGS)


# -- storage-backed race ------------------------------------------------------------------------


# The race on each storage (workers, a round finished together, stop and resume) runs in
# tests/studies/test_exactly_once.py over every storage.


@pytest.mark.slow
def test_changing_a_race_on_relaunch_is_refused(sqlite_url, tmp_path):
    race_study(sqlite_url, "race", tmp_path)
    with pytest.raises(RaceError, match="refusing to change"):
        race_study(sqlite_url, "race", tmp_path, settings=RaceSettings(min_repeats=3, max_repeats=6, futility=0, alpha=0.01))


# -- the command line ---------------------------------------------------------------------------


def _cli(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=cwd, env=worker_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("flags, message", [
    (["--race", "--min-repeats", "6", "--max-repeats", "4"], "--min-repeats (6) must not exceed --max-repeats (4)"),
    (["--repeats", "auto", "--alpha", "1.5"], "--alpha 1.5 is out of range"),
    (["--race", "--sampler", "random", "--n-trials", "3"], "--race needs a grid study"),
    (["--min-repeats", "4"], "only applies to a race"),
])
def test_bad_race_input_is_one_line_exit_2_and_writes_nothing(flags, message, tmp_path):
    preset = write_preset(tmp_path, RACE_PRESET, "race")
    db = tmp_path / "x.db"
    out = _cli("study", "launch", "--preset", str(preset), "--storage", f"sqlite:///{db}", *flags, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not db.exists()


@pytest.mark.slow
def test_cli_race_launch_and_status(tmp_path):
    preset = write_preset(tmp_path, RACE_PRESET, "race")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    out = _cli("study", "launch", "--preset", str(preset), "--storage", url, "--repeats", "auto",
               "--max-repeats", "5", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "raced over 3..5 seeds" in out.stdout
    status = _cli("study", "status", "--storage", url, "--study-name", "race-synth", cwd=tmp_path)
    assert "race (ablation, alpha 0.05, 3..5 seeds): finished" in status.stdout, status.stdout
    # a finished race is 100% done: its cells count against what it planned, not configs x max
    assert "100.0% of them done" in status.stdout and "/20 done" not in status.stdout, status.stdout
    data = json.loads(_cli("study", "status", "--storage", url, "--study-name", "race-synth", "--json", cwd=tmp_path).stdout)
    assert data["race"]["trials_spent"] < data["race"]["trials_at_max_repeats"] == 20
    assert data["finished"]
    assert len(load(url, "race-synth").trials) == data["race"]["trials_spent"]


@pytest.mark.slow
def test_the_report_shows_the_race(sqlite_url, tmp_path):
    from studies import run_worker
    from studies.analysis._race import race_summary

    race_study(sqlite_url, "race", tmp_path)
    run_worker(sqlite_url, "race", device="cpu", wait=False)
    summary = race_summary(load(sqlite_url, "race"))
    rows = {r["config"]: r for r in summary["configs"]}
    assert rows["arm=much-worse"]["repeats"] == 3 and rows["arm=much-worse"]["decided_round"] == 0
    assert rows["arm=much-worse"]["verdict"] == "worse" and "pooled-noise t" in rows["arm=much-worse"]["why"]
    assert rows["arm=base"]["verdict"] == "baseline"
    assert summary["trials"] == sum(r["repeats"] for r in rows.values()) < summary["trials_at_max_repeats"] == 24
    assert 0 < summary["saved_fraction"] < 1
