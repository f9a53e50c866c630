"""Pruning by config (studies.engine._prune): all repeats of a config are pruned or kept together, and a
pruned config is listed in the leaderboard and the report, never silently absent."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from searchspace import Categorical, Space
from studies import StudySpec, format_leaderboard, launch, leaderboard
from searchspace._pin import build_space
from studies.engine._prune import PRUNED_ATTR, ConfigPruner, pruned_configs
from studies.engine._worker import make_pruner

TINY = {"family": "seq", "dataset": "digits", "layers": "Conv-BN-PL-FCL-AL", "channels": 4, "fc_units": 16,
        "epochs": 3, "batch_size": 64, "early_stopping": False}


def _study(inner: optuna.pruners.BasePruner) -> optuna.Study:
    return optuna.create_study(direction="maximize", pruner=ConfigPruner(inner))


def _start(study: optuna.Study, config: str) -> optuna.trial.Trial:
    """A repeat of ``config`` (a WAITING trial with fixed params, as the worker's grid cells are)."""
    study.enqueue_trial({"x": config})
    trial = study.ask()
    trial.suggest_categorical("x", ["good", "mid", "bad", *(f"c{i}" for i in range(8))])
    return trial


def _run(study: optuna.Study, config: str, curve: list[float]) -> optuna.trial.FrozenTrial:
    trial = _start(study, config)
    for step, value in enumerate(curve, start=1):
        trial.report(value, step)
        if trial.should_prune():
            return study.tell(trial, state=TrialState.PRUNED)
    return study.tell(trial, curve[-1])


def test_repeats_running_together_are_judged_on_their_mean_and_pruned_together():
    study = _study(optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    for _ in range(2):
        _run(study, "good", [0.8, 0.9])
    a, b = _start(study, "bad"), _start(study, "bad")  # two repeats in one batch
    a.report(0.75, 1)
    assert not a.should_prune()  # its sibling has not reached epoch 1: the decision waits for it
    b.report(0.65, 1)
    assert b.should_prune()  # mean 0.70 < the median config's 0.8: the config is pruned
    assert a.should_prune()  # ... and so is every other repeat of it, whatever its own value
    late = _start(study, "bad")  # a repeat that starts later stops at its first report
    late.report(0.99, 1)
    assert late.should_prune()
    for t in (a, b, late):
        assert study._storage.get_trial(t._trial_id).user_attrs[PRUNED_ATTR] == 1
        study.tell(t, state=TrialState.PRUNED)
    assert [(p["params"], p["n_pruned"], p["pruned_at_epoch"]) for p in pruned_configs(study)] == [({"x": "bad"}, 3, 1)]


def test_a_config_above_the_median_on_its_mean_is_kept_although_one_repeat_is_below():
    study = _study(optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    _run(study, "good", [0.8, 0.9])
    a, b = _start(study, "mid"), _start(study, "mid")
    a.report(0.7, 1)  # alone below the median: a per-trial pruner would stop this repeat
    b.report(0.95, 1)
    assert not a.should_prune() and not b.should_prune()


def test_a_config_with_a_completed_repeat_is_never_pruned():
    study = _study(optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    _run(study, "good", [0.8, 0.9])
    assert _run(study, "mid", [0.85, 0.95]).state == TrialState.COMPLETE
    assert _run(study, "mid", [0.1, 0.1]).state == TrialState.COMPLETE  # its config survived already
    assert _run(study, "bad", [0.1, 0.1]).state == TrialState.PRUNED


def test_successive_halving_keeps_its_rungs_per_config_across_the_repeats():
    study = _study(optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2))
    _run(study, "good", [0.8, 0.9, 0.9])  # the first completed config sets the rungs' scale
    _run(study, "good", [0.8, 0.9, 0.9])
    mid = _run(study, "mid", [0.85, 0.95, 0.95])  # best at every rung: promoted
    assert mid.state == TrialState.COMPLETE
    assert "config_pruner:completed_rung_0" in mid.system_attrs
    assert _run(study, "bad", [0.2, 0.2, 0.2]).state == TrialState.PRUNED
    assert _run(study, "bad", [0.99, 0.99, 0.99]).state == TrialState.PRUNED  # its config is out


def test_hyperband_gives_every_config_one_fate():
    study = _study(optuna.pruners.HyperbandPruner(min_resource=1, max_resource=4, reduction_factor=2))
    for i in range(8):
        level = (i * 5 % 8) / 10  # configs of mixed quality, in no order
        for repeat in range(2):
            _run(study, f"c{i}", [0.5 + level + 0.01 * repeat + 0.01 * s for s in range(4)])
    fates = {}
    for t in study.trials:
        fates.setdefault(t.params["x"], set()).add(t.state)
    assert all(len(states) == 1 for states in fates.values()), fates
    assert {TrialState.PRUNED} in fates.values() and {TrialState.COMPLETE} in fates.values()


def test_make_pruner_wraps_optunas_pruners():
    space = build_space(TINY, Space([Categorical("lr", choices=[0.01])]))
    expected = {"median": optuna.pruners.MedianPruner, "halving": optuna.pruners.SuccessiveHalvingPruner,
                "hyperband": optuna.pruners.HyperbandPruner}
    for name, cls in expected.items():
        pruner = make_pruner(StudySpec(space=space, pruner=name, sampler="grid"))
        assert isinstance(pruner, ConfigPruner) and isinstance(pruner.pruner, cls)
    with pytest.raises(TypeError, match="BasePruner"):
        ConfigPruner("median")


@pytest.mark.slow
def test_a_study_prunes_whole_configs_and_the_leaderboard_and_report_list_them(sqlite_url):
    from studies.analysis._report import build_report

    space = build_space(TINY, Space([Categorical("lr", choices=[0.01, 1e-7])]))  # 1e-7: stays at chance
    spec = StudySpec(space=space, name="p", sampler="grid", repeats=3, pruner="median")
    study = launch(spec, storage=sqlite_url, study_name="p", progress=False, device="cpu")
    states = {lr: {t.state for t in study.trials if t.params["lr"] == lr} for lr in (0.01, 1e-7)}
    assert states == {0.01: {TrialState.COMPLETE}, 1e-7: {TrialState.PRUNED}}, [
        (t.params, t.state.name, t.intermediate_values) for t in study.trials]
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert len({t.user_attrs[PRUNED_ATTR] for t in pruned}) == 1  # one decision for the config
    assert sum(len(t.intermediate_values) for t in pruned) < 2 * 3  # stopped early: epochs saved
    later = sorted(pruned, key=lambda t: t.number)[1:]  # started after the decision: never trained
    assert all(not t.intermediate_values and t.user_attrs["pruned_at_epoch"] == 0 for t in later)
    assert len({t.user_attrs["config_id"] for t in pruned}) == 1
    board = leaderboard(study)
    assert list(board["label"]) == ["lr=0.01", "lr=1e-07"]
    assert board["pruned_at_epoch"].isna().tolist() == [True, False]
    text = format_leaderboard(board)
    assert f"pruned at epoch {pruned[0].user_attrs[PRUNED_ATTR]}" in text.splitlines()[-1]
    report = build_report(study, n_bootstrap=0, evaluators=(), datasets="none")
    assert report.data["pruned_configs"][0]["label"] == "lr=1e-07"
    assert any("lr=1e-07 pruned at epoch" in p for s in report.sections for p in s.paragraphs)


# -- evidence from the repeats (make_pruner's ConfigPruner(alpha=..., keep=..., warmup_steps=...)) --


def _evidence(keep: int = 1, warmup_steps: int = 0, startup: int = 1) -> optuna.Study:
    return optuna.create_study(direction="maximize", pruner=ConfigPruner(
        optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=0), warmup_steps=warmup_steps,
        alpha=0.01, keep=keep))


def _repeats(study: optuna.Study, config: str, level: float, noise=(0.0, 0.01, -0.01)) -> None:
    for e in noise:  # three repeats, two epochs each, seed noise of about 0.01
        _run(study, config, [level - 0.1 + e, level + e])


def test_a_config_within_seed_noise_of_the_best_is_never_pruned():
    study = _evidence()
    _repeats(study, "good", 0.9)
    _repeats(study, "c1", 0.6)  # the median is now between 0.6 and 0.9
    # below the median and below the best by about one noise SD: a median pruner alone stops it
    assert _run(study, "mid", [0.79, 0.89]).state == TrialState.COMPLETE
    assert _run(study, "bad", [0.3, 0.3]).state == TrialState.PRUNED  # 30 SDs below the best: shown worse


def test_one_repeat_per_config_is_no_evidence_and_prunes_nothing():
    study = _evidence()
    for config, level in [("good", 0.9), ("c1", 0.8), ("c2", 0.7), ("bad", 0.1)]:
        assert _run(study, config, [level, level]).state == TrialState.COMPLETE  # no seed noise measured yet


def test_keep_protects_the_leaderboards_top_configs():
    study = _evidence(keep=3, startup=3)
    _repeats(study, "good", 0.9)
    _repeats(study, "c1", 0.7)
    _repeats(study, "c2", 0.5)
    # clearly worse than the best, but above the third best: it may end in the top 3, so it runs
    assert _run(study, "mid", [0.45, 0.55]).state == TrialState.COMPLETE
    assert _run(study, "bad", [0.2, 0.2]).state == TrialState.PRUNED  # worse than each of the top 3


def test_no_config_is_pruned_in_its_warm_up_epochs():
    study = _evidence(warmup_steps=1)
    _repeats(study, "good", 0.9)
    bad = _start(study, "bad")
    bad.report(0.1, 1)
    assert not bad.should_prune()  # epoch 1: warming up
    bad.report(0.1, 2)
    assert bad.should_prune()


def test_make_pruner_warms_up_in_proportion_to_the_study():
    space = build_space({**TINY, "epochs": 12}, Space([Categorical("lr", choices=[10.0 ** -i for i in range(40)])]))
    pruner = make_pruner(StudySpec(space=space, pruner="median", sampler="grid"))
    inner = pruner.pruner
    assert (pruner._warmup_steps, pruner._alpha, pruner._keep) == (3, 0.01, 3)  # a quarter of 12 epochs
    assert inner._n_startup_trials == 4 and inner._n_warmup_steps == 4  # a tenth of 40 configs
    sampled = make_pruner(StudySpec(space=space, pruner="halving", sampler="tpe", n_trials=12))
    assert sampled._warmup_steps == 3 and sampled.pruner._min_resource == 4
    with pytest.raises(ValueError, match="alpha"):
        ConfigPruner(inner, alpha=0.7)


@pytest.mark.slow
def test_a_short_explore_run_keeps_at_least_two_thirds_of_its_trials(sqlite_url):
    """The explore preset (TPE) at 12 trials x 2 repeats x 3 epochs on digits: before the pruner
    warmed up in proportion and asked the repeats, 20 of 24 such trials (6 epochs) were pruned at
    epoch 1, leaving a 2-config leaderboard. The family is pinned to BaseSeq: a sampled ResNet-34
    with 512 channels takes over 10 minutes an epoch on a shared 2-core machine."""
    from studies import Overrides, load_preset

    spec = Overrides(dataset="digits", n_trials=12, repeats=2, epochs=3, values={"family": "seq"}).apply(
        load_preset("explore"))
    assert spec.pruner == "median"
    study = launch(spec, storage=sqlite_url, study_name="explore", progress=False, device="cpu")
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert len(study.trials) >= 24
    assert len(pruned) <= len(study.trials) / 3, [(t.number, t.params.get("family"), t.intermediate_values)
                                                   for t in pruned]
