"""layerlab's command line: a thin layer over the programmatic API.

    python cli.py study launch [--preset demo] [--storage URL] ...
    python cli.py study worker --storage URL --study-name NAME
    python cli.py study status --storage URL --study-name NAME [--json]
    python cli.py study report --storage URL --study-name NAME [--out report.html] [--json]
    python cli.py study compare --storage URL --study-name A --study-name B [--top-k K] [--json]
    python cli.py study aggregate --storage URL --study-name A [--study-name B ...] [--over dataset] [--json]
    python cli.py study datasets NAME [NAME ...] [--json]
    python cli.py study dashboard [--storage URL] [--port 8080] [--host 127.0.0.1]
    python cli.py model describe FAMILY [--set key=value ...] [--json]
    python cli.py space grid --preset NAME [--json]
    python cli.py presets list | presets show NAME
    python cli.py data list | data describe NAME [--json] | data download NAME

A user mistake prints one line (``error: ...``) and exits with code 2; a bug keeps its traceback.
Exit codes (docs/robustness.md): 0 done, 1 a bug, 2 bad input, 3 a launch left failed cells,
4 an infrastructure fault (full disk, storage lost or locked), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit code 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`)\n")
        sys.exit(EXIT_USAGE)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number; valid: 1-65535")
    return value


def _repeats(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _print_json(data: Any) -> None:
    """Every ``--json`` prints through ``to_json``: strict JSON (NaN and inf become null), which
    jq and JSON.parse read; ``json.dumps`` alone writes a bare ``NaN`` that they reject."""
    from studies import to_json

    print(to_json(data, indent=2))


# -- study ---------------------------------------------------------------------------------------


def _spec_from_args(args: argparse.Namespace):
    """The preset with the command line's overrides applied: (spec, overrides)."""
    from studies import Overrides, load_preset, read_preset

    read_preset(args.preset)  # names first (preset, then keys, datasets, families), before torch is imported
    overrides = Overrides(
        dataset=getattr(args, "dataset", None),
        epochs=getattr(args, "epochs", None),
        repeats=getattr(args, "repeats", None),
        sampler=getattr(args, "sampler", None),
        n_trials=getattr(args, "n_trials", None),
        pruner=getattr(args, "pruner", None),
        seed=getattr(args, "seed", None),
        values=Overrides.parse_sets(getattr(args, "set", None)),
        vary=getattr(args, "vary", None),
    )
    return overrides.apply(load_preset(args.preset)), overrides


def _race_from_args(args: argparse.Namespace):
    """RaceSettings for ``--race`` / ``--repeats auto`` (None otherwise); checked before anything is written."""
    from searchspace import StudyError
    from studies import RaceSettings

    racing = args.race or args.repeats == "auto"
    given = [f for f in ("min_repeats", "max_repeats", "race_mode", "margin", "futility", "compare_with")
             if getattr(args, f) is not None]
    if not racing:
        if given:
            raise StudyError(f"--{given[0].replace('_', '-')} only applies to a race; add --race (or --repeats auto)")
        return None
    if args.repeats not in (None, "auto"):
        raise StudyError(f"--repeats {args.repeats} contradicts --race: a race sets repeats per config "
                        "(use --min-repeats/--max-repeats)")
    args.repeats = None
    return RaceSettings(
        min_repeats=3 if args.min_repeats is None else args.min_repeats,
        max_repeats=10 if args.max_repeats is None else args.max_repeats,
        alpha=args.alpha, mode=args.race_mode, margin=args.margin,
        **({} if args.futility is None else {"futility": args.futility}),
    )


def cmd_study_launch(args: argparse.Namespace) -> int:
    race = _race_from_args(args)
    spec, overrides = _spec_from_args(args)
    from studies import format_launch, launch

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
        checkpoint_dir=args.checkpoint_dir,
        max_cells=args.max_cells,
        batch_repeats=args.batch_repeats,
        race=race,
        trials_per_gpu=args.trials_per_gpu,
        compare_with=args.compare_with,
        handle_signals=True,  # Ctrl-C, SIGTERM, SIGHUP: running cells go back to the queue, workers stop
    )
    summary = format_launch(study, spec, storage=args.storage, overrides=overrides, race=race,
                            queue_only=args.queue_only, compare_with=args.compare_with)
    print(summary.text)
    if summary.error:
        sys.stderr.write(f"error: {summary.error}\n")
    print(summary.next_steps)
    return 3 if summary.error else 0


