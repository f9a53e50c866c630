"""The README's Python API example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
from optuna.trial import TrialState

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    section = text[text.index("## Python API"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README's Python API section has no python code block"
    return match.group(1)


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = readme_example()
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert "4 of 4 cells done" in out and "with-BN" in out
    study = optuna.load_study(study_name="api-demo", storage=f"sqlite:///{tmp_path / 'runs' / 'api.db'}")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 4
