"""The transfer race (studies/engine/_race_transfer.py): its replay from cells, its launch over two
studies with the synthetic objective, and its bad input."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
import pytest

from studies.engine._cells import cell_key, repeat_of, trial_params
from studies.engine._race import DONE, PENDING, RaceError, RaceSettings
from studies.engine._race_transfer import TRANSFER_ATTR, race_answer, replay_transfer
from tests.studies._util import OPTIONS, load, worker_env, write_preset

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = RaceSettings(min_repeats=3, max_repeats=8, mode="transfer")


def _run(means_a, means_b, settings=SETTINGS, *, noise=1.0, seed=0):
    """Replay a race to its end, drawing each cell's value when the race asks for it."""
    rng = np.random.default_rng(seed)
    shift = {"a": rng.normal(0, 0.5, 50), "b": rng.normal(0, 0.5, 50)}  # seed effects shared by a study's configs
    cells: dict[str, dict] = {"a": {}, "b": {}}
    means = {"a": np.asarray(means_a, float), "b": np.asarray(means_b, float)}
    while True:
        state = replay_transfer(len(means_a), cells["a"], cells["b"], settings)
        if state.finished:
            return state, cells
        for x, todo in (("a", state.to_queue_a), ("b", state.to_queue_b)):
            for c, r in todo:
                cells[x][(c, r)] = (DONE, float(means[x][c] + shift[x][r] + noise * rng.standard_normal()))


def test_replay_waits_for_the_round_then_adds_seeds_only_to_configs_of_open_pairs():
    # configs 0-2 are far apart (settled at the first look); 3 and 4 are a near-tie in both studies
    means = [0.0, 20.0, 40.0, 60.0, 60.05]
    state = replay_transfer(5, {}, {}, SETTINGS)
    assert not state.finished and len(state.to_queue_a) == len(state.to_queue_b) == 5 * 3
    cells = {cell: (DONE, 1.0) for cell in state.to_queue_a}
    cells[(0, 0)] = (PENDING, None)
    assert replay_transfer(5, cells, {}, SETTINGS).looks == []  # a pending cell: no look yet
    state, _ = _run(means, means, noise=0.5)
    assert state.finished and state.looks[0]["settled_both"] >= 9 - 1  # every far pair at the first look
    assert {c: state.repeats_a[c] for c in range(3)} == {0: 3, 1: 3, 2: 3}  # decided configs get no more seeds
    answer = state.answer()
    assert answer["near_ties"] == 1 and answer["open"] == 0 and answer["agree"] == answer["settled_both"] == 9
    assert answer["trials"] == sum(state.repeats_a.values()) + sum(state.repeats_b.values())
    assert answer["trials"] < answer["trials_at_max_repeats"]


def test_a_verdict_stands_and_a_disagreement_is_found():
    # B swaps configs 0 and 3 (3 noise SD apart): the race must settle that pair in opposite orders
    state, _ = _run([0.0, 6.0, 12.0, 3.0], [3.0, 6.0, 12.0, 0.0], noise=0.3)
    assert state.answer()["disagree"] == 1 and state.signs_a[2] == -state.signs_b[2] != 0  # pair (0, 3) is index 2
    with_more, _ = _run([0.0, 6.0, 12.0, 3.0], [3.0, 6.0, 12.0, 0.0], RaceSettings(min_repeats=3, max_repeats=10,
                                                                                     mode="transfer"), noise=0.3)
    assert with_more.answer()["disagree"] == 1


def test_identical_rankings_rarely_get_a_false_disagreement():
    # error control: a disagreement needs a wrong sign in one study, which alpha bounds over the whole race
    false = sum(_run(np.arange(5) * 1.5, np.arange(5) * 1.5, seed=s)[0].answer()["disagree"] > 0 for s in range(20))
    assert false <= 2


PRESET = """\
name: {name}
description: a synthetic study for the transfer race
sampler: grid
repeats: 3
objective: synthetic
defaults:
  family: seq
  dataset: {dataset}
  synth_noise: 0.01
  synth_seed_sd: 0.01
space:
  arm:
    type: variants
    options:
      far: {{synth_mean: 0.50}}
      mid: {{synth_mean: 0.60}}
      close: {{synth_mean: {close}}}
      tie: {{synth_mean: 0.6305}}
"""


