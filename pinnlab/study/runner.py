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
when ``trials`` are complete or pruned.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import config as cfg
from ..errors import ConfigError
from .spec import StudySpec, error_of, load_study_file, validation_residual
from .storage import (DEFAULT_GRACE, DEFAULT_HEARTBEAT, WORKER_ATTR, Heartbeat, fail_stale_trials,
                      fail_trial, has_native_heartbeat, open_storage, retry_callback)


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
        study.set_user_attr("objectives", list(spec.objectives))
        return study
    return optuna.load_study(**kw)


# ---------------------------------------------------------------- the trial

class PruningCallback:
    """Reports the error every ``every`` steps and stops the solve when the pruner says so."""

    def __init__(self, trial: Any, spec: StudySpec, compiled: Any, every: int):
        self.trial, self.spec, self.compiled, self.every = trial, spec, compiled, max(int(every), 1)
        self.last = None

    def __call__(self, state: Any) -> None:
        import optuna
        import torch
        if state.step % self.every and state.step != state.steps:
            return
        value = state.losses.get("l2re")
        if value is None:
            value = validation_residual(self.compiled, state.model, state.parameters,
                                        self.spec.validation_points, self.spec.validation_seed)
        value = float(value) if math.isfinite(float(value)) else float("inf")
        self.trial.report(value, state.step)
        self.last = (state.step, value)
        if state.step < state.steps and self.trial.should_prune():
            if state.run_dir is not None:      # keep what the trial had
                torch.save({"step": state.step, "model": state.model.state_dict(),
                            "parameters": state.parameters, "error": value},
                           Path(state.run_dir) / "pruned.pt")
            raise optuna.TrialPruned(f"pruned at step {state.step} (error {value:.3e})")


def trial_settings(trial: Any, spec: StudySpec, opts: StudyOptions, device: str | None) -> dict:
    settings = spec.settings_for(trial, opts.overrides)
    fixed_device = any(o.split("=", 1)[0].strip() == "device" for o in opts.overrides)
    if device and not fixed_device:
        settings["device"] = device
    if len(spec.objectives) == 1:       # Optuna prunes single-objective studies only
        every = spec.report_every
        settings["eval_every"] = every
        settings["log_every"] = math.gcd(int(settings.get("log_every", 100)), every)
    return settings


def run_trial(trial: Any, spec: StudySpec, compiled: Any, opts: StudyOptions,
              device: str | None, timing: dict) -> Any:
    """The objective: solve with the trial's settings in ``OUT/trials/trial_NNNN``."""
    import optuna
    from ..runs import write_json
    from ..solve import solve
    storage = trial.study._storage
    timing["trial_id"] = trial._trial_id
    storage.set_trial_system_attr(trial._trial_id, WORKER_ATTR, _worker_id())
    beat = (nullcontext() if has_native_heartbeat(storage) else
            Heartbeat(storage, trial._trial_id, opts.heartbeat_interval))
    with beat:
        settings = trial_settings(trial, spec, opts, device)
        run_dir = Path(opts.out) / "trials" / f"trial_{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("settings", settings)
        retried = storage.get_trial(trial._trial_id).system_attrs.get("failed_trial")
        if retried is not None:
            trial.set_user_attr("retry_of", retried)
        run_dir.mkdir(parents=True, exist_ok=True)
        meta = {"study": opts.study_name, "trial": trial.number, "params": trial.params,
                "settings": settings, "problem_script": str(spec.problem_script),
                "study_file": str(spec.path), "worker": _worker_id()}
        write_json(run_dir / "trial.json", meta)
        callbacks = []
        prune = None
        if len(spec.objectives) == 1:
            prune = PruningCallback(trial, spec, compiled, spec.report_every)
            callbacks.append(prune)
        t0 = time.perf_counter()
        try:
            result = solve(compiled, out=run_dir, callbacks=callbacks, progress=False,
                           report=spec.trial_reports, **settings)
        except optuna.TrialPruned:
            timing["solve"] = time.perf_counter() - t0
            write_json(run_dir / "trial.json", {**meta, "state": "pruned",
                                                "pruned_at": prune.last if prune else None})
            raise
        except BaseException as exc:
            timing["solve"] = time.perf_counter() - t0
            write_json(run_dir / "trial.json", {**meta, "state": "fail", "error": str(exc)[:500]})
            raise
        timing["solve"] = time.perf_counter() - t0
        error = error_of(result, spec)
        values = [error if o == "error" else float(result.metrics["wall_seconds"])
                  for o in spec.objectives]
        write_json(run_dir / "trial.json", {**meta, "state": "complete", "values": values})
    return values[0] if len(values) == 1 else values


