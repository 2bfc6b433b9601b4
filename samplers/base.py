"""The sampler protocol and the non-adaptive samplers.

A sampler decides, at every step, which collocation points each block of a
compiled problem is evaluated at. The protocol (duck-typed; subclass
:class:`Sampler` for the defaults):

``setup(problem, rng, device, dtype)``
    called once by ``solve`` with the :class:`~pinnlab.compiler.CompiledProblem`
    and a ``numpy.random.Generator`` owned by the sampler from then on.
``batches(step) -> dict[str, Batch]``
    the points of every block for this step.
``observe(step, residuals)``
    the detached per-point residuals of this step's loss evaluation, keyed by
    term name (adaptive samplers compute their fitness from them: no second
    forward pass).
``state_dict()`` / ``load_state_dict(state)``
    everything needed for a resumed run to continue identically (tensors, numbers,
    strings, lists and dicts only, so checkpoints load with ``weights_only=True``).
``describe() -> dict``
    what a callback or report may show (e.g. the current population).

Optional: ``adaptive = True`` (``solve`` then saves snapshots of ``describe()``'s
tensors for the report), ``log() -> dict`` of JSON-able values added to every
history row (e.g. ``causal_beta``), and per-point ``Batch.weights`` (detached)
that the loss weighting multiplies the residuals by (causal R3's time gate; the
zero weights of the refinement samplers' candidate points).

Fixed data blocks are never resampled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from pinnlab.compiler import Batch, Block, CompiledProblem
from pinnlab.errors import ConfigError

DEFAULT_COUNTS = {"interior": 2000, "boundary": 200, "initial": 200, "periodic": 200}


def block_role(block: Block) -> str:
    """``interior``, ``boundary``, ``initial``, ``periodic`` or ``fixed`` (sets the default count)."""
    if block.kind == "fixed":
        return "fixed"
    if block.kind == "periodic":
        return "periodic"
    kind = getattr(block.region, "kind", "interior")
    return kind if kind in DEFAULT_COUNTS else "boundary"


def rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


@dataclass
class Sampler:
    """Uniform collocation points, drawn once (``resample_every=0``) or every k steps.

    ``n_interior``, ``n_boundary``, ``n_initial`` and ``n_periodic`` set the point
    count per block role; ``counts`` overrides it for named blocks; ``method`` is
    ``uniform``, ``sobol``, ``halton`` or ``lhs``.
    """

    name = "uniform"
    n_interior: int = 2000
    n_boundary: int = 200
    n_initial: int = 200
    n_periodic: int = 200
    resample_every: int = 0
    method: str = "uniform"
    counts: dict = field(default_factory=dict)

    def setup(self, problem: CompiledProblem, rng: np.random.Generator,
              device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        for key in ("n_interior", "n_boundary", "n_initial", "n_periodic", "resample_every"):
            v = getattr(self, key)
            if not isinstance(v, (int, np.integer)) or v < (0 if key == "resample_every" else 1):
                raise ConfigError(f"sampler {self.name}: {key} must be a positive integer, got {v!r}")
        if self.method not in ("uniform", "sobol", "halton", "lhs"):
            raise ConfigError(f"sampler {self.name}: method must be uniform, sobol, halton or lhs, "
                              f"got {self.method!r}")
        if not isinstance(self.counts, dict):
            raise ConfigError(f"sampler {self.name}: counts must map block names to point counts, "
                              f"got {self.counts!r}")
        unknown = set(self.counts) - set(problem.blocks)
        if unknown:
            raise ConfigError(f"sampler {self.name}: counts names unknown blocks {sorted(unknown)}; "
                              f"blocks are {sorted(problem.blocks)}")
        for name, v in self.counts.items():
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"sampler {self.name}: counts[{name!r}] must be a positive integer "
                                  f"(points of block {name!r}), got {v!r}")
        self.problem, self.rng, self.device, self.dtype = problem, rng, device, dtype
        self.current: dict[str, Batch] = {}
        for name in problem.blocks:
            self.current[name] = self.draw(name)

    def count(self, name: str) -> int:
        block = self.problem.blocks[name]
        if name in self.counts:
            return int(self.counts[name])
        role = block_role(block)
        return {"interior": self.n_interior, "boundary": self.n_boundary, "initial": self.n_initial,
                "periodic": self.n_periodic, "final": self.n_initial}.get(role, self.n_boundary)

    def draw(self, name: str, n: int | None = None) -> Batch:
        """Fresh points for one block (all of them for a fixed data block)."""
        block = self.problem.blocks[name]
        sample = block.region.sample(self.count(name) if n is None else n, self.rng, self.method)
        pts = torch.as_tensor(np.asarray(sample.points), dtype=self.dtype, device=self.device)
        nrm = None if sample.normals is None else torch.as_tensor(
            np.asarray(sample.normals), dtype=self.dtype, device=self.device)
        return Batch(pts, nrm)

    def batches(self, step: int) -> dict[str, Batch]:
        if self.resample_every and step > 0 and step % self.resample_every == 0:
            for name, block in self.problem.blocks.items():
                if block.kind != "fixed":
                    self.current[name] = self.draw(name)
        return self.current

    def observe(self, step: int, residuals: dict[str, torch.Tensor]) -> None:
        """Non-adaptive: nothing to learn from residuals."""

    def to(self, device, dtype) -> None:
        """Move the current points (e.g. for a float64 finishing stage)."""
        self.device, self.dtype = device, dtype
        self.current = {k: Batch(b.points.to(device, dtype),
                                 None if b.normals is None else b.normals.to(device, dtype))
                        for k, b in self.current.items()}

    def state_dict(self) -> dict:
        return {"rng": rng_state(self.rng),
                "points": {k: b.points.cpu() for k, b in self.current.items()},
                "normals": {k: b.normals.cpu() for k, b in self.current.items() if b.normals is not None}}

    def load_state_dict(self, state: dict) -> None:
        set_rng_state(self.rng, state["rng"])
        for k, pts in state["points"].items():
            nrm = state["normals"].get(k)
            self.current[k] = Batch(pts.to(self.device, self.dtype),
                                    None if nrm is None else nrm.to(self.device, self.dtype))

    def describe(self) -> dict:
        return {k: b.points for k, b in self.current.items()}


@dataclass
class ResampleSampler(Sampler):
    """Uniform points redrawn every ``resample_every`` steps (default 100)."""

    name = "resample"
    resample_every: int = 100
