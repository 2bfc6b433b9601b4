"""Run a study: worker processes that pull trials from one Optuna storage.

``run_study`` (the parent) creates or loads the study, starts the worker
processes (``python -m pinnlab.study.worker``), and supervises them: a worker that
dies (kill -9, out of memory) has its running trial marked FAIL and re-queued at
once, and is replaced while trials remain. Workers on other machines started with
the same ``--storage`` URL and ``--study-name`` join the same study; there, a dead
worker's trial is failed by the heartbeat (``grace_period``) and re-queued by the
next worker that looks.

Every worker runs :func:`worker_loop`: fail stale trials, take a waiting (retried)
trial or a new one while fewer than ``trials`` are complete, pruned or running,
wait while the last trials run elsewhere (they might die and need retrying), stop
when ``trials`` are complete or pruned. One trial is :func:`pinnlab.study.trial.run_trial`.

How a trial ends is stored in the Optuna storage, where every machine sharing the
study sees it, and in the trial directory's ``trial.json``:

- an exception (a bad setting, a bug in the study file or the problem script) is a
  FAIL with the user attribute ``fail_reason`` (type, message, the user's line);
  ``--max-failures`` of them in one run stop the study (exit status 2): the study
  is broken, not unlucky;
- a divergence (:class:`~pinnlab.errors.TrainingError`: repeated non-finite losses)
  is an outcome of the hyperparameters, as much as a large error: the trial is
  PRUNED (``diverged``, ``prune_reason``), counts towards ``trials``, and the sampler
  learns to avoid the region (Optuna's samplers ignore FAIL trials);
- Ctrl-C (SIGINT to ``pinnlab study``, SIGTERM to a worker) fails the running trials
  with ``interrupted`` and re-queues them, as a killed worker's are: a resumed study
  runs them again, and they count as no failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import config as cfg
from ..errors import ConfigError, PinnlabError
from .spec import StudySpec, describe_error, load_study_file
from .storage import (DEFAULT_GRACE, DEFAULT_HEARTBEAT, WORKER_ATTR, fail_stale_trials, fail_trial,
                      open_storage, requeue_trial, retry_callback)
from .trial import fail_reason, run_trial

EXIT_STOPPED = 3          # a worker's exit status when the failure limit stopped it
EXIT_INTERRUPTED = 130


class StudyStopped(PinnlabError, RuntimeError):
    """A study stopped short of its ``--trials`` target: too many trials failed in this run."""


@dataclass
class StudyOptions:
    """Everything ``pinnlab study`` takes (also the worker's configuration, as JSON)."""

    study_file: str
    trials: int = 20
    workers: int | None = None
    storage: str | None = None
    study_name: str | None = None
    overrides: list = field(default_factory=list)
    out: str | None = None
    pruner: str | None = None
    device: str | None = None
    trials_per_gpu: int = 1
    threads: int | None = None
    heartbeat_interval: int = DEFAULT_HEARTBEAT
    grace_period: int = DEFAULT_GRACE
    max_retry: int = 2
    max_failures: int | None = None
    seed: int | None = None
    poll: float = 1.0
    quiet: bool = False


def default_out(spec: StudySpec) -> Path:
    return Path("runs") / f"study_{spec.name}"


def resolve(opts: StudyOptions, spec: StudySpec) -> StudyOptions:
    """Fill in the output directory, storage URL and study name."""
    out = Path(opts.out) if opts.out else default_out(spec)
    storage = opts.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    return StudyOptions(**{**asdict(opts), "out": str(out.resolve()), "storage": storage,
                           "study_name": opts.study_name or spec.name})


def make_pruner(name: Any, report_every: int) -> Any:
    import optuna
    if not isinstance(name, str):
        return name
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=report_every)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=report_every, max_resource="auto",
                                              reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"pruner must be median, hyperband or none, got {name!r}")