def _presets(tmp_path: Path) -> tuple[Path, Path]:
    full = write_preset(tmp_path, PRESET.format(name="full", dataset="digits", close=0.63), "full")
    cheap = write_preset(tmp_path, PRESET.format(name="cheap", dataset="mnist5k", close=0.655), "cheap")
    return full, cheap


@pytest.mark.slow  # two synthetic launches in this process: ~20 s under load
def test_a_transfer_race_adds_seeds_to_both_studies_once_and_resumes(tmp_path):
    from studies import launch, load_preset

    full, cheap = _presets(tmp_path)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    launch(load_preset(str(full)), storage=url, device="cpu", progress=False, options=OPTIONS)  # fixed: 3 repeats
    launch(load_preset(str(cheap)), storage=url, device="cpu", progress=False, options=OPTIONS, race=SETTINGS,
           compare_with="full")
    a, b = load(url, "cheap"), load(url, "full")
    for study in (a, b):
        counts = Counter(cell_key(trial_params(t), repeat_of(t)) for t in study.get_trials(deepcopy=False))
        assert set(counts.values()) == {1}  # every cell once
    assert a.user_attrs[TRANSFER_ATTR]["compare_with"] == "full"
    answer = race_answer(a, b)
    assert answer["finished"] and answer["open"] == 0 and answer["disagree"] == 0
    assert answer["near_ties"] >= 1  # close vs tie in the full study: 0.0005 apart
    repeats = Counter(t.params["arm"] for t in b.trials)
    assert repeats["far"] == 3 and max(repeats.values()) > 3  # seeds only where a pair stayed open
    assert len(a.trials) + len(b.trials) == answer["trials"] < answer["trials_at_max_repeats"]
    # what `study launch` prints: the answer, then the report that reads it, as next_steps words it
    from studies import format_launch

    summary = format_launch(a, load_preset(str(cheap)), storage=url, race=SETTINGS, compare_with="full")
    where = f"--storage {shlex.quote(url)} --study-name cheap"
    assert summary.error is None and summary.text
    assert summary.next_steps == f"next steps:\n  layerlab study report {where} --compare-with full"  # not from cli.py
    # a relaunch resumes the decided race (no new trial); other race options are refused
    launch(load_preset(str(cheap)), storage=url, device="cpu", progress=False, options=OPTIONS, race=SETTINGS,
           compare_with="full")
    assert len(load(url, "cheap").trials) == len(a.trials)
    with pytest.raises(RaceError, match="refusing to change it"):
        launch(load_preset(str(cheap)), storage=url, device="cpu", progress=False, options=OPTIONS,
               race=RaceSettings(min_repeats=3, max_repeats=6, mode="transfer"), compare_with="full")


def _cli(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=cwd, env=worker_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # a fresh interpreter per case
@pytest.mark.parametrize("flags, message", [
    (["--race", "--race-mode", "transfer"], "--race-mode transfer needs --compare-with STUDY"),
    (["--compare-with", "full"], "--compare-with only applies to a race"),
    (["--race", "--race-mode", "transfer", "--compare-with", "nope"], "no study named 'nope' in this storage"),
    (["--race", "--race-mode", "transfer", "--compare-with", "two"],
     "studies 'cheap' and 'two' have only 2 shared configs (matched on arm); a transfer race needs 3 or more"),
    (["--race", "--race-mode", "transfer", "--compare-with", "full", "--workers", "2"], "drop --queue-only, --workers"),
])
def test_bad_transfer_race_input_is_one_line_exit_2_and_writes_nothing(flags, message, tmp_path):
    from studies.engine._launch import create_or_resume
    from studies import load_preset

    full, cheap = _presets(tmp_path)
    two = write_preset(tmp_path, PRESET.format(name="two", dataset="digits", close=0.63).replace("close:", "other:")
                       .replace("tie:", "another:"), "two")  # shares far and mid with cheap
    url = f"sqlite:///{tmp_path / 'x.db'}"
    for preset in (full, two):  # the other studies exist (queued, not run): the race's checks come first
        create_or_resume(load_preset(str(preset)), url, preset.stem, options=OPTIONS, check_data=False)
    out = _cli("study", "launch", "--preset", str(cheap), "--storage", url, "--no-progress", *flags, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "cheap" not in {s.study_name for s in optuna.get_all_study_summaries(url)}
