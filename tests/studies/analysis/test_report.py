"""The HTML report (self-contained, offline) and its JSON, through the API and through cli.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from plotly.offline import get_plotlyjs

from searchspace import Categorical, Fixed, Space
from studies import StudySpec
from studies.analysis import build_report, write_report
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
    assert set(data["importance"]["layers"]) == {"value", "ci_low", "ci_high"}
    assert data["compare"]["kendall_tau"] == pytest.approx(1.0)
    assert data["datasets"]["digits"]["num_classes"] == 10

    page = out.read_text()
    assert get_plotlyjs()[:2000] in page  # plotly.js itself is inlined
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?https?:", page, re.I)
    for title in ("Leaderboard", "Ablation against the baseline", "Parameter importance", "Optimisation history",
                  "Parallel coordinates", "Learning curves", "Confusion matrix (best config)", "Rank transfer", "Datasets"):
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
