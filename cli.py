"""layerlab's command line: a thin layer over the programmatic API.

    python cli.py study launch [--preset demo] [--storage URL] ...
    python cli.py study worker --storage URL --study-name NAME
    python cli.py study status --storage URL --study-name NAME [--json]
    python cli.py study dashboard [--storage URL] [--port 8080] [--host 127.0.0.1]
    python cli.py model describe FAMILY [--set key=value ...] [--json]
    python cli.py space grid --preset NAME [--json]
    python cli.py presets list | presets show NAME

A user mistake prints one line (``error: ...``) and exits with code 2; a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit code 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`)\n")
        sys.exit(EXIT_USAGE)


def parse_value(text: str) -> Any:
    """A ``--set`` value: YAML scalars (``0.01``, ``true``, ``null``), ``[a, b]`` lists, and
    comma-separated lists (``512,256,128,64``)."""
    import yaml

    text = text.strip()
    if "," in text and not text.startswith(("[", "{")):
        return [parse_value(part) for part in text.split(",")]
    try:
        return yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text


def parse_sets(items: Sequence[str] | None) -> dict[str, Any]:
    from searchspace import ConfigError

    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"malformed --set {item!r}: expected key=value, e.g. --set lr=0.01")
        out[key.strip()] = parse_value(value)
    return out


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


# -- study ---------------------------------------------------------------------------------------


def _spec_from_args(args: argparse.Namespace):
    from studies import Overrides, load_preset

    spec = load_preset(args.preset)
    return Overrides(
        dataset=getattr(args, "dataset", None),
        epochs=getattr(args, "epochs", None),
        repeats=getattr(args, "repeats", None),
        sampler=getattr(args, "sampler", None),
        n_trials=getattr(args, "n_trials", None),
        pruner=getattr(args, "pruner", None),
        seed=getattr(args, "seed", None),
        values=parse_sets(getattr(args, "set", None)),
    ).apply(spec)


def cmd_study_launch(args: argparse.Namespace) -> int:
    from studies import format_leaderboard, launch, leaderboard

    spec = _spec_from_args(args)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # running cells go back to the queue, workers stop
    study = launch(
        spec,
        storage=args.storage,
        study_name=args.study_name,
        workers=args.workers,
        gpus=args.gpus,
        device=args.device,
        data_dir=args.data_dir,
        artifact_dir=args.artifact_dir,
        progress=not args.no_progress,
        options=_storage_options(args),
        retry_failed=args.retry_failed,
        queue_only=args.queue_only,
    )
    if args.queue_only:
        from studies import format_status, study_status

        print(format_status(study_status(study)))
        return 0
    from studies._storage import redact

    print(f"study {study.study_name!r} in {redact(args.storage)}: {spec.description or spec.name}")
    print(format_leaderboard(leaderboard(study)))
    return 0


def _storage_options(args: argparse.Namespace):
    from studies import StorageOptions

    return StorageOptions(heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period)


def _env_seconds(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return _positive_int(value)
    except argparse.ArgumentTypeError as exc:
        from searchspace import ConfigError

        raise ConfigError(f"${name}: {exc}") from None


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # the worker hands its running cell back to the queue


def cmd_study_worker(args: argparse.Namespace) -> int:
    from studies import run_worker

    signal.signal(signal.SIGTERM, _raise_interrupt)  # e.g. a cluster scheduler preempting the job
    report = run_worker(
        args.storage,
        args.study_name,
        device=args.device,
        data_dir=args.data_dir,
        checkpoint_dir=args.checkpoint_dir,
        artifact_dir=args.artifact_dir,
        worker_index=args.worker_index,
        options=_storage_options(args),
        wait=not args.no_wait,
    )
    if not args.quiet:
        print(f"worker {args.worker_index}: {report.completed} complete, {report.pruned} pruned, {report.failed} failed")
    return 0


def cmd_study_status(args: argparse.Namespace) -> int:
    from studies import format_status, load_study, study_status

    status = study_status(load_study(args.storage, args.study_name))
    if args.json:
        _print_json(status)
        return 0
    print(format_status(status))
    return 0


def cmd_study_dashboard(args: argparse.Namespace) -> int:
    from studies import run_dashboard

    run_dashboard(args.storage, host=args.host, port=args.port, artifact_dir=args.artifact_dir)
    return 0


# -- model, space, presets -------------------------------------------------------------------------


def cmd_model_describe(args: argparse.Namespace) -> int:
    from searchspace import build_model, describe_model

    kwargs = parse_sets(args.set)
    size = args.input_size
    model = build_model(args.family, in_channels=args.in_channels, num_classes=args.num_classes, input_size=size, **kwargs)
    info = describe_model(model, in_channels=args.in_channels, input_size=size)
    if args.json:
        _print_json(info)
        return 0
    print(f"{args.family}: {info['params']:,} parameters, output {tuple(info['output_shape'])}")
    for layer in info["layers"]:
        print(f"  {layer['name']:<40} {layer['type']:<20} {str(tuple(layer['output_shape'])):<22} {layer['params']:>10,}")
    return 0


def cmd_space_grid(args: argparse.Namespace) -> int:
    from objectives import RunConfig
    from searchspace import config_id, grid_points

    spec = _spec_from_args(args)
    size = spec.grid_size()
    points = grid_points(spec.space, limit=args.limit)
    if args.json:
        _print_json({
            "preset": spec.name,
            "grid_size": size,
            "repeats": spec.repeats,
            "configs": [{"params": p.params, "config": p.config, "config_id": config_id(RunConfig.from_flat(p.config).to_flat())} for p in points],
        })
        return 0
    print(f"preset {spec.name!r}: {size} configs x {spec.repeats} repeats = {size * spec.repeats} trials")
    for i, p in enumerate(points):
        shown = ", ".join(f"{k}={v}" for k, v in p.params.items()) or "(fixed)"
        print(f"{i + 1:>4}  {shown}")
    return 0


def cmd_presets_list(args: argparse.Namespace) -> int:
    from studies import list_presets, load_preset

    for name in list_presets():
        spec = load_preset(name)
        print(f"{name:<16} {spec.description}")
    return 0


def cmd_presets_show(args: argparse.Namespace) -> int:
    from studies import load_preset, read_preset

    from studies._presets import preset_path

    spec = load_preset(args.name)
    if args.json:
        _print_json(spec.to_dict())
        return 0
    print(preset_path(args.name).read_text().rstrip())
    if spec.sampler == "grid":
        print(f"# grid: {spec.grid_size()} configs x {spec.repeats} repeats = {spec.total_cells()} trials")
    read_preset(args.name)
    return 0


# -- parser ---------------------------------------------------------------------------------------


def _add_spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="demo", help="preset name or path to a preset YAML (default: demo)")
    p.add_argument("--sampler", choices=["grid", "tpe", "random"], help="override the preset's sampler")
    p.add_argument("--n-trials", type=_positive_int, help="configs to sample (tpe/random) or grid cells to subset")
    p.add_argument("--repeats", type=_positive_int, help="seed repeats per config")
    p.add_argument("--dataset", help="override the dataset, e.g. digits, mnist5k")
    p.add_argument("--epochs", type=_positive_int, help="override the maximum epochs")
    p.add_argument("--pruner", choices=["none", "median", "halving", "hyperband"])
    p.add_argument("--seed", type=int, help="sampler seed; repeat r trains with seed + r")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="pin a config value (repeatable)")


def _add_heartbeat_args(p: argparse.ArgumentParser) -> None:
    from studies._storage import GRACE_PERIOD, HEARTBEAT_INTERVAL

    p.add_argument("--heartbeat-interval", type=_positive_int, metavar="S",
                   default=_env_seconds("LAYERLAB_HEARTBEAT_INTERVAL", HEARTBEAT_INTERVAL),
                   help=f"seconds between a running trial's heartbeats (default: $LAYERLAB_HEARTBEAT_INTERVAL or {HEARTBEAT_INTERVAL})")
    p.add_argument("--grace-period", type=_positive_int, metavar="S",
                   default=_env_seconds("LAYERLAB_GRACE_PERIOD", GRACE_PERIOD),
                   help=f"seconds without a heartbeat before a trial counts as dead and is re-queued (default: $LAYERLAB_GRACE_PERIOD or {GRACE_PERIOD})")


def build_parser() -> argparse.ArgumentParser:
    from studies import DEFAULT_STORAGE

    parser = _Parser(prog="layerlab", description="Architecture-ablation search on Optuna.")
    groups = parser.add_subparsers(dest="group", required=True, parser_class=_Parser)

    study = groups.add_parser("study", help="launch, join and inspect studies").add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = study.add_parser("launch", help="create or resume a study and run it")
    _add_spec_args(p)
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"storage URL (default: {DEFAULT_STORAGE})")
    p.add_argument("--study-name", help="default: the preset name")
    p.add_argument("--workers", type=_positive_int, default=1, help="local worker processes")
    p.add_argument("--gpus", type=_csv, help="one worker per GPU, e.g. 0,1,2,3")
    p.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")
    p.add_argument("--data-dir", help="dataset directory (default: $LAYERLAB_DATA or ~/.cache/layerlab)")
    p.add_argument("--artifact-dir", help="trial artifacts (default: artifacts/ next to a SQLite or journal file, else runs/artifacts)")
    p.add_argument("--retry-failed", action="store_true", help="queue one more try of every cell whose trials all failed")
    p.add_argument("--queue-only", action="store_true", help="create/resume the study and queue its cells; start no worker")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_heartbeat_args(p)
    p.set_defaults(func=cmd_study_launch)

    p = study.add_parser("worker", help="join an existing study and run its queued cells")
    p.add_argument("--storage", required=True)
    p.add_argument("--study-name", required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir")
    p.add_argument("--checkpoint-dir", help="per-epoch checkpoints (default: none)")
    p.add_argument("--artifact-dir", help="trial artifacts (default: the directory recorded on the study)")
    p.add_argument("--worker-index", type=int, default=0, help="seeds this worker's sampler")
    p.add_argument("--no-wait", action="store_true", help="exit when nothing is waiting, even while other trials run")
    p.add_argument("--quiet", action="store_true")
    _add_heartbeat_args(p)
    p.set_defaults(func=cmd_study_worker)

    p = study.add_parser("status", help="counts by state and grid progress")
    p.add_argument("--storage", default=DEFAULT_STORAGE)
    p.add_argument("--study-name", required=True)
    p.add_argument("--json", action="store_true", help="machine-readable; keys documented in studies.study_status")
    p.set_defaults(func=cmd_study_status)

    p = study.add_parser("dashboard", help="optuna-dashboard over a storage, with trial artifacts")
    p.add_argument("--storage", default=DEFAULT_STORAGE)
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_positive_int, default=8080)
    p.add_argument("--artifact-dir", help="default: the directories recorded on the storage's studies")
    p.set_defaults(func=cmd_study_dashboard)

    model = groups.add_parser("model", help="inspect architecture families").add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = model.add_parser("describe", help="parameter count, output shape and layers of a family")
    p.add_argument("family")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--input-size", type=_positive_int, default=32)
    p.add_argument("--in-channels", type=_positive_int, default=3)
    p.add_argument("--num-classes", type=_positive_int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_model_describe)

    space = groups.add_parser("space", help="inspect search spaces").add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = space.add_parser("grid", help="grid size and configs of a preset")
    _add_spec_args(p)
    p.add_argument("--limit", type=_positive_int, help="show at most this many configs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_space_grid)

    presets = groups.add_parser("presets", help="list and show presets").add_subparsers(dest="command", required=True, parser_class=_Parser)
    presets.add_parser("list").set_defaults(func=cmd_presets_list)
    p = presets.add_parser("show")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_presets_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["study"] and len(argv) == 1:
        argv.append("launch")  # `layerlab study` alone runs the default study
    from searchspace import LayerlabError

    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except LayerlabError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