def make_sampler(seed: int | None, trials: int) -> Any:
    import optuna
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                          n_startup_trials=max(2, min(10, trials // 4)))


def open_study(opts: StudyOptions, spec: StudySpec, create: bool, worker_index: int = 0) -> Any:
    import optuna
    storage = open_storage(opts.storage, opts.heartbeat_interval, opts.grace_period, opts.max_retry)
    seed = None if opts.seed is None else opts.seed + worker_index
    kw = dict(storage=storage, study_name=opts.study_name,
              sampler=make_sampler(seed, opts.trials),
              pruner=make_pruner(opts.pruner or spec.pruner, spec.report_every))
    if create:
        study = optuna.create_study(directions=spec.directions, load_if_exists=True, **kw)
        if len(study.directions) != len(spec.directions):
            raise ConfigError(f"study {opts.study_name!r} in {opts.storage} has "
                              f"{len(study.directions)} objective(s); {spec.path.name} has "
                              f"{len(spec.directions)}: use another --study-name")
        study.set_user_attr("study_file", str(spec.path))
        study.set_user_attr("problem_script", str(spec.problem_script))
        study.set_user_attr("objectives", spec.objective_names)
        return study
    return optuna.load_study(**kw)


# ---------------------------------------------------------------- the worker


def _counts(study: Any) -> dict:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def failures_since(study: Any, since: float) -> list:
    """The FAIL trials started at or after ``since`` (a ``time.time()``), interrupted ones left out:
    what ``--max-failures`` counts. Failures of earlier runs of the study are its history, not a
    sign that this run is broken (and would stop a resumed study before its first trial)."""
    from datetime import datetime
    from optuna.trial import TrialState
    start = datetime.fromtimestamp(since)
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if t.datetime_start is not None and t.datetime_start >= start
            and not t.user_attrs.get("interrupted")]


def max_failures(opts: StudyOptions) -> int:
    return opts.max_failures if opts.max_failures is not None else max(5, opts.trials)


def worker_loop(opts: StudyOptions, device: str | None = None, worker_index: int = 0,
                spec: StudySpec | None = None, spawned: float | None = None,
                since: float | None = None) -> int:
    """Run trials until the study has ``opts.trials`` complete or pruned ones; returns trials run.

    Raises :class:`StudyStopped` once ``--max-failures`` trials have failed since ``since`` (the
    start of this run, a ``time.time()``; default: now). KeyboardInterrupt (Ctrl-C, SIGTERM)
    passes through once the running trial is re-queued."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)   # trials are reported by _print_trial
    since = time.time() if since is None else since
    spec = spec or load_study_file(opts.study_file)
    compiled = spec.problem.compile()
    study = open_study(opts, spec, create=False, worker_index=worker_index)
    retry = retry_callback(opts.max_retry)
    limit = max_failures(opts)
    log = Path(opts.out) / "workers" / f"worker_{os.getpid()}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    ran, idle = 0, 0.0
    if spawned is not None:
        with open(log, "a") as fh:
            fh.write(json.dumps({"ready_seconds": time.time() - spawned}) + "\n")
    while True:
        # before study.optimize, which would fail them too (natively), but without a reason
        fail_stale_trials(study, opts.grace_period, retry)
        c = _counts(study)
        done = c.get("COMPLETE", 0) + c.get("PRUNED", 0)
        if done >= opts.trials and not c.get("WAITING", 0):
            break
        failed = len(failures_since(study, since)) if c.get("FAIL", 0) else 0
        if failed >= limit:
            raise StudyStopped(f"{failed} trials failed in this run (--max-failures {limit}); "
                               "this worker stops")
        if not c.get("WAITING", 0) and done + c.get("RUNNING", 0) >= opts.trials:
            time.sleep(opts.poll)          # the last trials run elsewhere; retry them if they die
            idle += opts.poll
            continue
        timing: dict = {}
        t0 = time.perf_counter()
        study.optimize(lambda tr: run_trial(tr, spec, compiled, opts, device, timing),
                       n_trials=1, catch=(Exception,))
        total = time.perf_counter() - t0
        ran += 1
        if not opts.quiet and "trial_id" in timing:
            _print_trial(study, timing["trial_id"], total, device)
        with open(log, "a") as fh:
            fh.write(json.dumps({"seconds": total, "solve_seconds": timing.get("solve", 0.0)}) + "\n")
    with open(log, "a") as fh:
        fh.write(json.dumps({"idle_seconds": idle}) + "\n")
    return ran


def _print_trial(study: Any, trial_id: int, seconds: float, device: str | None) -> None:
    try:
        t = study._storage.get_trial(trial_id)
    except Exception:   # noqa: BLE001 - a log line is not worth a failure
        return
    what = ", ".join(f"{v:.3e}" for v in t.values) if t.values else ""
    if t.state.name == "FAIL":
        what = f"({fail_reason(t)})"
    if t.state.name == "PRUNED" and t.intermediate_values:
        step = max(t.intermediate_values)
        what = f"at step {step} ({t.intermediate_values[step]:.3e})"
    if t.user_attrs.get("diverged"):
        what = f"({t.user_attrs.get('prune_reason', 'diverged')})"
    print(f"trial {t.number}: {t.state.name.lower()} {what} in {seconds:.1f} s "
          f"[{device or 'cpu'}, pid {os.getpid()}]", flush=True)


def worker_main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process (:data:`WORKER_COMMAND`, or
    ``python -m pinnlab.study.worker CONFIG_JSON``): exit status 0 when the study is done,
    :data:`EXIT_STOPPED` at the failure limit, :data:`EXIT_INTERRUPTED` when stopped, never a
    traceback for an interruption."""
    signal.signal(signal.SIGTERM, _raise_interrupt)     # how the parent stops its workers
    try:
        argv = sys.argv[1:] if argv is None else argv
        conf = json.loads(argv[0])
        device, index = conf.pop("_device", None), conf.pop("_index", 0)
        threads = conf.pop("_threads", None)
        spawned, since = conf.pop("_spawned", None), conf.pop("_since", None)
        opts = StudyOptions(**conf)
        import torch
        if threads:
            torch.set_num_threads(int(threads))
        worker_loop(opts, device, index, spawned=spawned, since=since)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except StudyStopped:        # the parent says so, once, with the reasons
        return EXIT_STOPPED
    return 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


# ---------------------------------------------------------------- the parent

def plan_workers(workers: int | None, device: str | None, trials_per_gpu: int = 1,
                 threads: int | None = None) -> list[tuple[str, int]]:
    """``(device, threads)`` for every worker: one per GPU (times ``trials_per_gpu``), or CPU
    workers with ``cores // workers`` threads each. ``threads`` (else OMP_NUM_THREADS, when set)
    fixes the threads of every worker."""
    import torch
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = threads or _env_threads()
    want = device or "auto"
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda":
        gpus = torch.cuda.device_count()
        if gpus == 0:
            raise ConfigError("device cuda requested but no GPU is visible; use --device cpu")
        n = workers or gpus * max(int(trials_per_gpu), 1)
        th = threads or max(1, cores // n)
        return [(f"cuda:{i % gpus}", th) for i in range(n)]
    n = workers or max(1, min(4, cores // 2))
    th = threads or max(1, cores // n)
    return [(want, th) for _ in range(n)]


def _env_threads() -> int | None:
    """The thread count the user set with OMP_NUM_THREADS (honoured per worker), if any."""
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    try:
        n = int(raw)
    except ValueError:
        return None
    return n if n > 0 else None


# A worker ignores SIGINT from its first statement, before importing pinnlab and torch: Ctrl-C at a
# terminal reaches the whole process group, and each worker would print a traceback of whatever it
# was importing or running. The parent alone handles Ctrl-C and stops its workers with SIGTERM.
WORKER_COMMAND = ("import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                  "from pinnlab.study.runner import worker_main; sys.exit(worker_main())")


def _spawn(opts: StudyOptions, device: str, threads: int, index: int,
           since: float | None = None) -> subprocess.Popen:
    conf = {**asdict(opts), "_device": device, "_index": index, "_threads": threads,
            "_spawned": time.time(), "_since": since}
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return subprocess.Popen([sys.executable, "-c", WORKER_COMMAND, json.dumps(conf)], env=env)


def _fail_worker_trials(study: Any, pid: int, retry: Any, reason: str, **attrs: Any) -> list[int]:
    """Fail (with ``reason``) and re-queue through ``retry`` the RUNNING trials of worker ``pid``."""
    import socket
    from optuna.trial import TrialState
    me = f"{socket.gethostname()}:{pid}"
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.system_attrs.get(WORKER_ATTR) == me and fail_trial(study, t, retry, reason, **attrs):
            failed.append(t.number)
    return failed


def _requeue_interrupted(study: Any, pids: list[int], since: float) -> list[int]:
    """After Ctrl-C, re-queue what the stopped workers ``pids`` did not: their trials still RUNNING
    (a worker killed after 30 s), or failed since ``since`` with no reason but the interruption (a
    second signal cut the worker's own bookkeeping short). Returns the trials re-queued here."""
    import socket
    from datetime import datetime
    from optuna.trial import TrialState
    from .storage import REQUEUED_FROM_ATTR
    workers = {f"{socket.gethostname()}:{pid}" for pid in pids}
    trials = study.get_trials(deepcopy=False)
    copied = {t.system_attrs.get(REQUEUED_FROM_ATTR) for t in trials}
    start = datetime.fromtimestamp(since)
    done = []
    for t in trials:
        if t.system_attrs.get(WORKER_ATTR) not in workers or t.number in copied:
            continue
        if t.state == TrialState.RUNNING:
            if fail_trial(study, t, lambda st, tr: requeue_trial(st, tr, counted=False),
                          "interrupted and re-queued", interrupted=True):
                done.append(t.number)
        elif (t.state == TrialState.FAIL and t.datetime_complete is not None
              and t.datetime_complete >= start
              and (t.user_attrs.get("interrupted") or not t.user_attrs.get("fail_reason"))):
            requeue_trial(study, t, counted=False)
            done.append(t.number)
    return done


def setup_study(opts: StudyOptions) -> tuple[StudySpec, StudyOptions, Any]:
    """Load the study file, fill in defaults, create (or load) the study in its storage."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_study_file(opts.study_file)
    opts = resolve(opts, spec)
    if opts.trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {opts.trials}")
    for flag, value in (("--workers", opts.workers), ("--threads", opts.threads),
                        ("--trials-per-gpu", opts.trials_per_gpu)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be >= 1, got {value}")
    _check_space(spec, opts)                     # a bad --set fails here, not in every worker
    Path(opts.out).mkdir(parents=True, exist_ok=True)
    return spec, opts, open_study(opts, spec, create=True)


def _check_space(spec: StudySpec, opts: StudyOptions) -> None:
    """Draw one trial of the search space in a throwaway in-memory study and check its settings
    (``--set`` included), so that a misspelt key fails once here rather than in every trial."""
    import optuna

    from ..cli import check_solve_settings
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    try:
        settings = spec.settings_for(probe, opts.overrides)
    except PinnlabError:
        raise
    except Exception as exc:  # a mistake in space(): the user's line, not Optuna's frames
        raise ConfigError(describe_error(exc, spec, where=f"space() in {spec.path.name}")) from None
    check_solve_settings(settings, f"the study file {spec.path}")
    for kind in ("model", "sampler", "optimizer", "weighting"):
        if kind in settings and not hasattr(settings[kind], "parameters"):  # nn.Modules pass
            try:
                cfg.build(kind, settings[kind])
            except ConfigError as exc:   # which file: the study's settings, not the user's call
                raise ConfigError(f"{exc} (in the study file {spec.path})") from None


def run_study(opts: StudyOptions) -> dict:
    """Run a study with ``opts.workers`` processes; returns a summary (also printed).

    Raises :class:`StudyStopped` (after printing the summary) when the workers stopped short of
    ``opts.trials`` complete or pruned trials: too many failures in this run."""
    since = time.time()
    spec, opts, study = setup_study(opts)
    plan = plan_workers(opts.workers, opts.device, opts.trials_per_gpu, opts.threads)
    say = (lambda *a: None) if opts.quiet else (lambda *a: print(*a, flush=True))
    if _finished(study, opts):      # started again once done: nothing to run, no workers to start
        summary = {**summarize(study, opts, 0.0), "interrupted": False}
        say(f"study {opts.study_name}: already has {opts.trials} complete or pruned trials "
            "(raise --trials to run more)")
        say(format_summary(summary))
        return summary
    say(f"study {opts.study_name}: {opts.trials} trials, {len(plan)} worker(s) "
        f"({plan[0][0]}, {plan[0][1]} thread(s) each), storage {_safe(opts.storage)}, out {opts.out}")
    retry = retry_callback(opts.max_retry)
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)      # stop cleanly under a batch scheduler too
    procs = {i: _spawn(opts, dev, th, i, since) for i, (dev, th) in enumerate(plan)}
    respawns, t0 = 0, time.perf_counter()
    interrupted = False
    try:
        while procs:
            time.sleep(0.2)
            for i, p in list(procs.items()):
                rc = p.poll()
                if rc is None:
                    continue
                del procs[i]
                if rc in (0, EXIT_STOPPED):
                    continue
                failed = _fail_worker_trials(study, p.pid, retry,
                                             f"lost: its worker (pid {p.pid}) died, exit status {rc}")
                say(f"worker {p.pid} died (exit {rc}); trial(s) {failed or 'none'} marked failed"
                    + (" and re-queued" if failed and opts.max_retry else ""))
                c = _counts(study)
                left = opts.trials - c.get("COMPLETE", 0) - c.get("PRUNED", 0) - c.get("RUNNING", 0)
                if left > len(procs) and respawns < 3 * len(plan):   # work enough for another worker
                    respawns += 1
                    procs[i] = _spawn(opts, plan[i][0], plan[i][1], i, since)
    except KeyboardInterrupt:
        interrupted, at = True, time.time()
        say("pinnlab study: interrupted; stopping the workers (their running trials are re-queued "
            "for the next run)")
        _stop(procs)
        _requeue_interrupted(study, [p.pid for p in procs.values()], at)
    summary = summarize(study, opts, time.perf_counter() - t0)
    summary["interrupted"] = interrupted
    say(format_summary(summary))
    if not interrupted:
        _check_target(study, opts, summary, since)
    return summary


def _finished(study: Any, opts: StudyOptions) -> bool:
    """The study has ``opts.trials`` complete or pruned trials and none waiting (a worker stops
    there too, after fail_stale_trials: a stale trial left RUNNING is no reason to start one)."""
    c = _counts(study)
    return c.get("COMPLETE", 0) + c.get("PRUNED", 0) >= opts.trials and not c.get("WAITING", 0)


def _check_target(study: Any, opts: StudyOptions, summary: dict, since: float) -> None:
    """Raise :class:`StudyStopped` when the run ended short of ``opts.trials``: a study that stops
    at its failure limit has failed, and says how far it got and where the reasons are."""
    from collections import Counter
    c = summary["counts"]
    done = c.get("complete", 0) + c.get("pruned", 0)
    if done >= opts.trials:
        return
    failed = failures_since(study, since)
    limit = max_failures(opts)
    why = (f"{len(failed)} trials failed in this run, the limit (--max-failures {limit})"
           if len(failed) >= limit else f"the workers stopped; {len(failed)} trials failed in this run")
    reasons = Counter(fail_reason(t) for t in failed).most_common(1)
    common = f"; the most frequent reason ({reasons[0][1]} trials): {reasons[0][0]}" if reasons else ""
    raise StudyStopped(
        f"{why}: {done} of {opts.trials} trials are complete or pruned{common}. Each failed trial's "
        f"reason is its user attribute 'fail_reason' in {_safe(opts.storage)} and the 'error' of "
        f"{opts.out}/trials/trial_NNNN/trial.json; to list them: pinnlab report {opts.out} "
        f"--study '{_safe(opts.storage)}' --study-name {opts.study_name}")


def _stop(procs: dict) -> None:
    """SIGTERM every worker (each re-queues its running trial and exits), then wait; a worker still
    running after 30 s, or at a second Ctrl-C, is killed."""
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)      # the workers turn it into KeyboardInterrupt
    deadline = time.time() + 30
    try:
        for p in procs.values():
            try:
                p.wait(timeout=max(deadline - time.time(), 0.1))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    except KeyboardInterrupt:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


def _safe(url: str) -> str:
    import re
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def summarize(study: Any, opts: StudyOptions, wall: float) -> dict:
    from optuna.trial import TrialState
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    best = min(done, key=lambda t: t.values[0]) if done else None
    pareto = pareto_front(done) if done and len(done[0].values) > 1 else None
    diverged = sum(1 for t in trials if t.state == TrialState.PRUNED and t.user_attrs.get("diverged"))
    interrupted = sum(1 for t in trials
                      if t.state == TrialState.FAIL and t.user_attrs.get("interrupted"))
    return {"study_name": opts.study_name, "storage": opts.storage, "out": opts.out, "wall_seconds": wall,
            "counts": counts, "diverged": diverged, "interrupted_trials": interrupted,
            "best_trial": best.number if best else None,
            "best_values": list(best.values) if best else None,
            "best_params": dict(best.params) if best else None,
            "best_run_dir": best.user_attrs.get("run_dir") if best else None,
            "pareto": [(t.number, list(t.values)) for t in pareto] if pareto else None}


def pareto_front(trials: list) -> list:
    """The trials no other trial beats in every objective (all minimized), by first objective."""
    def dominated(t):
        return any(all(a <= b for a, b in zip(o.values, t.values)) and o.values != t.values
                   for o in trials)
    return sorted((t for t in trials if not dominated(t)), key=lambda t: t.values)


def format_summary(s: dict) -> str:
    notes = {"pruned": (s.get("diverged", 0), "diverged"),
             "fail": (s.get("interrupted_trials", 0), "interrupted")}
    counts = []
    for state, n in sorted(s["counts"].items()):
        sub, what = notes.get(state, (0, ""))
        counts.append(f"{n} {state}" + (f" ({sub} {what})" if sub else ""))
    lines = [f"study {s['study_name']}: {', '.join(counts) or 'no trials'} in {s['wall_seconds']:.1f} s"]
    if s["best_trial"] is not None:
        vals = ", ".join(f"{v:.3e}" for v in s["best_values"])
        first = " (lowest first objective)" if s.get("pareto") else ""
        lines.append(f"best trial #{s['best_trial']}{first}: {vals}  {s['best_params']}")
        lines.append(f"best run directory: {s['best_run_dir']}")
    if s.get("pareto"):
        front = ", ".join(f"#{n} ({', '.join(f'{v:.3e}' for v in vals)})" for n, vals in s["pareto"])
        lines.append(f"Pareto front ({len(s['pareto'])} trial(s)): {front}")
    lines.append(f"report: pinnlab report {s['out']} --study '{_safe(s['storage'])}' "
                 f"--study-name {s['study_name']}")
    return "\n".join(lines)
