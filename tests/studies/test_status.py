"""``study status``: counts by state and progress through the cells, for grids and sampled studies,
with pruned, failed and retried cells. A fake objective keeps these tests free of training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import cli
from studies import to_json
from objectives._objective import list_objectives
from objectives import register_objective
from searchspace import Categorical, ConfigError, Float, Space
from searchspace._space import config_id, sample
from studies import StudySpec, launch, load_preset, run_worker, study_status
from searchspace._pin import build_space
from studies.engine._launch import create_or_resume
from tests.studies._util import OPTIONS, load

ROOT = Path(__file__).resolve().parents[2]

TINY = {"family": "seq", "dataset": "digits", "channels": 4, "epochs": 2}


class FakeObjective:
    """Scores a config without training: ``no-BN`` is pruned after one epoch, ``no-Conv`` fails."""

    def __init__(self, space, *, base_seed=0, **_runtime) -> None:
        self.space, self.base_seed = space, base_seed

    def __call__(self, trial: optuna.trial.Trial) -> float:
        config = sample(self.space, trial)
        repeat = int(trial.user_attrs.get("repeat", 0))
        for key, value in {"config": config, "config_id": config_id(config), "seed": self.base_seed + repeat}.items():
            trial.set_user_attr(key, value)
        layers = config.get("layers", "")
        if layers == "BN-PL-FCL-AL":
            raise ConfigError("fake failure")
        trial.report(0.1, 1)
        if layers == "Conv-PL-FCL-AL":
            raise optuna.TrialPruned()
        return 0.5 + repeat / 100 + config.get("lr", 0.0)


if "test-fake" not in list_objectives():
    register_objective("test-fake")(FakeObjective)


def test_grid_status_counts_complete_pruned_failed_and_retries(tiny_preset, sqlite_url, capsys):
    spec = load_preset(str(tiny_preset)).replace(objective="test-fake")  # 3 configs x 2 repeats
    study = create_or_resume(spec, sqlite_url, "g", options=OPTIONS)
    status = study_status(study)
    assert (status["cells_total"], status["cells_waiting"], status["cells_done"], status["progress"]) == (6, 6, 0, 0)
    assert status["configs_total"] == 3 and not status["finished"]
    run_worker(sqlite_url, "g", options=OPTIONS)
    status = study_status(load(sqlite_url, "g"))
    assert status["states"]["COMPLETE"] == status["states"]["PRUNED"] == status["states"]["FAIL"] == 2
    assert (status["cells_complete"], status["cells_pruned"], status["cells_failed"]) == (2, 2, 2)
    assert status["cells_done"] == 4 and status["progress"] == pytest.approx(4 / 6)
    assert status["cells_remaining"] == 0 and status["finished"] and status["cells_duplicated"] == 0

    # --retry-failed queues one more try of each failed cell; status sees them as waiting again
    study = create_or_resume(spec, sqlite_url, "g", options=OPTIONS, retry_failed=True)
    status = study_status(study)
    assert (status["cells_failed"], status["cells_waiting"], status["cells_remaining"]) == (0, 2, 2)
    assert status["retries"] == 2 and status["trials"] == 8 and not status["finished"]

    assert cli.main(["study", "status", "--storage", sqlite_url, "--study-name", "g", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(to_json(status))
    assert cli.main(["study", "status", "--storage", sqlite_url, "--study-name", "g"]) == 0
    text = capsys.readouterr().out
    assert "3 configs x 2 repeats = 6 cells" in text and "4/6 done (66.7%)" in text and "2 cells to go" in text


def test_sampled_status_counts_slots_and_their_repeats(sqlite_url):
    space = build_space(TINY, Space([Float("lr", low=0.0, high=0.1)]))
    spec = StudySpec(space=space, name="t", objective="test-fake", sampler="tpe", n_trials=3, repeats=2)
    study = create_or_resume(spec, sqlite_url, "t", options=OPTIONS)
    status = study_status(study)
    assert (status["cells_total"], status["cells_waiting"], status["cells_remaining"]) == (6, 3, 6)
    run_worker(sqlite_url, "t", options=OPTIONS, max_trials=1)  # one slot sampled: its repeat is queued
    status = study_status(load(sqlite_url, "t"))
    assert (status["cells_done"], status["cells_waiting"], status["cells_remaining"], status["trials"]) == (1, 3, 5, 4)
    run_worker(sqlite_url, "t", options=OPTIONS)
    study = load(sqlite_url, "t")
    status = study_status(study)
    assert status["cells_done"] == 6 and status["finished"] and status["trials"] == 6
    lrs = {}
    for t in study.trials:
        lrs.setdefault(t.user_attrs.get("repeat_of", t.number), set()).add(t.params["lr"])
    assert len(lrs) == 3 and all(len(v) == 1 for v in lrs.values())


def test_status_of_an_unknown_study_lists_the_ones_there(tiny_preset, sqlite_url, capsys):
    create_or_resume(load_preset(str(tiny_preset)), sqlite_url, "here", options=OPTIONS)
    assert cli.main(["study", "status", "--storage", sqlite_url, "--study-name", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no study named 'nope'") and "here" in err and err.count("\n") == 1


def test_grid_launch_with_fake_objective_leaves_no_waiting_cells(sqlite_url):
    space = build_space(TINY, Space([Categorical("layers", choices=["Conv-BN-PL-FCL-AL", "Conv-BN-FCL-AL"])]))
    study = launch(StudySpec(space=space, objective="test-fake", repeats=3), storage=sqlite_url, study_name="f",
                   progress=False, options=OPTIONS)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 6 == len(study.trials)


# Print which of the heavy libraries a command loaded (in a fresh interpreter, from the repository root).
HEAVY_PROBE = (
    "import sys, cli; rc = cli.main(sys.argv[1:]); "
    "print('heavy:', sorted(m for m in ('torch', 'torchvision', 'timm', 'sklearn', 'pandas', 'scipy') if m in sys.modules)); "
    "sys.exit(rc)"
)


def test_status_never_imports_torch(tiny_preset, sqlite_url):
    """`study status` (text and --json) reads a study without importing torch, torchvision, timm,
    scikit-learn, pandas or scipy: torch alone is ~2 s of the <= 3 s issue 12 allows at 5,040 trials."""
    create_or_resume(load_preset(str(tiny_preset)), sqlite_url, "light", options=OPTIONS, check_data=False)
    for extra in ([], ["--json"]):
        args = ["study", "status", "--storage", sqlite_url, "--study-name", "light", *extra]
        out = subprocess.run([sys.executable, "-c", HEAVY_PROBE, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert "heavy: []" in out.stdout, out.stdout
        assert "6 cells" in out.stdout or '"cells_total": 6' in out.stdout, out.stdout  # the stored spec was read


def test_builtin_objective_names_match_the_registry():
    """``objectives._names.BUILTIN_OBJECTIVES`` (what a stored spec may name without importing the
    objectives) is exactly the objectives layerlab's own modules register."""
    import objectives._objective as registry
    from objectives._names import BUILTIN_OBJECTIVES

    list_objectives()  # the first use of the package registers the built-ins
    own = sorted(name for name, cls in registry._OBJECTIVES.items() if cls.__module__.startswith("objectives."))
    assert own == sorted(BUILTIN_OBJECTIVES)
