"""Rebuild a run's report from its directory and the problem it solved.

A run directory holds the configuration, history, metrics and checkpoint but not
the problem (SymPy declarations, geometry, reference); the caller (the CLI, by
re-running the problem script) supplies it. The model is rebuilt from
``config.json`` and its weights loaded from the newest intact checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .. import config as cfg
from ..errors import CheckpointError, ConfigError, PinnlabError
from ..runs import load_latest, read_history
from .run import write_run_report


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, OSError) as exc:
        raise CheckpointError(f"{path} is unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds a JSON {type(data).__name__}, not the object a run writes "
                              "(the file was replaced or damaged)")
    return data


def _model_spec(spec: Any) -> dict:
    """The recorded model description with its name matched to the registry."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"config.json describes no rebuildable model ({spec!r})")
    names = {k.lower(): k for k in cfg.registry("model")}
    key = names.get(str(spec["name"]).lower())
    if key is None:
        raise ConfigError(f"the run used the model {spec['name']!r}, which is not a registered "
                          "model (a custom torch module cannot be rebuilt from config.json)")
    return {**spec, "name": key}


def load_run(run_dir: str | Path, problem: Any) -> Any:
    """A :class:`~pinnlab.solve.Result` from a run directory and its problem (on the CPU)."""
    from ..solve import Result, _build_model, _dtype

    run_dir = Path(run_dir)
    config = _read_json(run_dir / "config.json")
    metrics = _read_json(run_dir / "metrics.json")
    if not config:
        raise ConfigError(f"{run_dir} has no config.json: it is not a pinnlab run directory")
    state, _ = load_latest(run_dir)
    dtype = _dtype(config.get("dtype", "float32"))
    model = _build_model(_model_spec(config.get("model")), problem).to(torch.device("cpu"), dtype)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"the checkpoint of {run_dir} does not fit the problem's model "
                              f"({str(exc)[:200]})") from None
    model.eval()
    params = {str(k): float(v) for k, v in (metrics.get("parameters") or {}).items()}
    for key, value in (state.get("params") or {}).items():
        params[key.split(".", 1)[-1]] = float(value)
    history = read_history(run_dir) or list(state.get("history", []))
    metrics = checkpoint_metrics(metrics, state, config, history, problem, model, params, dtype)
    return Result(model, problem, problem.compile(), history, metrics, params, config, run_dir,
                  torch.device("cpu"), dtype)


def _stop_status(step: int, planned: Any, history: list) -> str:
    """Why a run's checkpoint is short of its planned steps, as far as the history tells."""
    last = history[-1] if history else {}
    of = f" of {planned}" if planned is not None else ""
    if "non-finite" in str(last.get("event", "")):
        return (f"stopped at step {step}{of} after repeated non-finite losses (diverged); "
                "the figures show the last good state")
    return f"incomplete: checkpoint at step {step}{of} (interrupted, or still running)"


def checkpoint_metrics(metrics: dict, state: dict, config: dict, history: list, problem: Any,
                       model: Any, params: dict, dtype: Any) -> dict:
    """``metrics.json`` when it belongs to the checkpoint; otherwise (a run interrupted or
    stopped before writing it, or resumed and stopped again, whose metrics.json is an older
    segment's) metrics of the checkpoint itself: its step, a status line, its L2RE and
    parameter errors."""
    from ..evaluate import reference_set, score

    step = int(state.get("step", 0))
    if metrics and metrics.get("steps") == step:
        return metrics
    losses = [r["loss"] for r in history  # rows logged after the checkpoint are not its state
              if "loss" in r and "event" not in r and r.get("step", 0) <= step]
    out = {"status": _stop_status(step, config.get("steps"), history), "steps": step,
           "wall_seconds": state.get("elapsed"), "final_loss": losses[-1] if losses else None,
           "device": "cpu", "dtype": config.get("dtype"), "engine": config.get("engine"),
           "parameters": dict(params)}
    try:
        ref = reference_set(problem)
        if ref is not None:
            out.update(score(model, ref, problem.field_names, torch.device("cpu"), dtype))
    except PinnlabError:
        pass  # the report's reference figures say what is wrong with it
    if problem.parameter_reference:
        out["parameter_errors"] = {str(s): abs(params[str(s)] - v) / max(abs(v), 1e-300)
                                   for s, v in problem.parameter_reference.items() if str(s) in params}
    return out


def rebuild_report(run_dir: str | Path, problem: Any, pdf: bool = False,
                   resolution: int = 160) -> Any:
    """Rewrite the report of ``run_dir`` (see :func:`write_run_report`); returns the Result."""
    result = load_run(run_dir, problem)
    write_run_report(run_dir, result, pdf=pdf, resolution=resolution)
    return result
