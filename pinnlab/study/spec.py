"""Study files: a problem, a search space over ``solve`` settings, and an objective.

A study file is a Python file (usually in ``studies/``) that defines::

    problem_script = "../problems/burgers1d.py"   # relative to the study file
    base = {"steps": 500}                          # optional: settings on top of the problem's own
    def space(trial):                              # the search space (optuna ``trial.suggest_*``);
                                                   # space(trial, fixed) also gets base + --set
        return {"optimizer": {"name": "adam", "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True)}}
    objectives = ("error",)                        # optional; ("error", "time") for two objectives;
                                                   # also "parameter_error" or f(result) -> float
    pruner = "median"                              # optional: median, hyperband or none
    report_every = 100                             # optional: steps between intermediate reports
    validation_points, validation_seed = 2048, 20240   # optional: the residual objective's points
    trial_reports = False                          # optional: write each trial's report.html

Any other module-level name that is a near miss of these (``objective``, ``prunner``) is
refused rather than ignored; a mistake in the file names its line.

The settings of a trial are the problem script's ``settings``, then ``base``,
then what ``space(trial)`` returns, then the ``--set`` overrides. Strategy
settings (``model``, ``sampler``, ``optimizer``, ``weighting``) are merged key by
key: switching the sampler from ``uniform`` to ``r3`` keeps ``n_interior``, and
settings the new strategy does not take are dropped.

The objective ``error`` is the L2RE against the problem's reference when it has
one, else the mean squared residual on a fixed, seeded validation set of points
(:func:`validation_residual`); ``time`` is the wall time of the solve;
``parameter_error`` the mean relative error of the learned parameters against the
problem's ``parameter_reference``; a function of the solve's Result is an objective too
(:func:`objective_values`). Only ``("error",)`` studies are pruned (on the error reported
as a trial trains).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .. import config as cfg
from ..errors import ConfigError, run_user_file, user_frame

OBJECTIVES = ("error", "time", "parameter_error")
PRUNERS = ("median", "hyperband", "none")


@dataclass
class StudySpec:
    """A loaded study file."""

    path: Path
    problem_script: Path
    problem: Any
    problem_settings: dict
    space: Callable[[Any], dict]
    base: dict = field(default_factory=dict)
    objectives: tuple = ("error",)
    pruner: Any = "median"
    report_every: int = 100
    validation_points: int = 2048
    validation_seed: int = 20240
    trial_reports: bool = False

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def directions(self) -> list[str]:
        return ["minimize"] * len(self.objectives)

    @property
    def objective_names(self) -> list[str]:
        return [o if isinstance(o, str) else getattr(o, "__name__", "objective") for o in self.objectives]

    @property
    def prunes(self) -> bool:
        """Trials report the error as they train and may be pruned on it: Optuna prunes
        single-objective studies only, and the reported error must be the objective."""
        return tuple(self.objectives) == ("error",)

    def settings_for(self, trial: Any, overrides: list[str] = ()) -> dict:
        """The ``solve`` settings of one trial (problem settings, base, space, ``--set``)."""
        settings = merge_settings(normalize(self.problem_settings), normalize(self.base))
        if trial is None:
            chosen = {}
        elif _arity(self.space) >= 2:       # space(trial, fixed): sees base and --set values
            chosen = self.space(trial, normalize(cfg.apply_overrides(settings, list(overrides))))
        else:
            chosen = self.space(trial)
        if not isinstance(chosen, dict):
            raise ConfigError(f"{self.path}: space(trial) must return a dict of solve settings, "
                              f"got {type(chosen).__name__}")
        settings = merge_settings(settings, normalize(chosen))
        return normalize(cfg.apply_overrides(settings, list(overrides)))


def load_study_file(path: str | Path) -> StudySpec:
    """Run a study file and return its :class:`StudySpec`."""
    from ..cli import load_problem_script
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"study file {path} does not exist")
    scope = run_user_file(path, "__pinnlab_study__", "study file")
    script = scope.get("problem_script")
    if not script:
        raise ConfigError(f"study file {path} defines no 'problem_script' (path of a problem script)")
    script = Path(script)
    if not script.is_absolute():
        script = (path.parent / script).resolve()
    problem, problem_settings = load_problem_script(script)
    space = scope.get("space")
    if not callable(space):
        raise ConfigError(f"study file {path} defines no 'space(trial)' function")
    _check_names(path, scope)
    objectives = scope.get("objectives", ("error",))
    if isinstance(objectives, str):              # objectives = "error": one objective
        objectives = (objectives,)
    objectives = tuple(objectives)
    bad = [o for o in objectives if not callable(o) and o not in OBJECTIVES]
    if not objectives or bad:
        raise ConfigError(f"study file {path}: objectives must be taken from {OBJECTIVES} or be "
                          f"functions of a solve's Result (returning a float to minimize), got {objectives}")
    declared = getattr(problem, "problem", problem)        # a CompiledProblem's Problem
    if "parameter_error" in objectives and not getattr(declared, "parameter_reference", None):
        raise ConfigError(f"study file {path}: the objective 'parameter_error' needs the problem's "
                          "parameter_reference (the true values of its learnable parameters)")
    pruner = scope.get("pruner", "median")      # a name, or an optuna pruner object
    if isinstance(pruner, str) and pruner not in PRUNERS:
        raise ConfigError(f"study file {path}: pruner must be one of {PRUNERS}, got {pruner!r}")
    base = scope.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"study file {path}: base must be a dict of solve settings, "
                          f"got {type(base).__name__} {base!r:.80}")
    return StudySpec(path=path, problem_script=script, problem=problem,
                     problem_settings=problem_settings, space=space,
                     base=dict(base), objectives=objectives, pruner=pruner,
                     report_every=_positive_int(path, scope, "report_every", 100),
                     validation_points=_positive_int(path, scope, "validation_points", 2048),
                     validation_seed=_int(path, scope, "validation_seed", 20240),
                     trial_reports=bool(scope.get("trial_reports", False)))


#: the module-level names a study file may define (see the module docstring)
STUDY_NAMES = ("problem_script", "base", "space", "objectives", "pruner", "report_every",
               "validation_points", "validation_seed", "trial_reports")


def _check_names(path: Path, scope: dict) -> None:
    """A module-level name that is a near miss of a study setting (``objective``, ``prunner``)
    would be ignored without a word: refused, with the name it resembles."""
    import difflib
    for name in scope:
        if name.startswith("_") or name in STUDY_NAMES:
            continue
        close = difflib.get_close_matches(name, STUDY_NAMES, n=1, cutoff=0.8)
        if close:
            raise ConfigError(f"study file {path}: {name!r} is not a study setting (did you mean "
                              f"{close[0]!r}?); a study file defines {', '.join(STUDY_NAMES)}")


def _int(path: Path, scope: dict, name: str, default: int) -> int:
    value = scope.get(name, default)
    whole = isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise ConfigError(f"study file {path}: {name} must be an integer, got {value!r}")
    return int(value)


def _positive_int(path: Path, scope: dict, name: str, default: int) -> int:
    value = _int(path, scope, name, default)
    if value < 1:
        raise ConfigError(f"study file {path}: {name} must be >= 1, got {value}")
    return value


# ---------------------------------------------------------------- errors in the user's code

def user_line(exc: BaseException, files: tuple) -> str | None:
    """``space() in study.py, line 7``: the deepest frame of ``exc``'s traceback in one of the user's
    ``files`` (the study file, the problem script), or None. The frames of Optuna and pinnlab
    below it say nothing about the user's mistake."""
    f = user_frame(exc, files)
    if f is None:
        return None
    where = "module level" if f.name == "<module>" else f"{f.name}()"
    return f"{where} in {Path(f.filename).name}, line {f.lineno}"