def _storage_options(args: argparse.Namespace):
    from studies import StorageOptions

    limit = {} if args.outage_limit is None else {"outage_limit": args.outage_limit}
    return StorageOptions(heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period, **limit)


def _env_seconds(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return _positive_int(value)
    except argparse.ArgumentTypeError as exc:
        from searchspace import ConfigError

        raise ConfigError(f"${name}: {exc}") from None


def _add_batch_repeats_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--batch-repeats", choices=("auto", "on", "off"), default="off",
        help="train a config's repeats together as one fused model (docs/gpu.md); "
             "auto: only where a probe measures it faster",
    )


def _add_trials_per_gpu_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trials-per-gpu", metavar="K|auto", default="auto",
                   help="trial processes sharing each GPU (default auto: as many as a measured trial fits; 1 on a CPU)")


def cmd_study_worker(args: argparse.Namespace) -> int:
    from studies import run_worker

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
        batch_repeats=args.batch_repeats,
        trials_per_gpu=args.trials_per_gpu,
        handle_signals=True,  # e.g. a cluster scheduler preempting the job (SIGTERM), Ctrl-C, SIGHUP
    )
    if not args.quiet:
        print(f"worker {args.worker_index}: {report.completed} complete, {report.pruned} pruned, "
              f"{report.failed} failed")
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


def cmd_study_report(args: argparse.Namespace) -> int:
    from studies import build_report, load_study, save_report

    study = load_study(args.storage, args.study_name)
    other = load_study(args.storage, args.compare_with) if args.compare_with else None
    report = build_report(study, baseline=args.baseline, compare_with=other, alpha=args.alpha, test=args.test,
                          n_bootstrap=args.bootstrap, seed=args.seed, data_dir=args.data_dir, datasets=args.datasets,
                          progress=not args.no_progress and sys.stderr.isatty(), margin=args.margin)
    if args.out or not args.json:  # the default file is named after the study (a name is never a path)
        save_report(report, args.out or None, study, storage=args.storage, artifact_dir=args.artifact_dir,
                    upload=not args.no_upload, plotly=args.plotly,
                    warn=lambda message: sys.stderr.write(f"warning: {message}\n"))
    if args.json:
        print(report.to_json(indent=2))
        return 0
    print(report.summary())
    if "report_path" in report.data:
        print(f"report: {report.data['report_path']}")
        if "artifact" in report.data:
            print(f"attached to the study as artifact {report.data['artifact']['id']} "
                  f"(optuna-dashboard {args.storage} --artifact-dir {report.data['artifact']['dir']})")
    return 0


def cmd_study_compare(args: argparse.Namespace) -> int:
    from studies import compare_studies, format_comparison, load_study

    if len(args.study_name) != 2:
        from searchspace import AnalysisError

        raise AnalysisError(f"study compare needs exactly two --study-name, got {len(args.study_name)}")
    a = load_study(args.storage, args.study_name[0])
    b = load_study(args.storage_b or args.storage, args.study_name[1])
    result = compare_studies(a, b, metric=args.metric, top_k=args.top_k, n_bootstrap=args.bootstrap, seed=args.seed,
                             ignore=args.ignore or (), where_a=args.where_a, where_b=args.where_b)
    if args.json:
        _print_json(result)
        return 0
    print(format_comparison(result))
    return 0


def cmd_study_aggregate(args: argparse.Namespace) -> int:
    from studies import aggregate_studies, format_aggregate, load_study, write_aggregate

    studies = [load_study(args.storage, name) for name in args.study_name]
    result = aggregate_studies(studies, over=args.over, metric=args.metric, normalize=args.normalize,
                               baseline=args.baseline, n_bootstrap=args.bootstrap, seed=args.seed)
    out = args.out or (None if args.json else f"{args.study_name[0]}-aggregate.html")
    if out is not None:
        write_aggregate(result, out, plotly=args.plotly)
    if args.json:
        _print_json(result)
        return 0
    print(format_aggregate(result))
    if out is not None:
        print(f"aggregate: {out}")
    return 0


