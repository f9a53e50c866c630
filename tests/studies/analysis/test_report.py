"""The HTML report (self-contained, offline) and its JSON, through the API and through cli.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from plotly.offline import get_plotlyjs

from searchspace import Categorical, Space
from searchspace._dims import Fixed
from studies import StudySpec
from studies.analysis._report import build_report, write_report
from tests.studies.analysis._synthetic import add_failed_and_pruned, grid_study

ROOT = Path(__file__).resolve().parents[3]
LAYERS = ("full", "no-BN", "no-Conv")
MEANS = {"full": 0.9, "no-BN": 0.8, "no-Conv": 0.5}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _layerlab_attrs(params, repeat):
    acc = MEANS[params["layers"]]
    return {
        "config": {"family": "seq", "dataset": "digits", "layers": params["layers"]},
        "history": [{"epoch": e, "val_accuracy": acc * e / 3, "val_loss": 1.0 / e} for e in (1, 2, 3)],
        "confusion": [[8, 2], [1, 9]],
    }


def layerlab_like(storage: str, name: str = "lolo", **kwargs) -> optuna.Study:
    study = grid_study({"layers": LAYERS}, lambda p: MEANS[p["layers"]], storage=storage, name=name,
                       extra_attrs=_layerlab_attrs, **kwargs)
    space = Space([Fixed("dataset", value="digits"), Categorical("layers", choices=LAYERS)])
    spec = StudySpec(space=space, name="tiny", baseline={"layers": "full"}, repeats=3)
    study.set_user_attr("layerlab", {"spec": spec.to_dict(), "fingerprint": spec.fingerprint()})
    return study


@pytest.mark.slow  # 27 s under load 8 on 2 cores
def test_cli_report_is_self_contained_json_has_the_keys_and_the_study_gets_the_artifact(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs' / 'db.sqlite'}"
    (tmp_path / "runs").mkdir()
    layerlab_like(url)
    layerlab_like(url, name="lolo-full", rng_seed=5)
    out = tmp_path / "report.html"
    result = run_cli("study", "report", "--storage", url, "--study-name", "lolo", "--out", str(out), "--json",
                     "--bootstrap", "5", "--compare-with", "lolo-full", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("leaderboard", "ablation", "importance", "variance_split", "compare", "datasets", "notes"):
        assert key in data
    assert [r["label"] for r in data["leaderboard"]] == ["layers=full", "layers=no-BN", "layers=no-Conv"]
    assert data["ablation"]["baseline"] == {"layers": "full"} and data["ablation"]["baseline_source"] == "study spec"
    assert {r["verdict"] for r in data["ablation"]["rows"]} == {"worse"}
    assert {"value", "ci_low", "ci_high", "p_f"} <= set(data["importance"]["layers"])
    # one varying parameter: a shuffle only relabels the same groups, so no permutation null is run
    assert "above_noise" not in data["importance"]["layers"]
    assert data["importance_evaluator"] == "anova"
    assert data["compare"]["kendall_tau"] == pytest.approx(1.0)
    assert data["datasets"]["digits"]["num_classes"] == 10

    page = out.read_text()
    assert get_plotlyjs()[:2000] in page  # plotly.js itself is inlined
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?https?:", page, re.I)
    for title in ("Leaderboard", "Ablation against the baseline", "Parameter importance", "Optimisation history",
                  "Parallel coordinates", "Learning curves", "Confusion matrices (test set, summed over repeats; rows: true class)",
                  "Rank transfer", "Datasets"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("Plotly.newPlot") >= 7

    artifact = data["artifact"]
    assert Path(artifact["dir"]) == tmp_path / "runs" / "artifacts"
    study = optuna.load_study(study_name="lolo", storage=url)
    metas = optuna.artifacts.get_all_artifact_meta(study)
    assert [m.artifact_id for m in metas] == [artifact["id"]] and metas[0].filename == "report.html"
    assert (tmp_path / "runs" / "artifacts" / artifact["id"]).read_bytes() == out.read_bytes()


def test_report_degrades_on_failed_trials_single_repeat_and_one_config(tmp_path):
    study = grid_study({"layers": ("full",)}, lambda p: 0.7, repeats=1, layerlab_attrs=False)
    add_failed_and_pruned(study, {"layers": "full"})
    report = build_report(study, n_bootstrap=5)
    notes = " | ".join(report.data["notes"])
    assert "left out of every statistic: 1 pruned, 1 fail trial(s)" in notes
    assert "single run: no confidence intervals" in notes
    assert "no importance: importance needs 2 or more distinct configs; the study has 1" in notes
    assert report.data["importance"] == {}
    assert report.data["variance_split"]["available"] is False
    page = write_report(report, tmp_path / "r.html").read_text()
    assert "No importance: importance needs 2 or more distinct configs" in page
    assert "No CI: every config has a single run." in page
    json.loads(report.to_json())  # NaNs become null: strict JSON


def test_report_on_a_hand_made_study_with_numeric_params_draws_slice_and_contour(tmp_path):
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.3) ** 2 + 0.1 * t.suggest_int("k", 0, 3), n_trials=15)
    report = build_report(study, n_bootstrap=0)
    titles = [s.title for s in report.sections]
    assert "Slice plot (numeric parameters)" in titles and "Contour plot (numeric parameters)" in titles
    assert report.data["ablation"]["baseline_source"] == "best config (no baseline given)"
    assert any("no common seed/repeat" in n for n in report.data["notes"])


def test_report_notes_intervals_clipped_to_the_accuracy_range():
    from optuna.distributions import CategoricalDistribution

    study = optuna.create_study(direction="maximize")
    dist = {"layers": CategoricalDistribution(["a", "b"])}
    for layers, runs in {"a": (0.99, 0.86), "b": (0.7, 0.72)}.items():
        for r, v in enumerate(runs):
            study.add_trial(optuna.trial.create_trial(params={"layers": layers}, distributions=dist, value=v,
                                                      user_attrs={"val_accuracy": v, "seed": r, "config_id": layers}))
    report = build_report(study, n_bootstrap=0, datasets="none")
    # the leaderboard row of a (0.925 +- 0.83) and the ablation row b - a (-0.215 +- 0.95)
    assert any(n.startswith("2 row(s) have a confidence interval clipped") for n in report.data["notes"])
    assert report.data["leaderboard"].loc[0, "val_ci_high"] == 1.0


def _curves_and_confusion(params, repeat):
    rank = int(params["layers"][1:])  # l0 is best
    acc = 0.9 - 0.01 * rank
    return {
        "history": [{"epoch": e, "val_accuracy": acc * e / 20} for e in range(1, 21)],
        "confusion": (np.eye(10, dtype=int) * (50 - rank) + 1).tolist(),
    }


def _many_configs(n: int, baseline: str) -> optuna.Study:
    names = tuple(f"l{i}" for i in range(n))
    study = grid_study({"layers": names}, lambda p: 0.9 - 0.01 * int(p["layers"][1:]), repeats=3, noise=0.001,
                       extra_attrs=_curves_and_confusion)
    spec = StudySpec(space=Space([Categorical("layers", choices=names)]), name="many", baseline={"layers": baseline}, repeats=3)
    study.set_user_attr("layerlab", {"spec": spec.to_dict(), "fingerprint": spec.fingerprint()})
    return study


def test_report_draws_every_configs_curve_says_which_are_hidden_and_shows_the_baselines_confusion():
    report = build_report(_many_configs(14, baseline="l12"), n_bootstrap=0, datasets="none", evaluators=("fanova",))
    curves = report.data["figures"]["learning_curves"]
    # best 10 plus the baseline are drawn; the other 3 are one legend click away, none dropped
    assert curves["visible"][:10] == [f"layers=l{i}" for i in range(10)] and curves["visible"][10:] == ["layers=l12"]
    assert curves["hidden"] == ["layers=l10", "layers=l11", "layers=l13"] and curves["left_out"] == []
    confusion = report.data["figures"]["confusion"]
    assert confusion["best"] == "layers=l0" and confusion["baseline"] == "layers=l12"
    assert len(confusion["included"]) == 14 and confusion["left_out"] == []
    page = report.to_html()
    assert "click their legend entries to show them: layers=l10, layers=l11, layers=l13" in page
    assert "Test confusion of the best config (layers=l0)" in page
    assert "Test confusion of the ablation baseline (layers=l12)" in page
    section = next(s for s in report.sections if s.title.startswith("Learning curves"))
    visible = [t.visible for t in section.figures[0].data if t.showlegend is not False]
    assert visible.count(True) == 11 and visible.count("legendonly") == 3


def test_an_82_config_report_stays_small():
    report = build_report(_many_configs(82, baseline="l0"), n_bootstrap=0, datasets="none", evaluators=("fanova",))
    assert report.data["figures"]["confusion"]["baseline"] is None  # the baseline is the best config
    assert len(report.data["figures"]["learning_curves"]["hidden"]) == 72
    page = report.to_html()
    assert len(page) - len(get_plotlyjs()) < 3_000_000, len(page) - len(get_plotlyjs())