def describe_error(exc: BaseException, spec: "StudySpec", where: str | None = None) -> str:
    """One line for an exception raised in the user's code or in a trial: the user's line (if the
    traceback passes through the study file or the problem script; else ``where``), then the
    exception's type and message."""
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    where = user_line(exc, (spec.path, spec.problem_script)) or where
    return f"{where}: {what}" if where else what


# ---------------------------------------------------------------- settings

def _arity(fn: Callable) -> int:
    import inspect
    try:
        return len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return 1


def _registry_key(kind: str, obj: Any) -> str | None:
    for key, cls in cfg.registry(kind).items():
        if type(obj) is cls:
            return key
    return None


def normalize(settings: dict) -> dict:
    """Settings as plain data: strategy instances and names become ``{"name": ..., ...}`` dicts."""
    out = {}
    for k, v in settings.items():
        if k in cfg.KINDS:
            if isinstance(v, str):
                v = {"name": v}
            elif dataclasses.is_dataclass(v) and not isinstance(v, type):
                key = _registry_key(k, v)
                if key is None:
                    raise ConfigError(f"setting {k!r}: {type(v).__name__} is not a registered {k}; "
                                      "give it as a registered name or dict in a study")
                v = {**cfg.describe(v), "name": key}
            elif isinstance(v, dict):
                v = _plain(v)
        out[k] = _plain(v)
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def merge_settings(old: dict, new: dict) -> dict:
    """``new`` over ``old``; strategy dicts merge key by key and drop settings the strategy lacks."""
    out = dict(old)
    for k, v in new.items():
        if k in cfg.KINDS and isinstance(v, dict) and isinstance(out.get(k), dict):
            merged = {**out[k], **v}
            name = merged.get("name")
            reg = cfg.registry(k)
            if name in reg:
                fields = cfg.fields_of(reg[name])
                merged = {key: val for key, val in merged.items()
                          if key == "name" or key in fields or key in v}
            out[k] = merged
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------- objective