def cmd_study_datasets(args: argparse.Namespace) -> int:
    from studies import dataset_statistics, format_datasets

    info = {name: dataset_statistics(name, args.data_dir) for name in args.names}
    if args.json:
        _print_json(info)
        return 0
    print(format_datasets(info))
    return 0


# -- model, space, presets -------------------------------------------------------------------------


def cmd_model_describe(args: argparse.Namespace) -> int:
    from objectives import check_names
    from studies import Overrides

    kwargs = Overrides.parse_sets(args.set)
    check_names({**kwargs, "family": args.family})  # before torch is imported
    from searchspace import build_model, describe_model

    # the common keys may come as flags or as --set values (the --set value wins)
    in_channels = kwargs.pop("in_channels", args.in_channels)
    num_classes = kwargs.pop("num_classes", args.num_classes)
    size = kwargs.pop("input_size", args.input_size)
    model = build_model(args.family, in_channels=in_channels, num_classes=num_classes, input_size=size, **kwargs)
    info = describe_model(model, in_channels=in_channels, input_size=size)
    if args.json:
        _print_json(info)
        return 0
    print(f"{args.family}: {info['params']:,} parameters, output {tuple(info['output_shape'])}")
    for layer in info["layers"]:
        print(f"  {layer['name']:<40} {layer['type']:<20} {str(tuple(layer['output_shape'])):<22} "
              f"{layer['params']:>10,}")
    return 0


def cmd_space_grid(args: argparse.Namespace) -> int:
    spec, _ = _spec_from_args(args)
    from studies import describe_grid

    listing = describe_grid(spec, limit=args.limit)
    if args.json:
        _print_json(listing.to_dict())
        return 0
    print(listing.text(preset=args.preset))
    return 0


def cmd_presets_list(args: argparse.Namespace) -> int:
    from studies import list_presets, read_preset

    # read_preset checks a file's structure only: one preset that names a key this install lacks
    # must not hide the others (`presets show NAME` reports it in full).
    for name in list_presets():
        print(f"{name:<16} {read_preset(name).get('description', '')}")
    return 0


def cmd_presets_show(args: argparse.Namespace) -> int:
    from studies import load_preset, show_preset

    if args.json:
        _print_json(load_preset(args.name).to_dict())
        return 0
    print(show_preset(args.name))
    return 0


# -- data -----------------------------------------------------------------------------------------


def cmd_data_list(args: argparse.Namespace) -> int:
    from objectives import dataset_table, format_dataset_table

    rows = dataset_table(args.data_dir)
    if args.json:
        _print_json(rows)
        return 0
    print(format_dataset_table(rows, args.data_dir))
    return 0


def cmd_data_describe(args: argparse.Namespace) -> int:
    from objectives import check_names

    check_names(dataset=args.name)  # before torch is imported
    from objectives import describe_dataset

    info = describe_dataset(args.name, args.data_dir, split=args.split, size=args.size)
    if args.json:
        _print_json(info)
        return 0
    print(f"{info['name']}: {info['description']}")
    print(f"  source: {info['source']}" + (f" ({info['files']})" if info["files"] else ""))
    h, w = info["image_size"]
    print(f"  images: {info['channels']} x {h} x {w} uint8, {info['num_classes']} classes")
    print("  official parts: " + ", ".join(f"{k} {v:,}" for k, v in info["official"].items()))
    print(f"  split {info['split']}: " + ", ".join(f"{k} {v:,}" for k, v in info["split_sizes"].items()))
    parts = list(info["class_balance"])
    print(f"  {'class':<24}" + "".join(f"{p:>9}" for p in parts))
    for name in info["classes"]:
        print(f"  {name[:24]:<24}" + "".join(f"{info['class_balance'][p][name]:>9,}" for p in parts))
    return 0


