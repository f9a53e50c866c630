"""The command line: one-line errors with exit code 2, JSON outputs, and a tiny end-to-end study."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["study", "launch", "--preset", "nope"], "unknown preset 'nope'; valid:"),
        (["model", "describe", "resnett"], "unknown family 'resnett' (did you mean 'resnet'?); valid families:"),
        (["model", "describe", "seq", "--set", "depthh=3"], "unknown config key 'depthh' (did you mean 'depth'?)"),
        (["model", "describe", "seq", "--set", "depth=3"], "no config key(s) depth; valid:"),
        (["model", "describe", "seq", "--set", "depth"], "malformed --set 'depth'"),
        (["study", "launch", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["study", "launch", "--set", "lrr=0.1"], "unknown config key 'lrr'"),
        (["study", "launch", "--storage", "ftp://x/y"], "unknown storage scheme 'ftp'"),
        (["study", "launch", "--storage", "postgresql://u:secret@127.0.0.1:1/db"], "cannot reach storage"),
        (["study", "status", "--storage", "sqlite:///does/not/exist.db", "--study-name", "x"], "no SQLite database"),
        (["study", "status", "--study-name", "x"], "relative to the working directory"),  # the default storage
        (["study", "launch", "--repeats", "0"], "--repeats"),
        (["study", "launch", "--workers", "0"], "--workers"),
        (["space", "grid", "--preset", "nope"], "unknown preset"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragment, tmp_path, monkeypatch, capsys):
    # In process (cli.main): a subprocess costs seconds of imports per case; the one below shows
    # a real process exits the same way.
    import cli

    monkeypatch.chdir(tmp_path)
    try:
        code = cli.main(args)
    except SystemExit as exc:  # argparse's own usage errors exit
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert fragment in lines[0]
    assert "secret" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.slow  # a fresh interpreter imports torch, optuna and sqlalchemy
def test_bad_input_in_a_real_process_is_one_line_and_exit_2(tmp_path):
    result = run_cli("study", "launch", "--storage", "postgresql://u:secret@127.0.0.1:1/db", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "cannot reach storage" in lines[0], result.stderr
    assert "secret" not in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_model_describe_json(capsys):
    import cli

    assert cli.main(["model", "describe", "resnet", "--set", "widths=512,256,128,64", "--input-size", "32", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) >= {"params", "output_shape", "layers"} and info["output_shape"] == [1, 10]
    assert info["params"] == sum(layer["params"] for layer in info["layers"])


def test_space_grid_json_lists_exact_configs(capsys):
    import cli

    assert cli.main(["space", "grid", "--preset", "demo", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["grid_size"] == 7 == len(data["configs"]) and data["repeats"] == 3
    assert len({c["config_id"] for c in data["configs"]}) == 7


@pytest.mark.slow  # real processes: 22 s under load ~4 on 2 cores
def test_tiny_study_end_to_end_through_cli(tiny_preset, tmp_path):
    url = f"sqlite:///{tmp_path / 'e2e.db'}"
    result = run_cli("study", "launch", "--preset", str(tiny_preset), "--storage", url, "--study-name", "e2e", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "layers=full" in result.stdout and "val acc" in result.stdout
    status = run_cli("study", "status", "--storage", url, "--study-name", "e2e", "--json")
    assert json.loads(status.stdout)["cells_done"] == 6
    # optuna's own CLI reads the study unchanged, user attributes included
    out = subprocess.run([sys.executable, "-c", "from optuna.cli import main; raise SystemExit(main())", "trials", "--study-name", "e2e", "--storage", url, "-f", "json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 6 and all("user_attrs" in r or any(k.startswith("user_attrs") for k in r) for r in rows)
    study = optuna.load_study(study_name="e2e", storage=url)
    assert all(t.user_attrs["config"]["dataset"] == "digits" for t in study.trials)


BIG_GRID = """\
name: big
sampler: grid
defaults: {family: seq, dataset: digits, layers: Conv-FCL}
space:
  channels: {type: int, low: 1, high: 100}
  fc_units: {type: int, low: 1, high: 100}
  batch_size: {type: int, low: 1, high: 100}
