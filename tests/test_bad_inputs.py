"""One table of bad inputs over every command: each gives one line (``error: ...``), a non-zero
exit, no traceback, and writes nothing (the working directory is byte-for-byte unchanged).

Run in this process through ``cli.main`` (fast); the subprocess path is covered in test_cli.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import pytest

import cli

TINY = """\
name: tiny
sampler: grid
repeats: 1
defaults: {family: seq, dataset: digits, layers: Conv-FCL-AL, channels: 4, fc_units: 8, epochs: 1}
space:
  lr: {type: categorical, choices: [0.01, 0.001]}
"""
UNUSED_KEY = TINY.replace("epochs: 1}", "epochs: 1, widths: [4]}")
BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
) + "name: bomb\ndefaults: {family: seq, dataset: digits}\nspace: {}\n"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Presets good and bad, and a queued study in a SQLite file."""
    from studies.engine._launch import create_or_resume
    from studies import load_preset

    root = tmp_path_factory.mktemp("bad-inputs")
    (root / "tiny.yaml").write_text(TINY)
    (root / "unused.yaml").write_text(UNUSED_KEY)
    (root / "bomb.yaml").write_text(BOMB)
    (root / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (root / "folder.yaml").mkdir()
    (root / "folder").mkdir()
    create_or_resume(load_preset(str(root / "tiny.yaml")), f"sqlite:///{root / 'study.db'}", "s", check_data=False)
    return root


def _snapshot(root: Path) -> dict[str, str]:
    """Every file's bytes, except SQLite databases, compared by their content (an SQL dump): a
    SQLite storage runs in WAL mode (studies.storage._sqlite._fast_commits), where merely opening it
    rewrites the shared-memory index (``-shm``, which holds no data) and a checkpoint moves
    committed pages from ``-wal`` into the file without changing what it holds."""
    import sqlite3

    out = {}
    for path in sorted(root.rglob("*.db")):
        if path.is_file():
            try:
                with contextlib.closing(sqlite3.connect(path)) as conn:
                    out[str(path.relative_to(root))] = hashlib.sha1("\n".join(conn.iterdump()).encode()).hexdigest()
            except sqlite3.DatabaseError:  # not a database: compared by its bytes below
                pass
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if name in out or name.endswith(("-wal", "-shm")):
            continue
        out[name] = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return out


DB = "sqlite:///{root}/study.db"
CASES = [
    # study launch
    (["study", "launch", "--preset", "nope"], "unknown preset 'nope'"),
    (["study", "launch", "--preset", "{root}/folder.yaml"], "is a directory"),
    (["study", "launch", "--preset", "{root}/folder"], "is a directory"),
    (["study", "launch", "--preset", "{root}/binary.yaml"], "not a text (UTF-8) file"),
    (["study", "launch", "--preset", "{root}/bomb.yaml"], "alias bomb"),
    (["study", "launch", "--preset", "{root}/unused.yaml"], "'widths' is not a parameter of family seq"),
    (["study", "launch", "--preset", "{root}/tiny.yaml", "--repeats", "1000000", "--queue-only", "--storage", "sqlite:///{root}/new.db"],
     "above the limit of 100,000"),
    (["study", "launch", "--preset", "{root}/tiny.yaml", "--repeats", "3", "--max-cells", "5", "--storage", "sqlite:///{root}/new.db"],
     "above the limit of 5"),
    (["study", "launch", "--max-cells", "0"], "--max-cells"),
    (["study", "launch", "--repeats", "0"], "--repeats"),
    (["study", "launch", "--workers", "0"], "--workers"),
    (["study", "launch", "--epochs", "-1"], "--epochs"),
    (["study", "launch", "--n-trials", "abc"], "--n-trials"),
    (["study", "launch", "--sampler", "anneal"], "--sampler"),
    (["study", "launch", "--pruner", "always"], "--pruner"),
    (["study", "launch", "--set", "lrr=0.1"], "unknown config key 'lrr'"),
    (["study", "launch", "--set", "depth"], "malformed --set 'depth'"),
    (["study", "launch", "--set", "layers=nonsense"], "unknown layer token"),
    (["study", "launch", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["study", "launch", "--storage", "ftp://x/y"], "unknown storage scheme 'ftp'"),
    (["study", "launch", "--storage", "runs/x.db"], "has no scheme"),
    (["study", "launch", "--device", "tpu"], "unknown device 'tpu'"),
    (["study", "launch", "--gpus", "0,1", "--device", "cpu"], "--gpus runs each worker on its own GPU"),
    (["study", "launch", "--heartbeat-interval", "30", "--grace-period", "10"], "grace_period (10s) must exceed"),
    # out of range (studies._options): refused before the preset is even read
    (["study", "launch", "--seed", "-1"], "--seed -1 is out of range; valid: an integer from 0 to 4294967295"),
    (["study", "launch", "--preset", "demo", "--seed", "4294967294", "--storage", "sqlite:///{root}/new.db"],
     "with 3 repeats needs seeds up to"),  # the preset's repeats, checked by the spec
    (["study", "launch", "--seed", "4294967294", "--repeats", "3"], "seed + repeats - 1 <= 4294967295"),
    (["study", "launch", "--workers", "99999999999999999999"], "--workers 99999999999999999999 is out of range on"),
    (["study", "launch", "--race", "--margin", "inf"], "--margin inf is not valid; valid: a finite number > 0"),
    (["study", "launch", "--race", "--alpha", "nan"], "--alpha nan is not valid"),
    (["study", "launch", "--race", "--futility=-inf"], "--futility -inf is not valid"),
    (["study", "launch", "--epochs", "1000000"], "--epochs 1000000 is out of range"),
    (["study", "launch", "--grace-period", "99999999999999999999"], "--grace-period 99999999999999999999 is out of"),
    (["study", "launch", "--preset", "{root}/tiny.yaml", "--storage", DB, "--study-name", "s", "--repeats", "2"],
     "exists with a different spec"),
    # study worker
    (["study", "worker", "--storage", "sqlite:///{root}/nope.db", "--study-name", "x"], "no SQLite database"),
    (["study", "worker", "--storage", DB], "--study-name"),
    (["study", "worker", "--storage", DB, "--study-name", "nope"], "no study named 'nope'"),
    (["study", "worker", "--storage", DB, "--study-name", "s", "--heartbeat-interval", "0"], "--heartbeat-interval"),
    (["study", "worker", "--storage", DB, "--study-name", "s", "--device", "tpu"], "unknown device 'tpu'"),
    # study status, report, compare, datasets
    (["study", "status", "--storage", DB, "--study-name", "nope"], "no study named 'nope'"),
    (["study", "status", "--storage", "mongodb://h/db", "--study-name", "x"], "unknown storage scheme 'mongodb'"),
    (["study", "status", "--storage", "journal:///{root}/nope.log", "--study-name", "x"], "no journal file"),
    (["study", "report", "--storage", DB, "--study-name", "nope"], "no study named 'nope'"),
    (["study", "report", "--storage", DB, "--study-name", "s", "--test", "anova"], "--test"),
    (["study", "compare", "--storage", DB, "--study-name", "s"], "exactly two --study-name"),
    (["study", "compare", "--storage", DB, "--study-name", "s", "--study-name", "s", "--top-k", "0"], "--top-k"),
    (["study", "compare", "--storage", DB, "--study-name", "s", "--study-name", "s", "--bootstrap", "-5"],
     "--bootstrap -5"),
    (["study", "report", "--storage", DB, "--study-name", "s", "--margin", "inf"], "--margin inf is not valid"),
    (["study", "report", "--storage", DB, "--study-name", "s", "--alpha", "0"], "--alpha 0 is out of range"),
    (["study", "report", "--storage", DB, "--study-name", "s", "--seed", "-3"], "--seed -3 is out of range"),
    (["study", "worker", "--storage", DB, "--study-name", "s", "--worker-index", "-1"], "--worker-index -1"),
    (["study", "datasets", "imagenet"], "unknown dataset 'imagenet'"),
    # study aggregate
    (["study", "aggregate", "--storage", DB, "--study-name", "nope"], "no study named 'nope'"),
    (["study", "aggregate", "--storage", DB, "--study-name", "s"], "study 's' has no completed trials"),
    (["study", "aggregate", "--storage", DB, "--study-name", "s", "--normalize", "minmax"], "--normalize"),
    # study dashboard
    (["study", "dashboard", "--port", "70000"], "70000 is not a port number"),
    (["study", "dashboard", "--port", "0"], "0 is not a port number"),
    (["study", "dashboard", "--port", "http"], "'http' is not a port number"),
    (["study", "dashboard", "--storage", "journal:///{root}/nope.log"], "no journal file"),
    # model, space, presets, data
    (["model", "describe", "resnett"], "unknown family 'resnett'"),
    (["model", "describe", "seq", "--set", "depthh=3"], "depthh"),
    (["model", "describe", "seq", "--input-size", "0"], "--input-size"),
    (["model", "describe", "seq", "--input-size", "99999999"], "--input-size 99999999 is out of range"),
    (["space", "grid", "--preset", "nope"], "unknown preset"),
    (["space", "grid", "--preset", "{root}/binary.yaml"], "not a text (UTF-8) file"),
    (["space", "grid", "--preset", "{root}/tiny.yaml", "--limit", "0"], "--limit"),
    (["presets", "show", "nope"], "unknown preset 'nope'"),
    (["presets", "show", "{root}/folder.yaml"], "is a directory"),
    (["presets", "list", "extra"], "unrecognized arguments"),
    (["data", "describe", "nope"], "unknown dataset 'nope'"),
    (["data", "describe", "digits", "--split", "random"], "--split"),
    (["data", "download", "nope"], "unknown dataset 'nope'"),
    (["frobnicate"], "invalid choice"),
    (["study", "frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("args, fragment", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_non_zero_no_traceback_nothing_written(args, fragment, workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("LAYERLAB_DATA", str(workdir / "folder"))  # no dataset is ever downloaded here
    argv = [a.replace("{root}", str(workdir)) for a in args]
    before = _snapshot(workdir)
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's exit
        code = exc.code
    captured = capsys.readouterr()
    err = captured.err
    assert code not in (0, None), f"exit {code}: {err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert fragment in lines[0], err
    assert "Traceback" not in err + captured.out
    assert _snapshot(workdir) == before, "a bad input wrote something"


def test_the_table_covers_every_command():
    assert len(CASES) >= 40
    commands = {tuple(a[:2]) for a, _ in CASES}
    every = {("study", c) for c in ("launch", "worker", "status", "report", "compare", "datasets", "dashboard")} | {
        ("model", "describe"), ("space", "grid"), ("presets", "show"), ("presets", "list"), ("data", "describe"),
        ("data", "download")}
    assert every <= commands, every - commands
    assert os.path.basename(__file__) == "test_bad_inputs.py"


def test_a_preset_label_is_a_valid_set_value(capsys):
    """`--set layers=full` pins the layers the demo preset calls `full` (its baseline)."""
    assert cli.main(["space", "grid", "--preset", "demo", "--set", "layers=full", "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["grid_size"] == 1
    assert data["configs"][0]["config"]["layers"] == ["Conv", "BN", "PL", "DropL", "FCL", "AL"]