def validation_residual(compiled: Any, model: torch.nn.Module, parameters: dict,
                        n: int = 2048, seed: int = 20240) -> float:
    """Mean over terms of the mean squared residual on a fixed, seeded set of points."""
    from ..engines import make_engine
    from ..loss import ParameterSet
    ref = next(model.parameters(), None)
    dev = ref.device if ref is not None else torch.device("cpu")
    dt = ref.dtype if ref is not None else torch.float32
    smp = cfg.build("sampler", {"name": "uniform", "n_interior": n, "n_boundary": max(n // 8, 16),
                                "n_initial": max(n // 8, 16), "n_periodic": max(n // 8, 16)})
    smp.setup(compiled, np.random.default_rng(seed), dev, dt)
    batches = smp.batches(0)
    initial = {s: parameters.get(str(s), v) for s, v in compiled.parameters.items()}
    params = ParameterSet(initial, dev, dt)
    residuals = compiled.residuals(model, make_engine("auto", model), batches, params.env())
    values = [float((r.detach() ** 2).mean()) for r in residuals.values() if r.numel()]
    return float(np.mean(values)) if values else math.nan


def objective_values(result: Any, spec: StudySpec) -> list[float]:
    """The trial's value of each objective (all minimized): ``error``, ``time`` (the solve's
    wall seconds), ``parameter_error`` (the mean relative error of the learned parameters
    against ``parameter_reference``), or a function of the Result."""
    values = []
    for o in spec.objectives:
        if o == "error":
            value = error_of(result, spec)
        elif o == "time":
            value = result.metrics["wall_seconds"]
        elif o == "parameter_error":
            errors = list(result.metrics["parameter_errors"].values())
            value = sum(errors) / len(errors)
        else:
            value = o(result)
        try:
            values.append(float(value))
        except (TypeError, ValueError):
            name = spec.objective_names[len(values)]
            raise ConfigError(f"objective {name} of {spec.path} returned {value!r}, not a number") from None
    return values


def error_of(result: Any, spec: StudySpec) -> float:
    """The study's error: L2RE if the problem has a reference, else the validation residual."""
    if result.metrics.get("l2re") is not None:
        return float(result.metrics["l2re"])
    return validation_residual(result.compiled, result.model, result.parameters,
                               spec.validation_points, spec.validation_seed)
