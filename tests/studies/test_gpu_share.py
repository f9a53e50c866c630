"""Several trials per GPU (``--trials-per-gpu``), a trial out of GPU memory, and the GPU options' bad input.

No GPU is needed: the launch's process plumbing is checked with fake processes on a machine that
claims CUDA, and the out-of-memory path with an injected ``torch.OutOfMemoryError``.
"""

from __future__ import annotations

import json

import optuna
import pytest
import torch
from optuna.trial import TrialState

import studies.engine._gpu_share as gpu_share
import studies.engine._worker
from studies.engine._launch import create_or_resume
from studies import load_preset, load_study, run_worker
from studies.engine._cells import OOM_HANDED_BACK
from studies.engine._gpu_options import check_trials_per_gpu
from tests.studies.test_launch import _FakePopen

GIB = 2**30


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "two", "", 0, True])
def test_trials_per_gpu_must_be_a_positive_integer_or_auto(value):
    with pytest.raises(Exception, match=r"^--trials-per-gpu must be a positive integer or auto, got "):
        check_trials_per_gpu(value)
    assert check_trials_per_gpu("3") == 3 and check_trials_per_gpu(None) == check_trials_per_gpu("auto") == "auto"


@pytest.mark.parametrize(
    "extra, fragment",
    [
        # the one table of option ranges (studies._options) answers first
        (["--trials-per-gpu", "0"], "--trials-per-gpu 0 is out of range; valid: 'auto' or an integer from 1 to 64"),
        (["--trials-per-gpu", "-2"], "--trials-per-gpu -2 is out of range"),
        (["--trials-per-gpu", "2.5"], "--trials-per-gpu 2.5 is not valid"),
        (["--trials-per-gpu", "3", "--device", "cpu"], "--trials-per-gpu 3 shares a GPU between trial processes"),
        (["--set", "precision=fp16", "--device", "cpu"], "precision 'fp16' needs a CUDA GPU"),
        (["--set", "precision=fp8"], "unknown precision 'fp8'; valid: auto, fp32, bf16, fp16"),
    ],
)
def test_bad_gpu_options_are_one_line_and_write_nothing(tiny_preset, tmp_path, capsys, extra, fragment):
    import cli

    url = f"sqlite:///{tmp_path / 'g.db'}"
    code = cli.main(["study", "launch", "--preset", str(tiny_preset), "--storage", url, "--no-progress", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and fragment in err[0], err
    assert not (tmp_path / "g.db").exists() and not (tmp_path / "artifacts").exists()


def test_a_worker_refuses_fp16_on_a_cpu_and_a_bad_trials_per_gpu(tiny_preset, sqlite_url, capsys):
    import cli

    spec = load_preset(str(tiny_preset))
    create_or_resume(spec, sqlite_url, "w")
    before = [(t.number, t.state) for t in load_study(sqlite_url, "w").trials]
    base = ["study", "worker", "--storage", sqlite_url, "--study-name", "w", "--device", "cpu"]
    assert cli.main([*base, "--trials-per-gpu", "0"]) == 2
    assert "--trials-per-gpu 0 is out of range" in capsys.readouterr().err
    fp16 = f"sqlite:///{sqlite_url.removeprefix('sqlite:///')}.fp16"
    from studies import Overrides

    create_or_resume(Overrides(values={"precision": "fp16"}).apply(spec), fp16, "h", check_data=False)
    assert cli.main(["study", "worker", "--storage", fp16, "--study-name", "h", "--device", "cpu"]) == 2
    assert "precision 'fp16' needs a CUDA GPU" in capsys.readouterr().err
    assert all(t.state == TrialState.WAITING for t in load_study(fp16, "h").trials)
    assert [(t.number, t.state) for t in load_study(sqlite_url, "w").trials] == before


def _fake_gpus(monkeypatch, count: int = 4) -> None:
    import studies.engine._processes

    _FakePopen.started, _FakePopen.instances, _FakePopen.collector = [], [], []
    monkeypatch.setattr(studies.engine._processes.subprocess, "Popen", _FakePopen)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: count)


def _flags(cmd: list[str]) -> dict[str, str]:
    return {f: cmd[cmd.index(f) + 1] for f in cmd if f.startswith("--") and f not in ("--quiet", "--gated")}


def test_k_trial_processes_share_each_gpu(tiny_preset, sqlite_url, monkeypatch, capsys):
    import cli

    _fake_gpus(monkeypatch)
    code = cli.main(["study", "launch", "--preset", str(tiny_preset), "--storage", sqlite_url, "--study-name", "k",
                     "--gpus", "0,2", "--trials-per-gpu", "2", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    started = [(env["CUDA_VISIBLE_DEVICES"], _flags(cmd)) for cmd, env in _FakePopen.started]
    assert [(gpu, f["--gpu-slot"], f["--worker-index"]) for gpu, f in started] == [
        ("0", "0/2", "0"), ("2", "0/2", "1"), ("0", "1/2", "2"), ("2", "1/2", "3")]  # slot 0 of every GPU first
    assert {json.loads(p.stdin.written)["trials_per_gpu"] for p in _FakePopen.instances} == {2}


def test_auto_measures_a_trial_and_fills_the_free_memory(tiny_preset, sqlite_url, monkeypatch, capsys):
    import cli

    _fake_gpus(monkeypatch)
    measured = []
    monkeypatch.setattr(gpu_share, "_largest_footprint",
                        lambda spec, device, data_dir: measured.append(device) or (GIB, "seq abc"))
    monkeypatch.setattr("torch.cuda.mem_get_info", lambda index=None: (int(3.5 * GIB), 80 * GIB))
    monkeypatch.setattr(gpu_share.os, "cpu_count", lambda: 16)
    code = cli.main(["study", "launch", "--preset", str(tiny_preset), "--storage", sqlite_url, "--study-name", "a",
                     "--gpus", "0,1", "--no-progress"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert measured == [torch.device("cuda", 0)]
    assert "trials per GPU: auto: 3 (a trial of seq abc takes 1.00 GiB measured; 3.5 GiB free" in out.err
    started = [(env["CUDA_VISIBLE_DEVICES"], _flags(cmd).get("--gpu-slot")) for cmd, env in _FakePopen.started]
    # slot 0 of each GPU starts before the validation; slots 1 and 2 once a trial was measured
    assert started == [("0", None), ("1", None), ("0", "1/3"), ("1", "1/3"), ("0", "2/3"), ("1", "2/3")]
    assert {json.loads(p.stdin.written)["trials_per_gpu"] for p in _FakePopen.instances} == {3}


def test_auto_is_one_on_a_cpu(tiny_preset):
    share = gpu_share.resolve_trials_per_gpu("auto", load_preset(str(tiny_preset)), gpus=None, device="cpu")
    assert share.per_gpu == 1 and "cpu" in share.reason


@pytest.fixture
def oom_once(monkeypatch):
    """The objective raises torch.OutOfMemoryError in the first trial it runs (its number goes to
    ``oom_once['trials']``)."""
    state = {"remaining": 1, "trials": []}
    real = studies.engine._worker.make_objective

    def make(*args, **kwargs):
        objective = real(*args, **kwargs)

        def run(trial):
            if state["remaining"]:
                state["remaining"] -= 1
                state["trials"].append(trial.number)
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return objective(trial)

        return run

    monkeypatch.setattr(studies.engine._worker, "make_objective", make)
    return state


def _by_state(study: optuna.Study) -> dict[TrialState, int]:
    counts: dict[TrialState, int] = {}
    for t in study.trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    return counts


def test_a_trial_out_of_gpu_memory_fails_alone_and_is_retried_with_fewer_neighbours(tiny_preset, sqlite_url, oom_once):
    create_or_resume(load_preset(str(tiny_preset)), sqlite_url, "o")
    # slot 1 of 2 on its GPU: it hands the cell back and retires, leaving the GPU to slot 0
    report = run_worker(sqlite_url, "o", device="cpu", gpu_slot=(1, 2))
    assert report.retired and "out of GPU memory" in report.retired and report.failed == 1
    study = load_study(sqlite_url, "o")
    failed = study.trials[oom_once["trials"][0]]
    assert failed.state == TrialState.FAIL and failed.user_attrs["fail_reason"].startswith(OOM_HANDED_BACK)
    retry = [t for t in study.trials if t.state == TrialState.WAITING and t.user_attrs.get("oom_retries") == 1]
    assert len(retry) == 1 and retry[0].params == failed.params
    # the worker that stays runs everything else, the retried cell included; nothing else was lost
    report = run_worker(sqlite_url, "o", device="cpu", gpu_slot=(0, 2))
    assert report.retired is None and report.failed == 0
    assert _by_state(load_study(sqlite_url, "o")) == {TrialState.COMPLETE: 6, TrialState.FAIL: 1}


def test_out_of_memory_alone_on_the_gpu_or_too_often_fails_for_good(tiny_preset, sqlite_url, oom_once):
    create_or_resume(load_preset(str(tiny_preset)), sqlite_url, "p")
    report = run_worker(sqlite_url, "p", device="cpu", gpu_slot=(0, 1))  # alone: no neighbours to blame
    assert report.retired is None and report.failed == 1 and report.completed == 5
    study = load_study(sqlite_url, "p")
    assert "the trial alone does not fit" in study.trials[oom_once["trials"][0]].user_attrs["fail_reason"]
    assert not study.get_trials(states=(TrialState.WAITING,))  # not queued again
    twice = type("Trial", (), {"user_attrs": {"oom_retries": gpu_share.OOM_RETRIES}})()
    reason, again, retire = gpu_share.oom_outcome(twice, slot=1, per_gpu=4)
    assert (again, retire) == (False, False) and "again after 2 retries" in reason


def test_one_cuda_device_without_gpus_shares_it_with_this_process():
    from studies.engine._processes import worker_commands

    commands = worker_commands("sqlite:///x.db", "s", device="cuda:1", start=1, trials_per_gpu=3, on_cuda=True)
    flags = [_flags(cmd) for cmd, _ in commands]
    assert [(f["--device"], f["--gpu-slot"], f["--worker-index"]) for f in flags] == [
        ("cuda:1", "1/3", "1"), ("cuda:1", "2/3", "2")]  # slot 0 is the launch (or `study worker`) itself
    assert all(env == {} for _, env in commands)  # no CUDA_VISIBLE_DEVICES, no CPU thread split
