"""The report summary is generated from the tables' numbers and never contradicts them."""

from __future__ import annotations

import re

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from studies.analysis._leaderboard import ablation_table, leaderboard_table
from studies.analysis._collect import collect
from studies.analysis._importance import variance_split
from studies.analysis._summary import summary_facts, summary_sentences
from tests.studies.analysis._synthetic import grid_study


def _study(values: dict[str, list[float]]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    dist = {"layers": CategoricalDistribution(list(values))}
    for name, runs in values.items():
        for r, v in enumerate(runs):
            study.add_trial(optuna.trial.create_trial(params={"layers": name}, distributions=dist, value=v,
                                                      user_attrs={"config_id": name, "repeat": r, "seed": r}))
    return study


def _sentences(study, baseline=None):
    table = collect(study)
    board, ablation = leaderboard_table(table), ablation_table(table, baseline)
    split = variance_split(table)
    return board, ablation, split, summary_sentences(summary_facts(table, board, ablation, split))


# The liu-pap case: a big lead over the runner-up that the paired test cannot separate (the two
# top configs vary wildly by seed) beside a small pooled seed-noise SD (many quiet configs).
QUIET = {f"q{i}": [0.30 + 0.01 * i + d for d in (0.0, 0.004, -0.004)] for i in range(12)}
CONTRADICTION = {"best": [0.95, 0.30, 0.96], "runner": [0.10, 0.80, 0.11], **QUIET}
CASES = {
    "big lead, not separated": CONTRADICTION,
    "clear winner": {"a": [0.90, 0.91, 0.905], "b": [0.50, 0.51, 0.505], "c": [0.49, 0.5, 0.51]},
    "null": {k: [0.5 + d for d in np.random.default_rng(i).normal(0, 0.01, 3)] for i, k in enumerate("abcdefg")},
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_sentence_agrees_with_the_tables(case):
    board, ablation, split, sentences = _sentences(_study(CASES[case]))
    text = " ".join(sentences)
    gap = abs(board.loc[0, "val_mean"] - board.loc[1, "val_mean"])
    sd = split["seed_noise_sd"]
    lead = next(s for s in sentences if "leads the runner-up" in s)
    assert f"by {gap:.4g}" in lead and f"({gap / sd:.2g} seed-noise SDs)" in lead
    assert ("within seed noise" in lead) == (gap <= sd and board.loc[1, "vs_best"] != "worse")
    assert ("detectably worse" in lead) == (board.loc[1, "vs_best"] == "worse")
    assert f"the seed-to-seed noise SD is {sd:.4g}" in text
    assert f"Best config: {board.loc[0, 'label']}, mean objective {board.loc[0, 'val_mean']:.4g}" in text
    verdicts = list(ablation.rows["verdict"])
    counts = {w: verdicts.count(w) for w in ("better", "worse")}
    counts["without detectable difference"] = verdicts.count("no detectable difference")
    ab = next(s for s in sentences if s.startswith("Ablation"))
    assert f"{len(verdicts)} variant(s)" in ab
    for word, count in counts.items():
        assert (f"{count} {word}" in ab) == (count > 0)


def test_a_lead_far_beyond_the_seed_noise_is_never_called_within_seed_noise():
    board, _, split, sentences = _sentences(_study(CONTRADICTION))
    gap = board.loc[0, "val_mean"] - board.loc[1, "val_mean"]
    assert gap > 2 * split["seed_noise_sd"] and board.loc[1, "vs_best"] == "no detectable difference"
    text = " ".join(sentences)
    assert "within seed noise" not in text and "more than the seed-noise SD" in text


def test_quiet_rows_say_what_they_could_have_missed_and_the_margin_turns_them_into_equivalence():
    study = grid_study({"layers": ("a", "b", "c")}, lambda p: 0.5, repeats=4, noise=0.002, rng_seed=2)
    table = collect(study)
    board, split = leaderboard_table(table), variance_split(table)
    ablation = ablation_table(table, "layers=a")
    text = " ".join(summary_sentences(summary_facts(table, board, ablation, split)))
    mde = ablation.rows["mde"]
    assert re.search(r"could have missed effects up to [0-9.e-]+", text) and "--margin" in text
    assert f"{mde.min():.3g}" in text
    eq = ablation_table(table, "layers=a", margin=0.05)
    text = " ".join(summary_sentences(summary_facts(table, board, eq, split)))
    assert "2 equivalent within +-0.05" in text