# ---------------------------------------------------------------- the worker

def _worker_id() -> str:
    from .storage import worker_id
    return worker_id()


def _counts(study: Any) -> dict:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def worker_loop(opts: StudyOptions, device: str | None = None, worker_index: int = 0,
                spec: StudySpec | None = None, spawned: float | None = None) -> int:
    """Run trials until the study has ``opts.trials`` complete or pruned ones; returns trials run."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)   # trials are reported by _print_trial
    spec = spec or load_study_file(opts.study_file)
    compiled = spec.problem.compile()
    study = open_study(opts, spec, create=False, worker_index=worker_index)
    retry = retry_callback(opts.max_retry)
    max_failures = opts.max_failures if opts.max_failures is not None else max(5, opts.trials)
    log = Path(opts.out) / "workers" / f"worker_{os.getpid()}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    native = has_native_heartbeat(study._storage)     # then study.optimize fails stale trials itself
    ran, idle = 0, 0.0
    if spawned is not None:
        with open(log, "a") as fh:
            fh.write(json.dumps({"ready_seconds": time.time() - spawned}) + "\n")
    while True:
        if not native:
            fail_stale_trials(study, opts.grace_period, retry)
        c = _counts(study)
        done = c.get("COMPLETE", 0) + c.get("PRUNED", 0)
        if done >= opts.trials and not c.get("WAITING", 0):
            break
        if c.get("FAIL", 0) >= max_failures:
            print(f"pinnlab study: {c['FAIL']} trials failed; this worker stops "
                  f"(raise --max-failures to go on)", file=sys.stderr)
            break
        if not c.get("WAITING", 0) and done + c.get("RUNNING", 0) >= opts.trials:
            time.sleep(opts.poll)          # the last trials run elsewhere; retry them if they die
            idle += opts.poll
            if native:
                fail_stale_trials(study, opts.grace_period, retry)
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
        try:
            meta = json.loads((Path(t.user_attrs["run_dir"]) / "trial.json").read_text())
            what = f"({meta.get('error', 'see the trial directory')})"
        except (KeyError, OSError, ValueError):
            what = ""
    if t.state.name == "PRUNED" and t.intermediate_values:
        step = max(t.intermediate_values)
        what = f"at step {step} ({t.intermediate_values[step]:.3e})"
    print(f"trial {t.number}: {t.state.name.lower()} {what} in {seconds:.1f} s "
          f"[{device or 'cpu'}, pid {os.getpid()}]", flush=True)


def worker_main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m pinnlab.study.worker CONFIG_JSON``."""
    argv = sys.argv[1:] if argv is None else argv
    conf = json.loads(argv[0])
    device, index = conf.pop("_device", None), conf.pop("_index", 0)
    threads = conf.pop("_threads", None)
    spawned = conf.pop("_spawned", None)
    opts = StudyOptions(**conf)
    import torch
    if threads:
        torch.set_num_threads(int(threads))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        worker_loop(opts, device, index, spawned=spawned)
    except KeyboardInterrupt:
        return 130
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


def _spawn(opts: StudyOptions, device: str, threads: int, index: int) -> subprocess.Popen:
    conf = {**asdict(opts), "_device": device, "_index": index, "_threads": threads,
            "_spawned": time.time()}
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return subprocess.Popen([sys.executable, "-m", "pinnlab.study.worker", json.dumps(conf)], env=env)


