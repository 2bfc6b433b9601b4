"""``solve``: the one training entry point.

Every strategy (model, sampler, optimizer, weighting) is injected; the loop
below only wires them together, logs, checkpoints and guards against
non-finite losses.
"""

from __future__ import annotations

import copy
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from . import allocator
from . import config as cfg
from . import distributed
from .compiler import CompiledProblem
from .engines import make_engine
from .errors import CheckpointError, ConfigError, DataError, DeclarationError, TrainingError, warn
from .evaluate import predict, reference_set, score
from .fused import FusedStep, can_fuse, compile_fresh
from .loss import LossEval, ParameterSet, evaluate_losses, undefined_terms
from .models import ModelContext
from .problem import Problem
from .progress import Progress
from .runs import (DeferredInterrupts, load_latest, prepare_run_dir, record_problem_script,
                   save_checkpoint, write_json)


@dataclass
class TrainState:
    """What callbacks see after every logged step."""

    step: int
    steps: int
    losses: dict
    model: torch.nn.Module
    sampler: Any
    weighting: Any
    parameters: dict
    history: list
    run_dir: Path | None
    metrics: dict = field(default_factory=dict)


@dataclass
class Result:
    """The outcome of :func:`solve`."""

    model: torch.nn.Module
    problem: Problem
    compiled: CompiledProblem
    history: list
    metrics: dict
    parameters: dict
    config: dict
    run_dir: Path | None
    device: torch.device
    dtype: torch.dtype

    def predict(self, points) -> np.ndarray:
        """Field values ``(n, n_fields)`` at ``points`` ``(n, n_coords)``."""
        d = len(self.problem.coordinates)
        if isinstance(points, torch.Tensor):  # a tensor that requires grad, or on a GPU
            points = points.detach().cpu()
        try:
            pts = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"predict: points must be numbers of shape (n, {d}), got {type(points).__name__}") from None
        if pts.ndim == 1 and pts.size == d:
            pts = pts[None, :]
        if pts.ndim != 2 or pts.shape[1] != d:
            raise DataError(f"predict: points must have shape (n, {d}) (coordinates "
                            f"{', '.join(self.problem.coordinate_names)}), got {pts.shape}")
        return predict(self.model, pts, self.device, self.dtype)

    @property
    def l2re(self) -> float | None:
        return self.metrics.get("l2re")


