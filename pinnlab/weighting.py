"""Loss weightings: how per-term residuals become the scalar training loss.

The protocol (duck-typed; subclass :class:`FixedWeights` for the defaults):

``setup(problem)``
    called once with the :class:`~pinnlab.compiler.CompiledProblem`.
``__call__(step, residuals, batches, params) -> dict[str, Tensor]``
    the weighted loss of every term, from the residual vectors (with their graph),
    the step's points, and the trainable parameters (for gradient-based schemes).
``state_dict()`` / ``load_state_dict(state)``; optionally ``log() -> dict`` of
JSON-able values added to every history row (e.g. the causal tolerance).

A batch may carry per-point ``weights`` set by the sampler (causal R3's time
gate); :func:`mean_square` applies them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .compiler import CompiledProblem
from .errors import ConfigError


def mean_square(r: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """``mean(r^2)``, or ``mean((w r)^2)`` with per-point weights from the sampler."""
    if weights is not None and weights.shape[0] == r.shape[0]:
        r = r * weights
    return (r * r).mean()


def term_batch(problem: CompiledProblem, batches: dict, term: str):
    """The batch a term was evaluated on."""
    return batches.get(problem.terms[term].block)


@dataclass
class FixedWeights:
    """Each term's loss is ``weight * mean(residual^2)``.

    The weight is the term's declared ``weight`` unless ``weights`` names it
    (``{"initial0": 100.0}``); a group name (``pde``, ``constraint``, ``data``)
    sets every term of that group.
    """

    name = "fixed"
    weights: dict = field(default_factory=dict)

    def setup(self, problem: CompiledProblem) -> None:
        known = set(problem.terms) | {"pde", "constraint", "data"}
        unknown = set(self.weights) - known
        if unknown:
            raise ConfigError(f"weighting: unknown term names {sorted(unknown)}; terms are "
                              f"{sorted(problem.terms)} (or groups pde, constraint, data)")
        self.problem = problem
        self.current = {}
        for name, term in problem.terms.items():
            w = self.weights.get(name, self.weights.get(term.group, term.weight))
            try:
                w = float(w)
            except (TypeError, ValueError):
                raise ConfigError(f"weighting: the weight of term {name!r} must be a number, got {w!r}") from None
            if not math.isfinite(w) or w < 0:
                raise ConfigError(f"weighting: the weight of term {name!r} must be a finite number >= 0, "
                                  f"got {w} (a negative weight would maximise that term's loss)")
            self.current[name] = w

    def __call__(self, step: int, residuals: dict, batches: dict, params: list) -> dict:
        out = {}
        for name, r in residuals.items():
            batch = term_batch(self.problem, batches, name)
            out[name] = self.current[name] * mean_square(r, getattr(batch, "weights", None))
        return out

    def state_dict(self) -> dict:
        return {"current": dict(self.current)}

    def load_state_dict(self, state: dict) -> None:
        self.current.update(state["current"])

    def describe(self) -> dict:
        return {"weights": dict(self.current)}


WEIGHTINGS: dict[str, type] = {"fixed": FixedWeights}


def all_weightings() -> dict[str, type]:
    """Fixed weights plus those defined in ``pinnlab.samplers`` (causal) and
    ``pinnlab.optimizers`` (gradient-based balancing), each exporting ``WEIGHTINGS``."""
    from . import optimizers, samplers
    out = dict(WEIGHTINGS)
    out.update(getattr(samplers, "WEIGHTINGS", {}))
    out.update(getattr(optimizers, "WEIGHTINGS", {}))
    return out