def _fail_worker_trials(study: Any, pid: int, retry: Any) -> list[int]:
    import socket
    from optuna.trial import TrialState
    me = f"{socket.gethostname()}:{pid}"
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.system_attrs.get(WORKER_ATTR) == me and fail_trial(study, t, retry):
            failed.append(t.number)
    return failed


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
    settings = spec.settings_for(probe, opts.overrides)
    check_solve_settings(settings, f"the study file {spec.path}")
    for kind in ("model", "sampler", "optimizer", "weighting"):
        if kind in settings and not hasattr(settings[kind], "parameters"):  # nn.Modules pass
            cfg.build(kind, settings[kind])


def run_study(opts: StudyOptions) -> dict:
    """Run a study with ``opts.workers`` processes; returns a summary (also printed)."""
    spec, opts, study = setup_study(opts)
    plan = plan_workers(opts.workers, opts.device, opts.trials_per_gpu, opts.threads)
    say = (lambda *a: None) if opts.quiet else (lambda *a: print(*a, flush=True))
    say(f"study {opts.study_name}: {opts.trials} trials, {len(plan)} worker(s) "
        f"({plan[0][0]}, {plan[0][1]} thread(s) each), storage {_safe(opts.storage)}, out {opts.out}")
    retry = retry_callback(opts.max_retry)
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)      # stop cleanly under a batch scheduler too
    procs = {i: _spawn(opts, dev, th, i) for i, (dev, th) in enumerate(plan)}
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
                if rc == 0:
                    continue
                failed = _fail_worker_trials(study, p.pid, retry)
                say(f"worker {p.pid} died (exit {rc}); trial(s) {failed or 'none'} marked failed"
                    + (" and re-queued" if failed and opts.max_retry else ""))
                c = _counts(study)
                left = opts.trials - c.get("COMPLETE", 0) - c.get("PRUNED", 0) - c.get("RUNNING", 0)
                if left > len(procs) and respawns < 3 * len(plan):   # work enough for another worker
                    respawns += 1
                    procs[i] = _spawn(opts, plan[i][0], plan[i][1], i)
    except KeyboardInterrupt:
        interrupted = True
        say("pinnlab study: interrupted; stopping the workers (running trials are marked failed)")
        _stop(procs)
        for p in procs.values():
            _fail_worker_trials(study, p.pid, None)
    summary = summarize(study, opts, time.perf_counter() - t0)
    summary["interrupted"] = interrupted
    say(format_summary(summary))
    return summary


def _stop(procs: dict) -> None:
    deadline = time.time() + 2
    while time.time() < deadline and any(p.poll() is None for p in procs.values()):
        time.sleep(0.1)
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)      # the workers turn it into KeyboardInterrupt
    deadline = time.time() + 30
    for p in procs.values():
        try:
            p.wait(timeout=max(deadline - time.time(), 0.1))
        except subprocess.TimeoutExpired:
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
    return {"study_name": opts.study_name, "storage": opts.storage, "out": opts.out, "wall_seconds": wall,
            "counts": counts, "best_trial": best.number if best else None,
            "best_values": list(best.values) if best else None,
            "best_params": dict(best.params) if best else None,
            "best_run_dir": best.user_attrs.get("run_dir") if best else None}


def format_summary(s: dict) -> str:
    lines = [f"study {s['study_name']}: " + ", ".join(f"{v} {k}" for k, v in sorted(s["counts"].items()))
             + f" in {s['wall_seconds']:.1f} s"]
    if s["best_trial"] is not None:
        vals = ", ".join(f"{v:.3e}" for v in s["best_values"])
        lines.append(f"best trial #{s['best_trial']}: {vals}  {s['best_params']}")
        lines.append(f"best run directory: {s['best_run_dir']}")
    lines.append(f"report: pinnlab report {s['out']} --study '{_safe(s['storage'])}' "
                 f"--study-name {s['study_name']}")
    return "\n".join(lines)