def _device(name: str) -> torch.device:
    if not isinstance(name, (str, torch.device)):
        raise ConfigError(f"device must be a string such as 'cpu', 'cuda', 'cuda:1' or 'auto', "
                          f"got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r} is not a valid torch device (cpu, cuda, cuda:1, auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use device='cpu' "
                          "(--device cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA "
                          f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if dev.type == "meta":
        raise ConfigError(f"device {name!r} holds no data and cannot train; use 'cpu', 'cuda' or 'auto'")
    try:  # a device type torch knows but was not built for here (mps, xla, ...)
        torch.empty(1, device=dev)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, NotImplementedError, ...
        raise ConfigError(f"device {name!r} cannot be used by this torch build "
                          f"({str(exc).splitlines()[0][:160]}); use 'cpu', 'cuda' or 'auto'") from None
    return dev


def _dtype(name: str | torch.dtype) -> torch.dtype:
    table = {"float32": torch.float32, "float64": torch.float64, "double": torch.float64,
             torch.float32: torch.float32, torch.float64: torch.float64}
    try:
        found = table.get(name)
    except TypeError:  # an unhashable value (a list, a dict)
        found = None
    if found is None:
        raise ConfigError(f"dtype must be float32 or float64, got {name!r}")
    return found


def _build_model(spec: Any, problem: Problem) -> torch.nn.Module:
    if isinstance(spec, torch.nn.Module):
        return _checked_module(spec, problem)
    spec = cfg.build("model", spec)
    if not callable(getattr(spec, "build", None)):
        raise ConfigError(f"model must be a registry name (pinnlab list), a settings dict, a model spec "
                          f"such as MLP(...) or a torch.nn.Module, got {spec!r}")
    lo, hi = problem.domain.bounds
    ctx = ModelContext(len(problem.coordinates), len(problem.fields), np.asarray(lo), np.asarray(hi),
                       problem.coordinate_names, problem.field_names, problem.time_axis,
                       {"problem": problem})
    return spec.build(ctx)


def solve(problem: Problem | CompiledProblem, *, model: Any = "mlp", sampler: Any = "uniform",
          optimizer: Any = "auto", weighting: Any = "fixed", steps: int | None = None,
          device: str = "auto", dtype: str = "float32", seed: int = 0, engine: str = "auto",
          callbacks: Sequence[Callable[[TrainState], None]] = (), out: str | Path | None = None,
          resume: bool = False, log_every: int = 100, eval_every: int = 0,
          checkpoint_every: int = 1000, compile: bool | str = False, max_failures: int = 5,
          progress: bool | None = None, report: bool = True, hard: bool = False,
          overwrite: bool = False) -> Result:
    """Train a physics-informed model of ``problem`` and evaluate it.

    ``model``, ``sampler``, ``optimizer`` and ``weighting`` are strategy objects,
    registry names (``"r3"``) or ``{"name": ..., **settings}`` dicts. The default optimizer
    ``"auto"`` runs Adam for the first half of the steps, then L-BFGS (Adam alone when the points or
    weights move). ``steps`` defaults to the optimizer's schedule length (or 1000). ``out`` names a run
    directory (config, history, metrics, checkpoint, report); ``resume=True``
    continues from its newest intact checkpoint with identical optimizer,
    sampler and random state; a directory that holds another run is refused unless
    ``overwrite=True`` (which deletes that run's files). With a run directory, Ctrl-C or
    SIGTERM ends training after the current step and checkpoints it (one process; under
    torchrun the ranks could stop at different steps). ``eval_every`` > 0 records the L2RE
    in the history every so many steps. ``hard=True`` wraps the model in an exact-constraint
    transform (Dirichlet and initial values hold by construction; their terms
    leave the loss).

    ``compile=True`` (or ``"max-autotune"``) runs the residuals and their backward
    as ``torch.compile``-d code with autotuned matrix products; ``"default"``
    compiles faster (no consistent difference in speed was measured). The first step then pays the compilation
    (seconds to a minute); ``metrics["first_step_seconds"]`` says how much, and
    ``metrics["steady_steps_per_second"]`` is the rate of the steps after it (later
    compilations, of a chain's later stages or of a new point count, count in it). With Adam
    and the fixed weighting the whole step is one compiled graph (:mod:`pinnlab.fused`);
    ``metrics["compiled"]`` says which path ran.
    """
    from .cli import LOADING
    if LOADING:
        raise ConfigError(f"solve() was called while pinnlab loaded {LOADING[-1]} for its 'problem' "
                          "(it would train now, before the run asked for); put the script's training "
                          "under `if __name__ == \"__main__\":`")
    compile_mode = _compile_mode(compile)
    for key, value, least in (("steps", steps, 0), ("seed", seed, 0), ("log_every", log_every, 1),
                              ("eval_every", eval_every, 0), ("checkpoint_every", checkpoint_every, 0),
                              ("max_failures", max_failures, 1)):
        if value is None and key == "steps":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ConfigError(f"{key} must be an integer >= {least}, got {value!r}")
    if seed >= 2 ** 64:  # torch.manual_seed's range
        raise ConfigError(f"seed must be an integer below 2**64, got {seed!r}")
    if not isinstance(hard, (bool, np.bool_)):
        raise ConfigError(f"hard must be True or False, got {hard!r}")
    if not isinstance(problem, (Problem, CompiledProblem)):
        hint = (" (a problem script is run with: pinnlab solve FILE.py)"
                if isinstance(problem, (str, Path)) else "")
        raise ConfigError(f"solve needs a pinnlab Problem, got {problem!r}{hint}")
    if not isinstance(callbacks, (list, tuple)) or not all(callable(cb) for cb in callbacks):
        raise ConfigError(f"callbacks must be a list of functions of the training state, got "
                          f"{callbacks!r}")
    allocator.tune()
    declared = problem
    compiled = problem if isinstance(problem, CompiledProblem) else problem.compile()
    problem = compiled.problem
    dev, dt = _device(device), _dtype(dtype)
    ddp = distributed.from_env(dev)  # None unless launched by torchrun
    if ddp is not None:
        dev = ddp.device
        if not ddp.is_main:  # rank 0 writes the run directory
            out, report, progress = None, False, False
    torch.manual_seed(seed)
    if hard:
        model = {"name": "hard", "model": model}
    net = _build_model(model, problem).to(dev, dt)
    exact = set(getattr(net, "exact_terms", ()))
    live_blocks = [b for b, blk in compiled.blocks.items() if not set(blk.terms) <= exact]
    smp = cfg.build("sampler", sampler)
    opt = cfg.build("optimizer", optimizer)
    wgt = cfg.build("weighting", weighting)
    planned = opt.planned_steps() if callable(getattr(opt, "planned_steps", None)) else 0
    steps = int(steps if steps is not None else planned or 1000)
    _check_chain_length(opt, planned, steps)
    eng = make_engine(engine, net)
    if compile_mode and eng.name != "jet":
        raise ConfigError(f"compile={compile!r} needs the jet engine: torch.compile does not support "
                          f"the double backward of the {eng.name} engine; use engine='jet' (a model "
                          "with a jet rule) or compile=False")
    params = ParameterSet(compiled.parameters, dev, dt)
    trainable = list(net.parameters()) + list(params.parameters())

    smp.setup(compiled, np.random.default_rng(seed), dev, dt)
    wgt.setup(compiled)
    if ddp is not None:
        ddp.check(smp, wgt, resume)
        ddp.attach(trainable)
    if "total_steps" in cfg.fields_of(type(opt)) and not opt.total_steps:
        opt.total_steps = steps
    if not any(p.requires_grad for p in trainable):
        raise ConfigError(f"nothing to train: the model {type(net).__name__} has no trainable parameter "
                          "and the problem no learnable constant")
    if callable(getattr(opt, "plan", None)):  # strategies whose stages follow the run (auto)
        opt.plan(steps=steps, sampler=smp, weighting=wgt, distributed=ddp is not None)
    opt.setup(trainable)
    if callable(getattr(wgt, "bind", None)):
        wgt.bind(trainable)

    config = {"problem": problem.name, "problem_signature": problem.signature(), "steps": steps,
              "seed": seed, "device": str(dev), "dtype": str(dt).replace("torch.", ""), "engine": eng.name,
              "model": cfg.describe(model) if not isinstance(model, torch.nn.Module) else
              {"name": type(model).__name__},
              "sampler": cfg.describe(smp), "optimizer": cfg.describe(opt),
              "weighting": cfg.describe(wgt), "log_every": log_every, "eval_every": eval_every,
              "checkpoint_every": checkpoint_every, "compile": compile_mode or False}
    if isinstance(config["model"], dict) and isinstance(model, (str, dict)):
        config["model"] = cfg.describe(cfg.build("model", model))
    run_dir = prepare_run_dir(out, resume, overwrite) if out is not None else None
    if run_dir is not None:
        record_problem_script(run_dir, declared)
    ref = reference_set(problem)
    if eval_every and ref is None:
        warn(f"eval_every={eval_every}: problem {problem.name!r} has no reference, so no L2RE is "
             "recorded in the history (give Problem(reference=...) to score the run)")

    history: list[dict] = []
    start, elapsed0 = 0, 0.0
    if resume:
        if run_dir is None:
            raise ConfigError("resume=True needs the run directory (out=) of the run to continue")
        _check_resume_config(run_dir, config)
        state, path = load_latest(run_dir)
        dt = _stage_dtype(opt, max(int(state["step"]) - 1, 0), dt)
        net.to(dtype=dt)
        params.to(dtype=dt)
        smp.to(dev, dt)
        _restore(state, net, params, opt, smp, wgt)
        config["optimizer"] = cfg.describe(opt)  # a resumed auto optimizer keeps its first split
        if callable(getattr(opt, "plan", None)) and steps < sum(opt.steps):
            _check_chain_length(opt, sum(opt.steps), steps)  # the stages its split now never reaches
        start, history, elapsed0 = int(state["step"]), list(state["history"]), float(state["elapsed"])
        if start > steps:
            raise ConfigError(f"resume: the checkpoint in {run_dir} is at step {start}, beyond steps={steps}; "
                              f"pass steps >= {start} to continue it")
    if run_dir is not None:
        write_json(run_dir / "config.json", config)
        _rewrite_history(run_dir, history)
        if start < steps:  # an older segment's metrics no longer describe the run (rewritten at the end)
            (run_dir / "metrics.json").unlink(missing_ok=True)

    residual_fn = None
    if compile_mode:
        # the jet rules call memoised pure functions of multi-indices (lru_cache);
        # Dynamo traces through the cache, which is correct for pure functions
        warnings.filterwarnings("ignore", category=UserWarning, message=r"Dynamo detected a call to "
                                r"a `functools\.lru_cache`-wrapped function at '(jets|layers)\.py")

        def residuals_of(batches, env):
            return compiled.residuals(net, eng, batches, env)
        residual_fn = compile_fresh(residuals_of, COMPILE_MODES[compile_mode])
    fused = (FusedStep(compiled, net, eng, params, wgt, COMPILE_MODES[compile_mode])
             if compile_mode and can_fuse(net, wgt, ddp) else None)
    bar = Progress(steps, enabled=progress)
    failures, guard = 0, _snapshot(net, params, opt, smp, wgt)
    streak = rollbacks = 0  # finite steps since the last failure; failures in all
    t0 = time.perf_counter()
    t_first = None  # end of the first step (compilation and allocation warm-up)
    step = start
    ev = None
    def keep(step: int) -> None:
        """Checkpoint this step's state, when the run has a directory (periodically, at a stage's
        end, and before an interruption, a divergence or a failing callback ends the run)."""
        if run_dir is not None:
            save_checkpoint(run_dir, _checkpoint(step, net, params, opt, smp, wgt, history,
                                                 elapsed0 + time.perf_counter() - t0))

    with DeferredInterrupts(run_dir is not None and ddp is None) as interrupts:
        while step < steps:
            want = _stage_dtype(opt, step, dt)
            if want != dt:
                dt = want
                net.to(dtype=dt)
                params.to(dtype=dt)
                smp.to(dev, dt)
                guard = _snapshot(net, params, opt, smp, wgt)
                event = {"step": step, "event": f"switched to {str(dt).replace('torch.', '')}"}
                history.append(event)
                _append_history(run_dir, event)
            batches = smp.batches(step)
            if exact:  # terms the model satisfies by construction (hard constraints) leave the loss
                batches = {b: batches[b] for b in live_blocks if b in batches}

            shares = None
            if ddp is not None:
                batches, shares = ddp.shard(compiled, batches)

            def evaluate() -> LossEval:
                ev = evaluate_losses(compiled, net, eng, batches, params, wgt, step, residual_fn)
                return ddp.combine(compiled, ev, shares) if ddp is not None else ev
            # what strategies may inspect (L-BFGS reuses an evaluation only on the same points)
            evaluate.batches, evaluate.weighting, evaluate.problem = batches, wgt, compiled
            # strategies with a traceable update (Adam) run the whole step as one compiled graph
            evaluate.fused = ((lambda strategy, b=batches, s=step: fused(strategy, b, s))
                              if fused is not None else None)
            ev = opt.step(evaluate, step)
            if not torch.isfinite(ev.total.detach()):
                if step == 0 and (why := undefined_terms(compiled, ev, batches)):
                    raise DeclarationError(why)
                failures += 1
                rollbacks += 1
                streak = 0
                _restore(guard, net, params, opt, smp, wgt)
                opt.scale_lr(0.5)
                bad = [k for k, v in ev.terms.items() if not torch.isfinite(v.detach())]
                event = {"step": step, "event": "non-finite loss; rolled back and halved the step size",
                         "failures": failures, "terms": bad}
                history.append(event)
                _append_history(run_dir, event)
                if failures >= max_failures:
                    keep(step)
                    kept = ("the last good state is in the checkpoint" if run_dir is not None
                            else "nothing was saved (no run directory, out=, was given)")
                    raise TrainingError(f"training stopped at step {step}: the loss was non-finite "
                                        f"{failures} times within {_RECOVERY} steps of each other despite "
                                        f"rollback and step-size reduction (non-finite terms: "
                                        f"{', '.join(bad) or 'the total'}); {kept}")
                continue
            # a step that follows a rollback counts as recovered only after a run of finite
            # steps: a too-large step size gives finite losses evaluated at the restored
            # state, then non-finite ones after the update, forever
            streak += 1
            if streak >= _RECOVERY:
                failures = 0
            smp.observe(step, {k: r.detach() for k, r in ev.residuals.items()})
            step += 1
            if t_first is None:
                t_first = time.perf_counter()
            if step % 50 == 0 and failures == 0 and _finite_parameters(net, params):
                guard = _snapshot(net, params, opt, smp, wgt)
            logged = step % log_every == 0 or step == steps or step == 1
            if logged:
                row = ev.row(step)
                row["time"] = elapsed0 + time.perf_counter() - t0
                row.update(params.values())
                for part in (smp, wgt, opt):
                    if callable(getattr(part, "log", None)):
                        row.update(part.log())
                if ref is not None and eval_every and (step % eval_every == 0 or step == steps):
                    row["l2re"] = score(net, ref, problem.field_names, dev, dt)["l2re"]
                history.append(row)
                _append_history(run_dir, row)
                bar.update(step, row)
                _save_population(run_dir, smp, step, steps, log_every)
                state = TrainState(step, steps, row, net, smp, wgt, params.values(), history, run_dir)
                for cb in callbacks:
                    try:
                        cb(state)
                    except KeyboardInterrupt:  # Ctrl-C inside the callback: the steps trained stay
                        keep(step)
                        raise
                    except Exception as exc:  # the user's code: keep the steps trained, name it
                        keep(step)
                        # its own type goes on (a callback may stop training on purpose: a study's
                        # pruning raises optuna.TrialPruned), with a note of what was kept
                        if callable(getattr(exc, "add_note", None)):
                            exc.add_note("pinnlab: " + _callback_failure(cb, exc, step, steps, run_dir))
                        raise
            at_stage_end = step in getattr(opt, "stage_boundaries", ())
            if step < steps and ((checkpoint_every and step % checkpoint_every == 0) or at_stage_end):
                keep(step)
            if interrupts.pending and step < steps:  # Ctrl-C or SIGTERM: keep this step's state
                keep(step)
                raise KeyboardInterrupt(f"interrupted ({interrupts.pending}) at step {step} of {steps}; "
                                        f"the checkpoint of that step is in {run_dir} (continue with "
                                        "resume=True, or pinnlab solve --resume)")
    bar.close()
    t_end = time.perf_counter()
    wall = elapsed0 + t_end - t0
    trained = steps - start
    metrics = {"steps": steps, "wall_seconds": wall,
               "steps_per_second": trained / max(t_end - t0, 1e-9) if trained else 0.0,
               "first_step_seconds": (t_first - t0) if t_first is not None else 0.0,
               "steady_steps_per_second": ((trained - 1) / max(t_end - t_first, 1e-9)
                                           if trained > 1 else 0.0),
               "final_loss": _final_loss(history), "device": str(dev), "dtype": config["dtype"],
               "engine": eng.name, "rollbacks": rollbacks,
               "compiled": ("step" if fused is not None and fused.used else
                            "residuals" if compile_mode else "no")}
    fall = _late_fall(history)
    if fall is not None:
        metrics["loss_fall_last_fifth"] = fall
    if ref is not None:
        metrics.update(score(net, ref, problem.field_names, dev, dt))
    metrics["parameters"] = params.values()
    if problem.parameter_reference:
        metrics["parameter_errors"] = {
            str(s): abs(params.values()[str(s)] - v) / max(abs(v), 1e-300)
            for s, v in problem.parameter_reference.items() if str(s) in params.values()}
    if hasattr(opt, "stop_reason") and getattr(opt, "stop_reason", None):
        metrics["optimizer_stop_reason"] = opt.stop_reason
    if getattr(opt, "plan_note", None):
        metrics["optimizer_note"] = opt.plan_note
    result = Result(net, problem, compiled, history, metrics, params.values(), config, run_dir, dev, dt)
    if run_dir is not None:
        _write_final(run_dir, result, _checkpoint(steps, net, params, opt, smp, wgt, history, wall), report)
    return result


def _write_final(run_dir: Path, result: Result, checkpoint: dict, report: bool) -> None:
    """The finished run's checkpoint, metrics and report. The training is never lost to a
    failure here: a checkpoint or metrics that cannot be written raise a CheckpointError that
    carries the trained :class:`Result` (``error.result``); a failing or interrupted report
    leaves the checkpoint and metrics in place and says how to rebuild it."""
    try:
        save_checkpoint(run_dir, checkpoint)
        write_json(run_dir / "metrics.json", result.metrics)
    except (OSError, CheckpointError) as exc:
        error = CheckpointError(f"training finished, but its files could not be written to {run_dir} "
                                f"({exc}); the trained model is kept in this error's `result` "
                                "attribute (error.result.model, error.result.predict)")
        error.result = result
        raise error from None
    if not report:
        return
    rebuild = f"rebuild it with: pinnlab report {run_dir}"
    try:
        from .report import write_run_report
        write_run_report(run_dir, result)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"interrupted while writing the report; the finished run's checkpoint "
                                f"and metrics are in {run_dir} ({rebuild})") from None
    except Exception as exc:  # noqa: BLE001 - the training is done: a report failure must not lose it
        warn(f"the report of {run_dir} could not be written ({type(exc).__name__}: {str(exc)[:300]}); "
             f"the trained run (checkpoint, metrics) is complete: {rebuild}")


