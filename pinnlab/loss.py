"""One loss evaluation: residuals -> weighted per-term losses -> total and groups."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
import torch
from torch import nn

from .compiler import CompiledProblem
from .errors import ConfigError


class ParameterSet(nn.Module):
    """The learnable constants of a problem (inverse problems), one tensor each."""

    def __init__(self, initial: dict, device, dtype):
        super().__init__()
        self.symbols = {str(s): s for s in initial}
        self.values_ = nn.ParameterDict({str(s): nn.Parameter(torch.tensor(float(v), device=device,
                                                                           dtype=dtype))
                                         for s, v in initial.items()})

    def env(self) -> dict[sp.Symbol, torch.Tensor]:
        return {self.symbols[k]: p for k, p in self.values_.items()}

    def values(self) -> dict[str, float]:
        return {k: float(p.detach()) for k, p in self.values_.items()}


@dataclass
class LossEval:
    """The result of one forward evaluation of the training loss."""

    total: torch.Tensor
    terms: dict          # term -> weighted loss (with graph)
    groups: dict         # group ("pde", "constraint", "data") -> weighted loss sum
    residuals: dict      # term -> residual vector (with graph)

    def row(self, step: int) -> dict:
        """A history row: the step, the total and every term's weighted loss."""
        out = {"step": step, "loss": float(self.total.detach())}
        for k, v in self.terms.items():
            out[f"loss_{k}"] = float(v.detach())
        return out


def live_residuals(model, residuals: dict) -> dict:
    """The residuals less those of terms the model satisfies by construction (hard constraints).

    When that leaves none, nothing constrains the network, and training could only change
    the solution where no term looks: refused, naming the terms the model satisfies."""
    skip = getattr(model, "exact_terms", None) or ()
    live = {k: r for k, r in residuals.items() if k not in skip} if skip else residuals
    if not live:
        held = sorted(set(skip) | set(residuals))
        raise ConfigError(f"nothing to train: the model ({type(model).__name__}) satisfies every term "
                          f"of the problem by construction ({', '.join(held) or 'no terms'}), so no loss "
                          "is left; add the equations the solution must satisfy, or train without "
                          "hard constraints (hard=False)")
    return live


def loss_terms(problem: CompiledProblem, residuals: dict, weighting, batches,
               params: ParameterSet, step: int) -> tuple[dict, dict, torch.Tensor]:
    """Weighted term losses, their group sums and the total, from the residuals."""
    terms = weighting(step, residuals, batches, params)
    groups: dict[str, torch.Tensor] = {}
    for name, loss in terms.items():
        g = problem.terms[name].group
        groups[g] = groups[g] + loss if g in groups else loss
    return terms, groups, sum(terms.values())


def evaluate_losses(problem: CompiledProblem, model, engine, batches, params: ParameterSet,
                    weighting, step: int, residual_fn=None) -> LossEval:
    """Residuals, weighted term losses, group sums and total for one step.

    ``residual_fn(batches, env)`` replaces ``problem.residuals(model, engine, ...)``
    (``solve(compile=True)`` passes a ``torch.compile``-d version of it).
    """
    if residual_fn is None:
        residuals = problem.residuals(model, engine, batches, params.env())
    else:
        residuals = residual_fn(batches, params.env())
    residuals = live_residuals(model, residuals)
    terms, groups, total = loss_terms(problem, residuals, weighting, batches, params, step)
    return LossEval(total, terms, groups, residuals)


def undefined_terms(problem: CompiledProblem, ev: LossEval, batches: dict) -> str | None:
    """Why the first evaluation of a fresh run is not finite, when a term's residual itself is
    NaN or infinite there (its expression is undefined at some points), else ``None``.

    At the first step nothing has been trained yet, so rolling back cannot help: the message
    names the terms, how many points, and one of them."""
    found = []
    for name, r in ev.residuals.items():
        r = r.detach()
        bad = ~torch.isfinite(r.reshape(r.shape[0], -1)).all(dim=-1) if r.ndim else ~torch.isfinite(r)
        if not bool(bad.any()):
            continue
        term = problem.terms[name]
        at = ""
        points = getattr(batches.get(term.block), "points", None)
        if points is not None and r.ndim and points.shape[0] == r.shape[0]:
            first = points[bad.nonzero()[0, 0]].tolist()
            at = " (e.g. at " + ", ".join(f"{c}={v:.4g}" for c, v in zip(problem.coordinates, first)) + ")"
        found.append(f"{term.where}: {int(bad.sum())} of {bad.numel()} points{at}")
    if not found:
        return None
    return ("the residual is NaN or infinite before any training step, so the expression is "
            "undefined there: " + "; ".join(found) + ". Common causes: a Piecewise with no "
            "otherwise branch (value, True), log or sqrt of a negative value, a division by zero")
