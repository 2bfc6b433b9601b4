"""One trial of a study: its settings, its solve, and how it ends.

:func:`run_trial` draws a trial's settings from the study's search space, solves the
problem in the trial's directory, reports to the pruner, and stores the outcome (see
:mod:`pinnlab.study.runner` for what each outcome means to the study): a failure with its
reason, a divergence as a pruned trial, an interruption re-queued.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TrainingError
from .spec import StudySpec, describe_error, objective_values, validation_residual
from .storage import WORKER_ATTR, Heartbeat, has_native_heartbeat, requeue_trial

if TYPE_CHECKING:
    from .runner import StudyOptions

REASON_CHARS = 2000       # a reason longer than this is cut (the trial.json keeps the traceback)


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
    if spec.prunes:                     # the error is reported as the trial trains
        every = spec.report_every
        settings["eval_every"] = every
        settings["log_every"] = math.gcd(int(settings.get("log_every", 100)), every)
    return settings


def run_trial(trial: Any, spec: StudySpec, compiled: Any, opts: StudyOptions,
              device: str | None, timing: dict) -> Any:
    """The objective: solve with the trial's settings in ``OUT/trials/trial_NNNN``.

    Every way out but success is recorded (module docstring): the user attributes for other
    machines, ``trial.json`` for this one. The trial directory is made before ``space(trial)``
    runs, so that a mistake there leaves its reason too."""
    import optuna
    from ..runs import write_json
    from ..solve import solve
    storage = trial.study._storage
    timing["trial_id"] = trial._trial_id
    storage.set_trial_system_attr(trial._trial_id, WORKER_ATTR, _worker_id())
    beat = (nullcontext() if has_native_heartbeat(storage) else
            Heartbeat(storage, trial._trial_id, opts.heartbeat_interval))
    with beat:
        run_dir = Path(opts.out) / "trials" / f"trial_{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        retried = storage.get_trial(trial._trial_id).system_attrs.get("failed_trial")
        if retried is not None:
            trial.set_user_attr("retry_of", retried)
        run_dir.mkdir(parents=True, exist_ok=True)
        meta = {"study": opts.study_name, "trial": trial.number,
                "problem_script": str(spec.problem_script), "study_file": str(spec.path),
                "worker": _worker_id()}
        prune = None
        t0 = time.perf_counter()
        try:
            settings = trial_settings(trial, spec, opts, device)        # runs space(trial)
            trial.set_user_attr("settings", settings)
            meta["settings"] = settings
            _write_state(run_dir, meta, trial, "running")
            callbacks = []
            if spec.prunes:
                prune = PruningCallback(trial, spec, compiled, spec.report_every)
                callbacks.append(prune)
            result = solve(compiled, out=run_dir, callbacks=callbacks, progress=False,
                           report=spec.trial_reports, **settings)
            values = objective_values(result, spec)
        except optuna.TrialPruned as exc:
            trial.set_user_attr("prune_reason", str(exc))
            _write_state(run_dir, meta, trial, "pruned", pruned_at=prune.last if prune else None)
            raise
        except TrainingError as exc:
            raise _diverged(trial, spec, run_dir, meta, exc, prune) from None
        except KeyboardInterrupt:
            _interrupted(trial, run_dir, meta)
            raise
        except Exception as exc:
            _failed(trial, spec, run_dir, meta, exc)
            raise
        finally:
            timing["solve"] = time.perf_counter() - t0
        learned = _learned(result.metrics)      # an inverse problem's parameters, and their errors
        for key, value in learned.items():
            trial.set_user_attr(key, value)
        write_json(run_dir / "trial.json", {**meta, "params": trial.params, "state": "complete",
                                            "values": values, **learned})
    return values[0] if len(values) == 1 else values


def _learned(metrics: dict) -> dict:
    """The learned parameters (``parameters``) and their errors against the problem's
    ``parameter_reference`` (``parameter_errors``) of a run's metrics, where it has them."""
    return {k: {str(n): float(v) for n, v in metrics[k].items()}
            for k in ("parameters", "parameter_errors") if metrics.get(k)}


def _write_state(run_dir: Path, meta: dict, trial: Any, state: str, **extra: Any) -> None:
    from ..runs import write_json
    write_json(run_dir / "trial.json", {**meta, "params": trial.params, "state": state, **extra})


def _failed(trial: Any, spec: StudySpec, run_dir: Path, meta: dict, exc: Exception) -> None:
    """An exception: its reason in the storage (``fail_reason``) and in ``trial.json`` (with the
    traceback); Optuna then marks the trial FAIL."""
    import traceback
    reason = describe_error(exc, spec)[:REASON_CHARS]
    trial.set_user_attr("fail_reason", reason)
    _write_state(run_dir, meta, trial, "fail", error=reason,
                 traceback="".join(traceback.format_exception(exc)))


def _diverged(trial: Any, spec: StudySpec, run_dir: Path, meta: dict, exc: TrainingError,
              prune: "PruningCallback | None") -> Exception:
    """A divergence: the TrialPruned to raise instead. An infinite error reported after the last
    report makes it the worst of the trials pruned there, for the sampler and the pruner."""
    import optuna
    reason = f"diverged: {describe_error(exc, spec)}"[:REASON_CHARS]
    if prune is not None:             # single objective (Optuna has no reports otherwise)
        trial.report(float("inf"), prune.last[0] + 1 if prune.last else 0)
    trial.set_user_attr("diverged", True)
    trial.set_user_attr("prune_reason", reason)
    _write_state(run_dir, meta, trial, "pruned", diverged=True, error=reason)
    return optuna.TrialPruned(reason)


def _interrupted(trial: Any, run_dir: Path, meta: dict) -> None:
    """Ctrl-C: not the trial's fault. Optuna marks it FAIL; a copy with its parameters waits in
    the queue for the next run (using up no ``--max-retry``), as for a killed worker."""
    reason = "interrupted (Ctrl-C or SIGTERM) and re-queued"
    trial.set_user_attr("interrupted", True)
    trial.set_user_attr("fail_reason", reason)
    _write_state(run_dir, meta, trial, "interrupted", error=reason)
    requeue_trial(trial.study, trial.study._storage.get_trial(trial._trial_id), counted=False)


def _worker_id() -> str:
    from .storage import worker_id
    return worker_id()


def fail_reason(trial: Any) -> str:
    """Why a FAIL trial failed: its ``fail_reason`` attribute, else the error its ``trial.json``
    recorded (studies run before the attribute existed)."""
    reason = trial.user_attrs.get("fail_reason")
    if reason:
        return reason
    try:
        meta = json.loads((Path(trial.user_attrs["run_dir"]) / "trial.json").read_text())
        return meta["error"]
    except (KeyError, OSError, ValueError, TypeError):
        return "no reason recorded (a killed worker or a lost heartbeat leaves none)"