def _callback_failure(cb: Any, exc: Exception, step: int, steps: int, run_dir: Path | None) -> str:
    """The message for a callback that raised: which one (name, file and line), at which step,
    and where the steps trained so far are."""
    name = getattr(cb, "__qualname__", None) or type(cb).__name__
    code = getattr(cb, "__code__", None)
    where = f" ({code.co_filename}, line {code.co_firstlineno})" if code is not None else ""
    kept = (f"the checkpoint of step {step} is in {run_dir} (continue with resume=True, or "
            "pinnlab solve --resume)" if run_dir is not None
            else "nothing was saved (no run directory, out=, was given)")
    return f"callback {name}{where} raised {type(exc).__name__} at step {step} of {steps}; {kept}"


#: finite steps in a row after which earlier non-finite losses stop counting
_RECOVERY = 10


def _finite_parameters(net, params) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in list(net.parameters()) + list(params.parameters()))


#: ``compile=`` values -> ``torch.compile`` mode (CUDA graphs stay off: a step's
#: tensors are not static enough for them).
COMPILE_MODES = {"default": None, "max-autotune": "max-autotune-no-cudagraphs"}


def _compile_mode(value) -> str | None:
    """``compile=`` as a key of :data:`COMPILE_MODES`, or ``None`` for eager."""
    if value is None or value is False or (isinstance(value, str) and value.lower() in ("false", "off", "no")):
        return None
    if value is True or (isinstance(value, str) and value.lower() in ("true", "on", "yes")):
        return "max-autotune"
    if isinstance(value, str) and value in COMPILE_MODES:
        return value
    raise ConfigError(f"compile={value!r}: expected true, false or one of {', '.join(COMPILE_MODES)}")


