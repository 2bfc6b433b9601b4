"""The ``pinnlab study`` command (wired into :mod:`pinnlab.cli`).

``pinnlab study STUDY.py --trials N --workers W [--storage URL] [--study-name NAME] [--set K=V] [--out DIR]``
``pinnlab study export --storage URL --study-name NAME --out best.py [--format py|json]``
"""

from __future__ import annotations

import argparse
from typing import Sequence

USAGE = """pinnlab study STUDY.py [--trials N] [--workers W] [--storage URL] [--study-name NAME] [--set K=V] [--out DIR]
       pinnlab study export --storage URL --study-name NAME --out best.py [--format py|json]"""


def add_parser(sub) -> None:
    """Register ``study`` on the main parser's subparsers (arguments are parsed in :func:`main`)."""
    p = sub.add_parser("study", help="run an Optuna study (sweep) over solve settings, or export its best trial",
                       usage=USAGE, add_help=False)
    p.add_argument("study_args", nargs=argparse.REMAINDER)


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pinnlab study", usage=USAGE,
                                description="Run a study: W worker processes pull trials from one Optuna "
                                            "storage. Start the same command with the same --storage and "
                                            "--study-name on other machines to share the study.")
    p.add_argument("study_file", help="study file (Python file defining problem_script and space(trial))")
    p.add_argument("--trials", type=int, default=20, help="complete or pruned trials to reach (default 20)")
    p.add_argument("--workers", type=int, help="worker processes (default: one per GPU, or cores/2 up to 4 on CPU)")
    p.add_argument("--storage", help="Optuna storage URL (default sqlite:///OUT/study.db); journal:PATH "
                                     "for a journal file; postgresql://..., mysql+pymysql://..., redis://...")
    p.add_argument("--study-name", help="study name (default: the study file's name)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a setting for every trial (applied after the search space; repeatable)")
    p.add_argument("--out", help="output directory (default runs/study_NAME): trials/trial_NNNN, study.db")
    p.add_argument("--pruner", choices=["median", "hyperband", "none"], help="override the study file's pruner")
    p.add_argument("--device", help="cpu, cuda or auto (default: one worker per GPU when there are GPUs)")
    p.add_argument("--trials-per-gpu", type=int, default=1, help="workers per GPU (default 1)")
    p.add_argument("--threads", type=int, help="torch threads per worker (default cores // workers)")
    p.add_argument("--heartbeat-interval", type=int, default=10, help="seconds between trial heartbeats")
    p.add_argument("--grace-period", type=int, default=30,
                   help="seconds without heartbeat after which a running trial is marked failed")
    p.add_argument("--max-retry", type=int, default=2, help="times a failed (killed) trial is re-queued")
    p.add_argument("--max-failures", type=int,
                   help="stop (exit status 2) after this many trials failed in this run (default max(5, N)); "
                        "diverged trials (pruned) and interrupted ones (re-queued) do not count")
    p.add_argument("--seed", type=int, help="seed of the Optuna sampler (worker i uses seed + i)")
    p.add_argument("--quiet", action="store_true")
    return p


def _export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pinnlab study export",
                                description="Write the best trial as a runnable problem script or config JSON")
    p.add_argument("--storage", required=True, help="Optuna storage URL of the study")
    p.add_argument("--study-name", required=True)
    p.add_argument("--out", required=True, help="output file (best.py or best.json)")
    p.add_argument("--format", choices=["py", "json"], help="default: from --out's suffix")
    return p


def main(argv: Sequence[str]) -> int:
    """``pinnlab study ...``; errors (a study stopped at its failure limit too) print one line and
    return 2, Ctrl-C returns 130."""
    import sys
    from ..errors import PinnlabError
    try:
        return _main(list(argv))
    except PinnlabError as exc:
        print(f"pinnlab study: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pinnlab study: interrupted", file=sys.stderr)
        return 130


def _format_of(out: str) -> str:
    """``py`` or ``json`` from the suffix of ``--out``; another suffix needs ``--format`` (a
    script written to ``best.txt`` could not be run with ``pinnlab solve``)."""
    from pathlib import Path

    from ..errors import ConfigError
    suffix = Path(out).suffix.lower()
    if suffix in (".py", ".json"):
        return suffix[1:]
    raise ConfigError(f"--out {out}: name a .py file (a problem script) or a .json file (the "
                      "settings), or give --format py|json")


def _main(argv: list) -> int:
    if argv and argv[0] == "export":
        args = _export_parser().parse_args(argv[1:])
        from .export import export_best
        fmt = args.format or _format_of(args.out)
        out = export_best(args.storage, args.study_name, args.out, fmt)
        print(f"best trial written to {out}")
        return 0
    if not argv or argv[0] in ("-h", "--help"):
        _run_parser().print_help()
        print("\n" + _export_parser().format_help())
        return 0
    args = _run_parser().parse_args(argv)
    from .runner import StudyOptions, run_study
    opts = StudyOptions(study_file=args.study_file, trials=args.trials, workers=args.workers,
                        storage=args.storage, study_name=args.study_name, overrides=args.overrides,
                        out=args.out, pruner=args.pruner, device=args.device,
                        trials_per_gpu=args.trials_per_gpu, threads=args.threads,
                        heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period,
                        max_retry=args.max_retry, max_failures=args.max_failures, seed=args.seed,
                        quiet=args.quiet)
    summary = run_study(opts)
    return 130 if summary.get("interrupted") else 0
