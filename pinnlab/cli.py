"""The ``pinnlab`` command line.

``pinnlab solve PROBLEM.py [--steps N] [--out DIR] [--seed S] [--device D] [--set KEY=VALUE ...] [--resume]``
``pinnlab report RUN_DIR [--problem PROBLEM.py] [--pdf]`` and ``pinnlab compare RUN_DIR...``

A problem script is a Python file the user wrote that defines ``problem`` (a
:class:`~pinnlab.Problem`) and optionally ``settings`` (a dict of ``solve``
keyword arguments: the recorded settings that reach the problem's target).
Every other input (``--set`` values, config files) is parsed as typed data,
never evaluated.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

from . import config as cfg
from .errors import ConfigError, PinnlabError, PinnlabWarning, run_user_file


#: a loss that fell more than this many times over the last fifth of a run had not converged
LATE_FALL = 2.0

#: the problem script being loaded, if any: ``solve`` refuses to train while it is
#: (a script that trains at import would otherwise train again, unasked, each time
#: ``pinnlab solve``, ``report`` or a study loads it for its ``problem``)
LOADING: list[Path] = []


def load_problem_script(path: str | Path) -> tuple[Any, dict]:
    """Run a problem script and return its ``problem`` and ``settings``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"problem script {path} does not exist")
    if path.suffix != ".py":
        raise ConfigError(f"problem script {path} must be a Python file (.py)")
    # like `python SCRIPT.py`: the script's folder is importable (scripts share helpers there)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    LOADING.append(path)
    try:
        scope = run_user_file(path, "__pinnlab_problem__", "problem script")
    finally:
        sys.path.remove(folder)
        LOADING.pop()
    problem = scope.get("problem")
    if problem is None and callable(scope.get("make_problem")):
        problem = scope["make_problem"]()
    if problem is None:
        raise ConfigError(f"problem script {path} defines no 'problem' (a pinnlab.Problem)")
    from .compiler import CompiledProblem
    from .problem import Problem
    if not isinstance(problem, (Problem, CompiledProblem)):
        raise ConfigError(f"problem script {path}: 'problem' must be a pinnlab.Problem, got "
                          f"{type(problem).__name__} {problem!r:.80}")
    problem.source_script = path.resolve()  # recorded in its runs (runs.record_problem_script)
    settings = scope.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError(f"problem script {path}: 'settings' must be a dict of solve() settings, "
                          f"got {type(settings).__name__} {settings!r:.80}")
    return problem, dict(settings)


def _solve_args(p: argparse.ArgumentParser, with_file: bool = True) -> None:
    if with_file:
        p.add_argument("problem", help="problem script (Python file defining `problem`)")
    p.add_argument("--steps", type=int, help="number of training steps")
    p.add_argument("--out", help="run directory (default runs/<problem name>)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="floating point type")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting: steps=2000, sampler=r3, sampler.n_interior=4096, "
                        "optimizer.lr=1e-3, model.width=64 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (without it, such a directory is refused)")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinnlab", description="Physics-informed neural network workbench")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("solve", help="train a model of a problem script and report it")
    _solve_args(p)
    r = sub.add_parser("report", help="rebuild the report of a run directory")
    r.add_argument("run_dir")
    r.add_argument("--problem", help="problem script (default: the one recorded in the run)")
    r.add_argument("--pdf", action="store_true", help="also write report.pdf")
    r.add_argument("--study", help="Optuna storage URL: report a study instead of a run")
    r.add_argument("--study-name", help="name of the study in --study storage")
    c = sub.add_parser("compare", help="one page comparing several runs")
    c.add_argument("run_dirs", nargs="+")
    c.add_argument("--out", default="comparison.html")
    sub.add_parser("list", help="list the registered models, samplers, optimizers and weightings")
    from .study.cli import add_parser as add_study_parser
    add_study_parser(sub)
    return parser


def settings_from_args(args: argparse.Namespace, settings: dict) -> dict:
    settings = cfg.apply_overrides(settings, args.overrides)
    for key in ("steps", "seed", "device", "dtype"):
        v = getattr(args, key)
        if v is not None:
            settings[key] = v
    return settings


def check_solve_settings(settings: dict, where: str | None = None) -> None:
    """Every key must be a ``solve`` setting (a misspelt one gets the closest match)."""
    import inspect

    from .solve import solve
    known = set(inspect.signature(solve).parameters) - {"problem", "out", "resume", "overwrite",
                                                         "report", "progress"}
    for key in settings:
        if key not in known:
            at = f" (in {where})" if where else ""
            raise ConfigError(f"unknown setting {key!r}{at}{cfg.suggest(key, known)}; solve takes "
                              f"{', '.join(sorted(known))}")