#: settings a resumed run may change (how long, where and how it runs, not what it trains)
_RESUMABLE = {"steps", "device", "log_every", "eval_every", "checkpoint_every", "compile",
              "total_steps", "start_step", "kernel"}  # (a stage's first step follows the stage lengths)


def _flat(obj: Any, prefix: str = "") -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):  # a chain's stages
        out = {f"{prefix}{i}": None for i in range(len(obj))}  # (a change in their number shows)
        for i, v in enumerate(obj):
            out.update(_flat(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: obj}


def _check_resume_config(run_dir: Path, config: dict) -> None:
    """Refuse to continue a run with another problem or other training settings: the history
    would mix two trainings under one run's name."""
    path = run_dir / "config.json"
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # an unreadable config.json is rewritten; the checkpoint check still applies
    now = json.loads(json.dumps(config, default=str))  # as it would be written
    a, b = _flat(old), _flat(now)
    diffs = [k for k in sorted(set(a) | set(b))
             if k.split(".")[0] not in _RESUMABLE and k.split(".")[-1] not in _RESUMABLE
             and k in a and a.get(k) != b.get(k)]
    # another strategy: its name, not every setting the two do not share
    renamed = {k[:-len(".name")] for k in diffs if k.endswith(".name") and "." not in k[:-len(".name")]}
    diffs = sorted([k for k in diffs if k.split(".")[0] not in renamed] + list(renamed))
    a.update({k: a[k + ".name"] for k in renamed})
    b.update({k: b.get(k + ".name") for k in renamed})
    if diffs:
        shown = "; ".join(f"{k}: {a.get(k)!r} in the run, {b.get(k)!r} now" for k in diffs[:6])
        raise ConfigError(f"resume: {run_dir} was trained with other settings ({shown}"
                          f"{'; ...' if len(diffs) > 6 else ''}); resume with the run's problem and "
                          "settings (only steps, device, logging, checkpointing and compile may "
                          "change), or start a new run in another directory")


def _check_chain_length(opt: Any, planned: int, steps: int) -> None:
    """Warn when ``steps`` differs from an optimizer chain's planned length so that stages are never
    reached, or the last stage runs on past its own length."""
    lengths = getattr(opt, "steps", None)
    if not planned or steps == planned or not isinstance(lengths, list) or len(lengths) < 2:
        return
    names = [getattr(s, "name", type(s).__name__) for s in opt.stages]
    plan = " + ".join(f"{n} {k}" for n, k in zip(names, lengths))
    if steps < planned:
        skipped = names[opt.stage_index(max(steps - 1, 0)) + 1:]
        if skipped:  # a last stage cut short is an ordinary budget, not a surprise
            warn(f"solve(steps={steps}) is shorter than the optimizer chain {opt.name!r} "
                 f"({plan} = {planned} steps): stage(s) {', '.join(skipped)} never run; "
                 "set the stage lengths instead")
    else:
        warn(f"solve(steps={steps}) is longer than the optimizer chain {opt.name!r} "
             f"({plan} = {planned} steps): its last stage ({names[-1]}) runs "
             f"{steps - planned} more steps")


def _checked_module(net: torch.nn.Module, problem: Problem) -> torch.nn.Module:
    """A user's module must map ``(N, n_coordinates)`` to ``(N, n_fields)``: tried on two points."""
    d, m = len(problem.coordinates), len(problem.fields)
    lo, hi = (np.asarray(b, dtype=np.float64) for b in problem.domain.bounds)
    ref = next((p for p in net.parameters()), None)
    x = torch.as_tensor(np.stack([lo, hi]), dtype=ref.dtype if ref is not None else torch.float32,
                        device=ref.device if ref is not None else "cpu")
    inputs = f"points of shape (N, {d}) (coordinates {', '.join(problem.coordinate_names)})"
    outputs = f"(N, {m}) (fields {', '.join(problem.field_names)})"
    try:
        with torch.no_grad():
            y = net(x)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's forward is reported as such
        raise ConfigError(f"model {type(net).__name__} fails on {inputs}: "
                          f"{type(exc).__name__}: {exc}") from None
    shape = tuple(getattr(y, "shape", ()))
    if not (shape == (2, m) or (m == 1 and shape == (2,))):
        raise ConfigError(f"model {type(net).__name__} must map {inputs} to {outputs}; "
                          f"it gives shape {shape} for 2 points")
    return net


def _stage_dtype(opt, step: int, current: torch.dtype) -> torch.dtype:
    """The dtype the optimizer's current stage asks for (strategies may set ``dtype``)."""
    fn = getattr(opt, "dtype_for", None)
    want = fn(step) if callable(fn) else None
    return _dtype(want) if want else current


def _save_population(run_dir: Path | None, smp, step: int, steps: int, log_every: int) -> None:
    """Eight snapshots of an adaptive sampler's points per run (for the report)."""
    if run_dir is None or not getattr(smp, "adaptive", False):
        return
    every = max(steps // 8, 1)
    if step % every >= log_every and step != steps:
        return
    folder = run_dir / "population"
    folder.mkdir(exist_ok=True)
    arrays = {k: v.detach().cpu().numpy() for k, v in smp.describe().items()
              if isinstance(v, torch.Tensor)}
    np.savez_compressed(folder / f"step_{step:07d}.npz", **arrays)


def _final_loss(history: list) -> float | None:
    rows = [r for r in history if "loss" in r]
    return rows[-1]["loss"] if rows else None


def _late_fall(history: list) -> float | None:
    """How many times the loss fell over the last fifth of the steps (the logged loss nearest
    after 80% of them against the final one): well above 1, training had not converged."""
    rows = [r for r in history if "loss" in r and "event" not in r and math.isfinite(r["loss"])]
    if len(rows) < 3 or rows[-1]["loss"] <= 0:
        return None
    mark = next(r for r in rows if r["step"] >= 0.8 * rows[-1]["step"])
    return None if mark is rows[-1] else mark["loss"] / rows[-1]["loss"]


def _append_history(run_dir: Path | None, row: dict) -> None:
    if run_dir is None:
        return
    import json
    with open(run_dir / "history.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\n")


def _rewrite_history(run_dir: Path, history: list) -> None:
    import json
    from .runs import atomic_write_bytes
    atomic_write_bytes(run_dir / "history.jsonl", "".join(json.dumps(r) + "\n" for r in history).encode())


def _snapshot(net, params, opt, smp, wgt) -> dict:
    return copy.deepcopy({"model": net.state_dict(), "params": params.state_dict(),
                          "optimizer": opt.state_dict(), "sampler": smp.state_dict(),
                          "weighting": wgt.state_dict()})


def _restore(state: dict, net, params, opt, smp, wgt) -> None:
    try:
        net.load_state_dict(state["model"])
        params.load_state_dict(state["params"])
        opt.load_state_dict(state["optimizer"])
        smp.load_state_dict(state["sampler"])
        wgt.load_state_dict(state["weighting"])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint does not match this configuration ({str(exc)[:300]}); "
                              "resume with the same problem and settings") from None
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])


def _checkpoint(step, net, params, opt, smp, wgt, history, elapsed) -> dict:
    return {"step": step, "model": net.state_dict(), "params": params.state_dict(),
            "optimizer": opt.state_dict(), "sampler": smp.state_dict(),
            "weighting": wgt.state_dict(), "history": history, "elapsed": float(elapsed),
            "torch_rng": torch.get_rng_state(), "format": 1}


__all__ = ["solve", "Result", "TrainState"]