def cmd_data_download(args: argparse.Namespace) -> int:
    from objectives import check_names

    check_names(dataset=args.name)  # before torch is imported
    from objectives import load_dataset

    raw = load_dataset(args.name, args.data_dir, size=args.size, download=True)
    sizes = ", ".join(f"{k} {len(y):,}" for k, (_, y) in raw.parts().items())
    print(f"{args.name}: {sizes} images in {raw.meta.get('files', 'the installed package')}")
    return 0


# -- parser ---------------------------------------------------------------------------------------


def _add_spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="demo", help="preset name or path to a preset YAML (default: demo)")
    p.add_argument("--sampler", choices=["grid", "tpe", "random"], help="override the preset's sampler")
    p.add_argument("--n-trials", type=_positive_int, help="configs to sample (tpe/random) or grid cells to subset")
    p.add_argument("--repeats", type=_repeats, help="seed repeats per config (study launch: auto races them)")
    p.add_argument("--dataset", help="override the dataset, e.g. digits, mnist5k")
    p.add_argument("--epochs", type=_positive_int, help="override the maximum epochs")
    p.add_argument("--pruner", choices=["none", "median", "halving", "hyperband"],
                   help="override the preset's pruner: stops a config only when its repeats show it worse than the "
                        "top 3 (docs/speed.md#pruning-by-config)")
    p.add_argument("--seed", type=int, help="sampler seed; repeat r trains with seed + r")
    p.add_argument("--vary", metavar="SOURCES", help="variance design: vary each source alone, --repeats per source "
                   "(init,order,augment,dropout,split,joint | all | none): docs/statistics.md#sources-of-variance")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="pin a config value (repeatable)")


def _add_heartbeat_args(p: argparse.ArgumentParser) -> None:
    from studies import StorageOptions

    # the dataclass's defaults, read from the class without building one (that would read the environment)
    heartbeat, grace = StorageOptions.heartbeat_interval, StorageOptions.grace_period

    p.add_argument("--heartbeat-interval", type=_positive_int, metavar="S",
                   default=_env_seconds("LAYERLAB_HEARTBEAT_INTERVAL", heartbeat),
                   help="seconds between a running trial's heartbeats "
                        f"(default: $LAYERLAB_HEARTBEAT_INTERVAL or {heartbeat})")
    p.add_argument("--grace-period", type=_positive_int, metavar="S",
                   default=_env_seconds("LAYERLAB_GRACE_PERIOD", grace),
                   help="seconds without a heartbeat before a trial counts as dead and is re-queued "
                        f"(default: $LAYERLAB_GRACE_PERIOD or {grace})")
    p.add_argument("--outage-limit", type=_positive_int, metavar="S",
                   help="seconds a storage may stay locked, unreachable or read-only before the workers stop (exit 4; "
                        "rerun to resume) (default: $LAYERLAB_STORAGE_WAIT or 600)")


