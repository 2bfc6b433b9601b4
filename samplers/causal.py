"""Causal loss weighting (Wang, Sankaran, Perdikaris, "Respecting causality for
training physics-informed neural networks", CMAME 2024; arXiv 2203.07404).

The causal training algorithm is patented by the University of Pennsylvania and
not licensed for commercial use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pinnlab.errors import ConfigError
from pinnlab.weighting import FixedWeights, mean_square, term_batch

from .r3 import time_bounds


@dataclass
class CausalWeights(FixedWeights):
    """Causal training weights (Wang, Sankaran, Perdikaris; arXiv 2203.07404).

    The PDE residual points are sorted into ``n_chunks`` equal time slices;
    ``L_i`` is the mean squared residual in slice ``i`` (summed over PDE terms with
    their weights) and ``w_i = exp(-eps * sum_{k<i} L_k)`` (stop-gradient); a PDE
    term's loss is ``weight * mean_i(w_i L_i)``. Other terms are weighted as in
    :class:`~pinnlab.weighting.FixedWeights`. ``eps`` is annealed through
    ``eps_schedule`` (default 1e-2, 1e-1, 1, 10, 100), moving on once
    ``min_i w_i > tol`` (0.99) or, if ``max_steps_per_eps`` > 0, after that many
    steps at one ``eps`` (the reference code's cap, ``steps // 5``). The weights of a
    step come from its first loss evaluation and hold for the rest of the step (the
    line-search evaluations of L-BFGS). Per-point batch
    weights (e.g. a sampler's) multiply the residuals as in
    :func:`~pinnlab.weighting.mean_square`. Needs a time axis.

    The causal training algorithm is patented by the University of Pennsylvania and
    not licensed for commercial use.
    """

    name = "causal"
    n_chunks: int = 32
    eps_schedule: tuple = (1e-2, 1e-1, 1.0, 10.0, 100.0)
    tol: float = 0.99
    max_steps_per_eps: int = 0

    def setup(self, problem) -> None:
        self.axis, self.t0, self.t1 = time_bounds(problem, "weighting 'causal' (causal training)")
        if not isinstance(self.n_chunks, int) or self.n_chunks < 1:
            raise ConfigError(f"weighting causal: n_chunks must be a positive integer, got {self.n_chunks!r}")
        eps = [float(e) for e in self.eps_schedule]
        if not eps or not all(math.isfinite(e) and e >= 0 for e in eps):
            raise ConfigError(f"weighting causal: eps_schedule must be non-empty numbers >= 0, got "
                              f"{self.eps_schedule!r}")
        self.eps_schedule = tuple(eps)
        if not (isinstance(self.tol, (int, float)) and 0 <= self.tol < 1):
            raise ConfigError(f"weighting causal: tol must be a number in [0, 1), got {self.tol!r} (the "
                              "smallest causal weight never exceeds 1, so eps would never be annealed)")
        if isinstance(self.max_steps_per_eps, bool) or not isinstance(self.max_steps_per_eps, int) \
                or self.max_steps_per_eps < 0:
            raise ConfigError(f"weighting causal: max_steps_per_eps must be an integer >= 0 (0: no cap), "
                              f"got {self.max_steps_per_eps!r}")
        super().setup(problem)
        self.index, self.min_weight, self.last_step, self.since = 0, 0.0, -1, 0
        self.chunk_weights = [1.0] * self.n_chunks
        self._frozen = None

    @property
    def eps(self) -> float:
        return self.eps_schedule[self.index]

    def slice_losses(self, r: torch.Tensor, batch) -> torch.Tensor:
        """``L_i``: mean of ``(w r)^2`` over the points in time slice ``i`` (0 if empty)."""
        w = getattr(batch, "weights", None)
        if w is not None and w.shape[0] == r.shape[0]:
            r = r * w
        t_hat = (batch.points[:, self.axis] - self.t0) / (self.t1 - self.t0)
        idx = (t_hat * self.n_chunks).floor().long().clamp(0, self.n_chunks - 1)
        sums = torch.zeros(self.n_chunks, dtype=r.dtype, device=r.device).index_add(0, idx, r * r)
        counts = torch.bincount(idx, minlength=self.n_chunks).to(r.dtype).clamp(min=1)
        return sums / counts

    def causal_weights(self, total: torch.Tensor) -> torch.Tensor:
        """``w_i = exp(-eps * sum_{k<i} L_k)`` from the summed slice losses (detached)."""
        prior = torch.cumsum(total.detach(), 0) - total.detach()
        return torch.exp(-self.eps * prior)

    def __call__(self, step: int, residuals: dict, batches: dict, params: list) -> dict:
        fresh = step != self.last_step
        if fresh:  # anneal between steps, never within one (L-BFGS closures)
            if self.last_step >= 0:
                self.since += 1
                capped = self.max_steps_per_eps > 0 and self.since >= self.max_steps_per_eps
                if (self.min_weight > self.tol or capped) and self.index < len(self.eps_schedule) - 1:
                    self.index, self.since = self.index + 1, 0
            self.last_step = step
        out, slices = {}, {}
        for name, r in residuals.items():
            batch = term_batch(self.problem, batches, name)
            if self.problem.terms[name].group == "pde" and batch is not None:
                slices[name] = self.slice_losses(r, batch)
            else:
                out[name] = self.current[name] * mean_square(r, getattr(batch, "weights", None))
        if slices:
            total = sum(self.current[n] * s for n, s in slices.items())
            if fresh or self._frozen is None or self._frozen.shape != total.shape:
                # the weights of a step come from its first evaluation: the further evaluations
                # of an L-BFGS line search then see one smooth objective, not one whose weights
                # move with every trial point
                self._frozen = self.causal_weights(total)
            w = self._frozen.to(total)
            self.min_weight = float(w.min())
            self.chunk_weights = [float(v) for v in w]
            for name, s in slices.items():
                out[name] = self.current[name] * (w * s).mean()
        return {name: out[name] for name in residuals}

    def log(self) -> dict:
        return {"causal_eps": self.eps, "causal_min_weight": self.min_weight,
                "causal_weights": list(self.chunk_weights)}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "index": int(self.index), "min_weight": float(self.min_weight),
                "last_step": int(self.last_step), "since": int(self.since),
                "chunk_weights": list(self.chunk_weights)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.index, self.min_weight = int(state["index"]), float(state["min_weight"])
        self.last_step, self.since = int(state["last_step"]), int(state.get("since", 0))
        self.chunk_weights = [float(v) for v in state["chunk_weights"]]
        self._frozen = None

    def describe(self) -> dict:
        return {**super().describe(), "eps": self.eps, "chunk_weights": list(self.chunk_weights)}

