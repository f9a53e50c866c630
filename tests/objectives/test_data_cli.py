"""`python cli.py data list|describe|download`: outputs, JSON keys and one-line errors.

Most cases call ``cli.main`` in-process (the same code path minus interpreter start-up, which
costs seconds per call on a loaded machine); one runs ``python cli.py`` to check the exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cli

from tests.objectives.test_data_formats import write_idx_dataset

ROOT = Path(__file__).resolve().parents[2]
DESCRIBE_KEYS = {
    "name", "description", "source", "embedded", "data_dir", "files", "num_classes", "classes",
    "channels", "image_size", "official", "split", "split_sizes", "class_balance",
}  # fmt: skip


def run_cli(*args: str, cwd: Path, data_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LAYERLAB_DATA", "LAYERLAB_DOWNLOAD")}
    if data_dir is not None:
        env["LAYERLAB_DATA"] = str(data_dir)
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_data_list_shows_kind_and_presence(tmp_path, monkeypatch, capsys):
    write_idx_dataset(tmp_path / "data", "FashionMNIST")
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "data"))  # the data dir from the environment
    assert cli.main(["data", "list"]) == 0
    stdout = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:3] for line in stdout.splitlines()[1:-1]}
    assert rows["digits"] == ["embedded", "present"] and rows["mnist5k"] == ["embedded", "present"]
    assert rows["fashion_mnist"] == ["on-disk", "present"] and rows["mnist"] == ["on-disk", "missing"]
    assert rows["chestmnist"][1] == "refused" and len(rows) == 18
    assert str(tmp_path / "data") in stdout.splitlines()[0]
    monkeypatch.delenv("LAYERLAB_DATA")
    assert cli.main(["data", "list", "--json", "--data-dir", str(tmp_path / "data")]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert {r["name"]: r["present"] for r in as_json}["fashion_mnist"] is True


@pytest.mark.slow  # decodes mnist5k; measured >= 8 s under load 8 on 2 cores
def test_data_describe_json_of_a_subset(capsys):
    assert cli.main(["data", "describe", "mnist5k:hard2:128", "--json", "--split", "paper"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) == DESCRIBE_KEYS | {"subset"}
    assert info["classes"] == ["4", "9"] and info["num_classes"] == 2
    assert info["channels"] == 1 and info["image_size"] == [28, 28]
    # 128 per class train + validation (Table 1's sampleSize), 43 per class of test outside them
    assert info["official"] == {"train": 256, "test": 86} and info["split_sizes"] == {"train": 192, "val": 64, "test": 86}
    assert info["class_balance"]["test"] == {"4": 43, "9": 43}


def test_data_describe_reads_the_data_dir(tmp_path, capsys):
    write_idx_dataset(tmp_path, "MNIST", n={"train": 80, "test": 20})
    code = cli.main(["data", "describe", "mnist", "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "official parts: train 80, test 20" in out
    assert "split official: train 60, val 20, test 20" in out  # val 0.25 of train, stratified


@pytest.mark.slow  # a fresh interpreter; measured >= 8 s under load 8 on 2 cores
def test_data_error_in_a_process_is_one_line_and_exit_2(tmp_path):
    result = run_cli("data", "describe", "imagenet", cwd=tmp_path, data_dir=tmp_path / "empty")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: unknown dataset 'imagenet'; valid: bloodmnist")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["data", "describe", "cifar10"], "dataset 'cifar10' is not in "),
        (["data", "describe", "chestmnist"], "multi-label"),
        (["data", "describe", "mnist5k:hard2:9999"], "asks for 9999 images per class"),
        (["data", "describe", "mnist", "--size", "64"], "has no size 64"),
    ],
)
def test_data_errors_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, fragment):
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "empty"))
    monkeypatch.delenv("LAYERLAB_DOWNLOAD", raising=False)
    assert cli.main(args) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], lines
    assert not (tmp_path / "empty").exists()  # nothing created when nothing was downloaded