def build_parser() -> argparse.ArgumentParser:
    from studies import StorageOptions, StudySpec

    default_storage, max_cells = StorageOptions.DEFAULT_STORAGE, StudySpec.MAX_CELLS

    parser = _Parser(prog="layerlab", description="Architecture-ablation search on Optuna.")
    groups = parser.add_subparsers(dest="group", required=True, parser_class=_Parser)

    study = groups.add_parser("study", help="launch, join and inspect studies").add_subparsers(
        dest="command", required=True, parser_class=_Parser)
    p = study.add_parser("launch", help="create or resume a study and run it")
    _add_spec_args(p)
    p.add_argument("--storage", default=default_storage, help=f"storage URL (default: {default_storage})")
    p.add_argument("--study-name", help="default: the preset name")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="local workers: this process and N-1 worker processes")
    p.add_argument("--gpus", type=_csv, help="workers on these GPUs, e.g. 0,1,2,3 (--trials-per-gpu each)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")
    p.add_argument("--data-dir", help="dataset directory (default: $LAYERLAB_DATA or ~/.cache/layerlab)")
    p.add_argument("--artifact-dir",
                   help="trial artifacts (default: artifacts/ next to a SQLite or journal file, else runs/artifacts)")
    p.add_argument("--retry-failed", action="store_true",
                   help="queue one more try of every cell whose trials all failed")
    p.add_argument("--checkpoint-dir", help="where running cells checkpoint (default: checkpoints/<study> beside the "
                   "artifact directory); recorded on the study")
    p.add_argument("--max-cells", type=_positive_int, default=max_cells, metavar="N",
                   help=f"refuse a study of more than N cells before writing anything (default {max_cells:,})")
    p.add_argument("--queue-only", action="store_true",
                   help="create/resume the study and queue its cells; start no worker")
    p.add_argument("--race", action="store_true", help="race the seed repeats (same as --repeats auto): docs/racing.md")
    p.add_argument("--min-repeats", type=int, help="race: seeds every config gets first (default 3)")
    p.add_argument("--max-repeats", type=int, help="race: seeds no config goes beyond (default 10)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="race: family-wise error rate of its verdicts (default 0.05)")
    p.add_argument("--race-mode", choices=["ablation", "selection", "transfer"],
                   help="race: vs the baseline (default with one), find the top set, or transfer (with --compare-with)")
    p.add_argument("--margin", type=float,
                   help="race, ablation: |difference| below this is 'equivalent' (TOST); default none")
    p.add_argument("--futility", type=float,
                   help="race, ablation: stop a config below this predictive power (default 0.02; 0: never)")
    p.add_argument("--compare-with", metavar="STUDY",
                   help="race, transfer: the other study (same storage) to race this one against: docs/racing.md")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_batch_repeats_arg(p)
    _add_trials_per_gpu_arg(p)
    _add_heartbeat_args(p)
    p.set_defaults(func=cmd_study_launch)

    p = study.add_parser("worker", help="join an existing study and run its queued cells")
    p.add_argument("--storage", required=True, help="storage URL of the study")
    p.add_argument("--study-name", required=True, help="the study to join")
    p.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")
    p.add_argument("--data-dir", help="dataset directory (default: $LAYERLAB_DATA or ~/.cache/layerlab)")
    p.add_argument("--checkpoint-dir",
                   help="checkpoints of running cells (default: the directory recorded on the study)")
    p.add_argument("--artifact-dir", help="trial artifacts (default: the directory recorded on the study)")
    p.add_argument("--worker-index", type=int, default=0, help="seeds this worker's sampler")
    p.add_argument("--no-wait", action="store_true", help="exit when nothing is waiting, even while other trials run")
    p.add_argument("--quiet", action="store_true", help="print no summary line at the end")
    _add_batch_repeats_arg(p)
    _add_trials_per_gpu_arg(p)
    _add_heartbeat_args(p)
    p.set_defaults(func=cmd_study_worker)

    p = study.add_parser("status", help="counts by state and grid progress")
    p.add_argument("--storage", default=default_storage)
    p.add_argument("--study-name", required=True, help="the study to read")
    p.add_argument("--json", action="store_true", help="machine-readable; keys documented in studies.study_status")
    p.set_defaults(func=cmd_study_status)

    p = study.add_parser("report",
                         help="self-contained HTML report (leaderboard, ablation, importance with CIs, plots)")
    p.add_argument("--storage", default=default_storage)
    p.add_argument("--study-name", required=True, help="the study to report on")
    p.add_argument("--out", help="HTML file to write (default: <study>-report.html; with --json alone: none)")
    p.add_argument("--json", action="store_true", help="print the report's numbers as JSON")
    p.add_argument("--baseline",
                   help="reference config for the ablation, key=value[,key=value] (default: the preset's)")
    p.add_argument("--compare-with", metavar="STUDY", help="add the rank transfer to this study (same storage)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the verdicts (default 0.05)")
    p.add_argument("--test", choices=["t", "wilcoxon"], default="t",
                   help="paired test (wilcoxon needs 6+ seeds to reject at 0.05)")
    p.add_argument("--margin", type=float, metavar="DELTA",
                   help="equivalence margin: rows without a detectable difference get a TOST verdict "
                        "(equivalent within +-DELTA, or undecided)")
    p.add_argument("--bootstrap", type=int, default=0, help="bootstrap replicates for the CIs of the secondary "
                   "importance evaluators (fANOVA, PED-ANOVA, MDI; no verdict rests on them); 0: none")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the forests")
    p.add_argument("--artifact-dir",
                   help="Optuna artifact directory (default: the one recorded on the study, as the dashboard uses)")
    p.add_argument("--no-upload", action="store_true", help="do not attach the report to the study")
    p.add_argument("--plotly", choices=["inline", "cdn"], default="inline",
                   help="inline: plotly.js inside the page, opens offline (default, ~4.6 MB); "
                        "cdn: loaded from cdn.plot.ly (small file, needs the network)")
    p.add_argument("--no-progress", action="store_true",
                   help="hide the progress bar of the importance bootstrap (shown on a terminal's stderr)")
    p.add_argument("--datasets", choices=["embedded", "all", "none"], default="embedded",
                   help="datasets to load for their entropies: embedded (default; never downloads), all, none")
    p.add_argument("--data-dir", help="dataset directory (default: $LAYERLAB_DATA or ~/.cache/layerlab)")
    p.set_defaults(func=cmd_study_report)

    p = study.add_parser("compare", help="rank transfer between two studies (Kendall tau, Spearman rho, flips)")
    p.add_argument("--storage", default=default_storage)
    p.add_argument("--storage-b", help="storage of the second study (default: --storage)")
    p.add_argument("--study-name", action="append", required=True,
                   help="give twice: the cheap study, then the reference")
    p.add_argument("--top-k", type=_positive_int, default=3)
    p.add_argument("--metric", choices=["value", "test"], default="value", help="value: the objective (validation)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates for the CIs (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ignore", action="append", metavar="PARAM", help="parameter not to match configs on (repeatable)")
    p.add_argument("--where-a", metavar="KEY=VALUE[,...]", help="only the first study's configs with these parameters")
    p.add_argument("--where-b", metavar="KEY=VALUE[,...]", help="only the second study's configs with these parameters")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=cmd_study_compare)

    p = study.add_parser("aggregate",
                         help="IQM, probability of improvement and performance profiles over datasets or studies")
    p.add_argument("--storage", default=default_storage)
    p.add_argument("--study-name", action="append", required=True,
                   help="a study (repeatable): each is a task, or with --over each of its values of that parameter")
    p.add_argument("--over", metavar="PARAM", help="split each study into tasks by this parameter (default with one "
                   "study: dataset)")
    p.add_argument("--metric", choices=["value", "test"], default="value", help="value: the objective (validation)")
    p.add_argument("--normalize", choices=["auto", "chance", "none"], default="auto",
                   help="chance: (acc - c) / (1 - c), c the majority-class share; auto: chance where known (default)")
    p.add_argument("--baseline", metavar="KEY=VALUE[,...]", help="reference config of P(X > Y) (default: the preset's "
                   "baseline, else the best IQM)")
    p.add_argument("--bootstrap", type=_positive_int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--out", help="HTML file to write (default: <first study>-aggregate.html; with --json alone: none)")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--plotly", choices=["inline", "cdn"], default="inline",
                   help="inline: plotly.js inside the page, opens offline (default); cdn: loaded from cdn.plot.ly")
    p.set_defaults(func=cmd_study_aggregate)

    p = study.add_parser("datasets", help="class balance, label and image-intensity entropy of datasets")
    p.add_argument("names", nargs="+", help="dataset names, e.g. digits mnist5k")
    p.add_argument("--data-dir", help="dataset directory (default: $LAYERLAB_DATA or ~/.cache/layerlab)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_study_datasets)

    p = study.add_parser("dashboard", help="optuna-dashboard over a storage, with trial artifacts")
    p.add_argument("--storage", default=default_storage)
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_port, default=8080)
    p.add_argument("--artifact-dir", help="default: the directories recorded on the storage's studies")
    p.set_defaults(func=cmd_study_dashboard)

    model = groups.add_parser("model", help="inspect architecture families").add_subparsers(
        dest="command", required=True, parser_class=_Parser)
    p = model.add_parser("describe", help="parameter count, output shape and layers of a family")
    p.add_argument("family", help="a family name: seq, resnet, cifar_resnet, vgg, baseline_cnn, fcl, skip_cnn")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a model key's value (repeatable)")
    p.add_argument("--input-size", type=_positive_int, default=32)
    p.add_argument("--in-channels", type=_positive_int, default=3)
    p.add_argument("--num-classes", type=_positive_int, default=10)
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=cmd_model_describe)

    space = groups.add_parser("space", help="inspect search spaces").add_subparsers(
        dest="command", required=True, parser_class=_Parser)
    p = space.add_parser("grid", help="grid size and configs of a preset")
    _add_spec_args(p)
    p.add_argument("--limit", type=_positive_int, help="show at most this many configs")
    p.add_argument("--json", action="store_true", help="print the size, the estimate and the configs as JSON")
    p.set_defaults(func=cmd_space_grid)

    data = groups.add_parser("data", help="list, describe and download datasets").add_subparsers(
        dest="command", required=True, parser_class=_Parser)
    data_dir_help = "dataset directory (default: $LAYERLAB_DATA or ~/.cache/layerlab)"
    p = data.add_parser("list", help="registered datasets and whether their files are present")
    p.add_argument("--data-dir", help=data_dir_help)
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=cmd_data_list)
    p = data.add_parser("describe", help="classes, image size, split sizes and class balance")
    p.add_argument("name", help="a dataset name, e.g. mnist5k or cifar10:hard2:600")
    p.add_argument("--data-dir", help=data_dir_help)
    p.add_argument("--split", choices=["official", "paper"], default="official")
    p.add_argument("--size", type=_positive_int, help="MedMNIST image size: 28, 64, 128 or 224")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=cmd_data_describe)
    p = data.add_parser("download", help="fetch a dataset's files into the data directory")
    p.add_argument("name", help="a dataset name (see `data list`)")
    p.add_argument("--data-dir", help=data_dir_help)
    p.add_argument("--size", type=_positive_int, help="MedMNIST image size: 28, 64, 128 or 224")
    p.set_defaults(func=cmd_data_download)

    presets = groups.add_parser("presets", help="list and show presets").add_subparsers(
        dest="command", required=True, parser_class=_Parser)
    presets.add_parser("list", help="every preset with its one-line description").set_defaults(func=cmd_presets_list)
    p = presets.add_parser("show", help="a preset's YAML and, for a grid, its size")
    p.add_argument("name", help="a preset name (see `presets list`) or a path to a preset YAML")
    p.add_argument("--json", action="store_true", help="the resolved spec as JSON")
    p.set_defaults(func=cmd_presets_show)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser, description: str | None = None) -> None:
    """Every command's ``--help`` opens with its one-line description and states each option's
    default, as docs/cli.md does (the same rule as docs/gen_cli.py: a default that is set, not false,
    and not already in the option's help)."""
    if description and not parser.description:
        parser.description = description[:1].upper() + description[1:]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                _describe(sub, helps.get(name))
            continue
        if isinstance(action, argparse._HelpAction):
            continue
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if not unset and "default" not in text and "$" not in text:
            action.help = (text + f" (default: {action.default})").strip().replace("%", "%%")


def _check_ranges(args: argparse.Namespace) -> None:
    """Every numeric option in its valid range before a command runs (studies._options, the one
    table of ranges); skipped, with its import, by commands that take no number."""
    values = vars(args)
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values()):
        from studies import check_options

        check_options(**values)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["study"] and len(argv) == 1:
        argv.append("launch")  # `layerlab study` alone runs the default study
    from searchspace import LayerlabError

    try:
        args = build_parser().parse_args(argv)
        _check_ranges(args)
        return args.func(args)
    except LayerlabError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return getattr(exc, "exit_code", EXIT_USAGE)  # 4 for infrastructure faults (FaultError)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. `layerlab presets list | head -2`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run() -> None:
    """The process entry point (``python cli.py`` and the ``layerlab`` command): :func:`main`, then
    exit with its code."""
    from studies import command_process

    # This process is layerlab's: its start-up may be frozen for the collector, and it exits without
    # the interpreter's collections over every object (1-2 s with torch loaded), closing the
    # storages a command opened first, also when main raised.
    with command_process():
        code = main()
    sys.exit(code)


if __name__ == "__main__":
    run()