"""


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["study", "launch", "--preset", "{big}"], "the grid has 1,000,000 configs, too many to enumerate"),
        (["study", "launch", "--storage", "mongodb://h/db"], "unknown storage scheme 'mongodb'"),
        (["study", "launch", "--storage", "runs/x.db"], "has no scheme"),
        (["study", "launch", "--gpus", "0,1", "--device", "cpu"], "--gpus runs each worker on its own GPU"),
        (["study", "launch", "--heartbeat-interval", "30", "--grace-period", "10"], "grace_period (10s) must exceed"),
        (["study", "worker", "--storage", "sqlite:///nope.db", "--study-name", "x"], "no SQLite database"),
        (["study", "dashboard", "--storage", "journal:///nope.log"], "no journal file"),
        (["study", "launch", "--sampler", "tpe"], "sampler 'tpe' needs n_trials"),
    ],
)
def test_more_bad_input_in_process(args, fragment, tmp_path, monkeypatch, capsys):
    import cli

    (tmp_path / "big.yaml").write_text(BIG_GRID)
    monkeypatch.chdir(tmp_path)
    code = cli.main([a.replace("{big}", str(tmp_path / "big.yaml")) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error:") and fragment in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.yaml"]  # nothing written


def test_a_study_with_a_different_spec_is_refused_by_the_cli(tiny_preset, tmp_path, capsys):
    import cli
    from studies.engine._launch import create_or_resume
    from studies import load_preset

    url = f"sqlite:///{tmp_path / 'x.db'}"
    create_or_resume(load_preset(str(tiny_preset)), url, "x")
    before = (tmp_path / "x.db").read_bytes()
    code = cli.main(["study", "launch", "--preset", str(tiny_preset), "--storage", url, "--study-name", "x", "--repeats", "5"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "exists with a different spec" in err
    assert (tmp_path / "x.db").read_bytes() == before  # nothing written
    assert len(optuna.load_study(study_name="x", storage=url).trials) == 6


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--dataset", "mnist5k:hard2:100000"], "asks for 100000 images per class"),
        (["--dataset", "mnist5k:hard2:2"], "too small for a stratified validation split"),
        (["--set", "val_size=0.999"], "too small for a stratified validation split"),
        (["--dataset", "mnist", "--data-dir", "{tmp}/empty"], "dataset 'mnist' is not in"),
        (["--set", "init=foo"], "unknown init 'foo'"),
        (["--set", "channels=0"], "seq channels must be an int >= 1"),
        (["--set", "num_classes=5"], "num_classes=5 in the config, but dataset 'digits' gives 10"),
        (["--device", "foo"], "unknown device 'foo'"),
        (["--set", "widths=64,64,64,64"], "--set widths has no effect"),
        (["--storage", "sqlite:////proc/nope/x.db"], "cannot create the folder of storage"),
    ],
)
def test_launch_checks_data_models_and_devices_before_writing(args, fragment, tmp_path, monkeypatch, capsys):
    """Issue 3: a subset larger than the class, a dataset too small for the split, missing files,
    bad model values and a bad device all fail before training, in one line, writing nothing."""
    import cli

    monkeypatch.chdir(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = cli.main(["study", "launch", "--no-progress", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and fragment in err[0], err
    assert not (tmp_path / "runs").exists()


def test_scientific_notation_and_common_keys_in_set(tmp_path, monkeypatch, capsys):
    import cli
    from studies import Overrides

    parse = Overrides.parse_value  # the one --set grammar, which the CLI uses
    assert parse("1e-4") == 1e-4 and parse("5E-4,1e-3") == [5e-4, 1e-3]
    assert parse("Conv-BN") == "Conv-BN" and parse("true") is True
    assert Overrides.parse_sets(["lr=1e-3", "layers=Conv-BN"]) == {"lr": 1e-3, "layers": "Conv-BN"}
    assert cli.main(["model", "describe", "resnet", "--set", "num_classes=1000", "--set", "input_size=224", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["output_shape"] == [1, 1000] and info["params"] == 11_689_512


def test_space_grid_validates_and_explains_sampled_presets(capsys):
    import cli

    assert cli.main(["space", "grid", "--preset", "demo", "--set", "lr=-5"]) == 2
    assert "lr must be a positive number" in capsys.readouterr().err
    assert cli.main(["space", "grid", "--preset", "explore"]) == 0  # sampled: priced per trial, nothing listed
    out = capsys.readouterr().out
    assert "tpe, 50 sampled configs x 1 repeats = 50 trials" in out and "no grid to list" in out
    per_trial = next(line for line in out.splitlines() if line.startswith("  per trial"))
    assert "one CPU core about" in per_trial and "one GPU" in per_trial
    assert cli.main(["space", "grid", "--preset", "demo", "--limit", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["params"]["layers"] for c in data["configs"]] == ["full", "no-Conv"]  # the first cells
    assert "in_channels" not in data["configs"][0]["config"] and data["configs"][0]["config"]["family"] == "seq"


def test_refusing_a_different_spec_names_the_difference(tiny_preset, tmp_path, capsys):
    import cli

    url = f"sqlite:///{tmp_path / 'd.db'}"
    base = ["study", "launch", "--preset", str(tiny_preset), "--storage", url, "--study-name", "d", "--queue-only"]
    assert cli.main(base) == 0
    capsys.readouterr()
    assert cli.main([*base, "--epochs", "3"]) == 2
    assert "epochs: stored 1, yours 3" in capsys.readouterr().err


def test_launch_reports_failed_trials_beside_the_leaderboard(tiny_preset, tmp_path, capsys):
    import cli

    url = f"sqlite:///{tmp_path / 'f.db'}"
    code = cli.main(["study", "launch", "--preset", str(tiny_preset), "--storage", url, "--no-progress",
                     "--repeats", "1", "--set", "optimizer=sgd", "--set", "lr=1e6"])
    captured = capsys.readouterr()
    assert code == 3  # issue #14: a launch that leaves failed cells exits 3 with a one-line summary
    assert [line for line in captured.err.splitlines() if line.startswith("error:")] == [
        next(line for line in captured.err.splitlines() if "cells ended FAIL" in line)]
    assert "not in the leaderboard:" in captured.out and "non-finite training loss" in captured.out
    assert "The value nan is not acceptable" not in captured.err  # a FAIL, not an Optuna warning


def test_trials_store_the_data_derived_input_keys(tiny_preset, tmp_path):
    import cli

    url = f"sqlite:///{tmp_path / 'i.db'}"
    assert cli.main(["study", "launch", "--preset", str(tiny_preset), "--storage", url, "--no-progress",
                     "--repeats", "1", "--set", "layers=Conv-FCL"]) == 0
    (trial,) = optuna.load_study(study_name="tiny", storage=url).trials
    config = trial.user_attrs["config"]
    assert (config["in_channels"], config["num_classes"], config["input_size"]) == (1, 10, [8, 8])
    from objectives import RunConfig

    again = RunConfig.from_flat(config)  # a stored config round-trips, and keeps its id
    assert again.config_id == trial.user_attrs["config_id"]


def test_help_opens_with_each_commands_description_and_shows_defaults(capsys):
    import argparse

    import cli

    def commands(parser, path=()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield (*path, name), sub
                    yield from commands(sub, (*path, name))

    found = list(commands(cli.build_parser()))
    assert len(found) > 15
    assert all(sub.description for _, sub in found), [p for p, sub in found if not sub.description]
    with pytest.raises(SystemExit):
        cli.main(["study", "launch", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert text.count("Create or resume a study and run it") == 1
    for shown in ("(default: demo)", "local workers: this process and N-1 worker processes (default: 1)",
                  "(default: auto)", "(default: off)"):
        assert shown in text, shown
    assert "(default: None)" not in text and "(default: False)" not in text


def test_overrides_say_what_they_change():
    from studies import Overrides

    assert Overrides().describe() == ""
    changed = Overrides(dataset="mnist5k", epochs=5, values={"lr": 0.01}).describe()
    assert changed == "dataset=mnist5k, epochs=5, lr=0.01"


def test_every_json_output_is_strict_json(capsys):
    """What --json prints is RFC 8259 JSON that jq and JSON.parse read: NaN and inf are null
    (json.dumps alone writes a bare NaN), a path is its text, numpy numbers are plain numbers."""
    import math
    from pathlib import Path

    import numpy as np

    import cli

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    cli._print_json({"nan": float("nan"), "inf": -math.inf, "path": Path("a/b"), "n": np.float32(0.5),
                     "rows": [np.int64(3), None]})
    printed = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert printed == {"nan": None, "inf": None, "path": "a/b", "n": 0.5, "rows": [3, None]}
