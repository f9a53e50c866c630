"""Issue 21: the demo itself, trained for real, calls the loss of its convolution what it is."""

from __future__ import annotations

import pytest

from studies import Overrides, launch, load_preset
from studies.analysis._leaderboard import ablation_table


@pytest.mark.slow  # trains the demo's 21 cells at 3 epochs (~10 s on 2 cores)
def test_the_demo_calls_no_conv_worse_at_its_three_repeats_and_no_interval_contradicts_a_verdict(tmp_path):
    spec = Overrides(epochs=3).apply(load_preset("demo"))
    assert spec.repeats == 3  # the preset's own repeats: the papers' protocol
    study = launch(spec, storage=f"sqlite:///{tmp_path / 'demo.db'}", progress=False, device="cpu")
    ablation = ablation_table(study)
    rows = ablation.rows.set_index("variant")
    assert rows.loc["layers=no-Conv", "verdict"] == "worse"
    assert rows.loc["layers=no-Conv", "delta"] < -0.1
    for _, row in ablation.rows.iterrows():
        excludes_zero = row.delta_ci_low > 0 or row.delta_ci_high < 0
        assert (row.verdict in ("better", "worse")) == excludes_zero, row.variant