def run_solve(problem: Any, settings: dict, args: argparse.Namespace, script: str | None) -> int:
    from .solve import solve
    settings = settings_from_args(args, settings)
    check_solve_settings(settings, script)
    if args.out is not None and not args.out.strip():
        raise ConfigError("--out '' names no run directory; leave --out out for runs/<problem name>")
    out = Path(args.out) if args.out else Path("runs") / getattr(problem, "name", "run")
    result = solve(problem, out=out, resume=args.resume, overwrite=args.overwrite,
                   report=not args.no_report, progress=False if args.quiet else None, **settings)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun the first process speaks for all
        return 0
    m = result.metrics
    print(f"run directory: {out}")
    rate = (f"steps/s: {m['steps_per_second']:.1f}" if m["steps_per_second"]
             else "no step left to train (resumed a finished run)")
    print(f"steps: {m['steps']}  wall: {m['wall_seconds']:.1f} s  {rate}  "
          f"final loss: {m['final_loss']:.3e}" if m.get("final_loss") is not None else f"steps: {m['steps']}")
    if "l2re" in m:
        fields = "  ".join(f"{k}={v:.3e}" for k, v in m["l2re_fields"].items())
        print(f"L2RE: {m['l2re']:.3e}  ({fields})")
    for k, v in m.get("parameters", {}).items():
        print(f"parameter {k} = {v:.6g}")
    if m.get("optimizer_note"):
        print(f"optimizer: {m['optimizer_note']}")
    if m.get("loss_fall_last_fifth", 0) > LATE_FALL:
        first_order = (result.config.get("optimizer") or {}).get("name") in ("adam", "multiadam")
        print(f"the loss still fell {m['loss_fall_last_fifth']:.1f}x over the last fifth of the steps: "
              "training had not converged (more steps"
              + (", or the default optimizer auto (Adam, then L-BFGS)," if first_order else "") + " may help)")
    return 0


def run_script(problem: Any, settings: dict | None = None, argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python problems/NAME.py [solve options]``."""
    warnings.formatwarning = _format_warning
    parser = argparse.ArgumentParser(description=f"solve {getattr(problem, 'name', 'problem')}")
    _solve_args(parser, with_file=False)
    args = parser.parse_args(argv)
    try:
        return run_solve(problem, dict(settings or {}), args, None)
    except PinnlabError as exc:
        print(f"pinnlab: error: {exc}", file=sys.stderr)
        return 2


def _report(args) -> int:
    if args.study:
        from .report import study_report
        if not args.study_name:
            raise ConfigError("--study needs --study-name")
        study_report(args.study, args.study_name, args.run_dir)
        print(f"study report: {Path(args.run_dir) / 'study_report.html'}")
        return 0
    from .report import rebuild_report
    run_dir = Path(args.run_dir)
    if not (run_dir / "history.jsonl").is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no history.jsonl"
                          f"{'' if run_dir.is_dir() else '; the directory does not exist'})")
    from .runs import recorded_problem
    problem = load_problem_script(args.problem)[0] if args.problem else recorded_problem(run_dir)
    rebuild_report(run_dir, problem, pdf=args.pdf)
    print(f"report: {run_dir / 'report.html'}")
    return 0


def _list() -> int:
    for kind in cfg.KINDS:
        print(f"{kind}s: {', '.join(sorted(cfg.registry(kind)))}")
    return 0


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """pinnlab's own warnings as ``pinnlab: warning: ...`` (on the command line the line they
    would show is the console script's, which says nothing); others as Python shows them."""
    if issubclass(category, PinnlabWarning):
        return f"pinnlab: warning: {message}\n"
    return _python_format_warning(message, category, filename, lineno, line)


_python_format_warning = warnings.formatwarning


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.formatwarning = _format_warning
    if argv[:1] == ["study"]:
        from .study.cli import main as study_main
        return study_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "solve":
            problem, settings = load_problem_script(args.problem)
            return run_solve(problem, settings, args, args.problem)
        if args.command == "report":
            return _report(args)
        if args.command == "compare":
            from .report import compare_runs
            missing = [d for d in args.run_dirs if not (Path(d) / "history.jsonl").is_file()]
            if missing:
                raise ConfigError(f"compare: not run directories (no history.jsonl): {', '.join(missing)}")
            compare_runs(args.run_dirs, args.out)
            print(f"comparison: {args.out}")
            return 0
        if args.command == "list":
            return _list()
        parser.print_help()
        return 0
    except PinnlabError as exc:
        print(f"pinnlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"pinnlab: {exc or 'interrupted; the last periodic checkpoint, if any, is kept'}",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
