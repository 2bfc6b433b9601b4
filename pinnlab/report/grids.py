"""Where field figures are drawn: regular cuts of the domain, and values on them.

A :class:`Layout` chooses, from the domain's dimension and time axis, how a
problem is shown:

* ``line``   - 1-D: one line along the only axis;
* ``map``    - 2-D: one heat map;
* ``xt``     - 1-D + time: an x-t map (time horizontal) plus line snapshots;
* ``slices`` - 3-D and higher (including 2-D + time): 2-D maps of the first two
  spatial axes at several times (or several levels of the third axis), every
  other axis at the middle of its range.

Grid points outside the domain (``domain.contains``) are masked (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..compiler import Batch
from ..engines import make_engine
from ..evaluate import reference_set
from ..problem import Problem, exact_reference

#: Largest scattered reference triangulated in three or more dimensions.
MAX_LINEAR_POINTS = 60000


@dataclass
class Cut:
    """A 1-D or 2-D regular grid through the domain."""

    label: str                        # "" or e.g. "t = 0.5"
    axes: tuple[int, ...]             # plotted coordinates: (horizontal,) or (horizontal, vertical)
    coords: tuple[np.ndarray, ...]    # grid values along each plotted axis
    points: np.ndarray                # (n, dim)
    inside: np.ndarray                # (n,) bool

    @property
    def shape(self) -> tuple[int, ...]:
        """Image shape ``(n_vertical, n_horizontal)`` (or ``(n,)`` for a line)."""
        return tuple(len(c) for c in reversed(self.coords))

    @property
    def extent(self) -> list[float]:
        return [float(self.coords[0][0]), float(self.coords[0][-1]),
                float(self.coords[-1][0]), float(self.coords[-1][-1])]


@dataclass
class Layout:
    """How a problem's fields are shown (see the module docstring)."""

    kind: str
    cuts: list[Cut]
    snapshots: list[Cut] = field(default_factory=list)


def make_cut(domain: Any, lo: np.ndarray, hi: np.ndarray, axes: tuple[int, ...], n: int,
             fixed: dict[int, float] | None = None, label: str = "") -> Cut:
    """A regular grid over ``axes`` with the other coordinates at ``fixed`` (else mid-range)."""
    base = (lo + hi) / 2.0
    for axis, value in (fixed or {}).items():
        base[axis] = value
    coords = tuple(np.linspace(lo[a], hi[a], n) for a in axes)
    mesh = np.meshgrid(*coords, indexing="xy")
    pts = np.tile(base, (mesh[0].size, 1))
    for a, m in zip(axes, mesh):
        pts[:, a] = m.ravel()
    inside = np.asarray(domain.contains(pts), dtype=bool).reshape(-1)
    return Cut(label, axes, coords, pts, inside)


def make_layout(problem: Problem, n: int = 160) -> Layout:
    """Choose the cuts for ``problem`` with about ``n`` grid points per axis."""
    dom = problem.domain
    lo, hi = (np.asarray(b, dtype=np.float64).reshape(-1) for b in dom.bounds)
    dim, t = int(dom.dim), problem.time_axis
    names = problem.coordinate_names
    if dim == 1:
        return Layout("line", [make_cut(dom, lo, hi, (0,), 4 * n)])
    if dim == 2 and t is None:
        return Layout("map", [make_cut(dom, lo, hi, (0, 1), n)])
    if dim == 2:
        x = 1 - t
        main = make_cut(dom, lo, hi, (t, x), n)
        snaps = [make_cut(dom, lo, hi, (x,), 2 * n, {t: v}, f"{names[t]} = {v:.3g}")
                 for v in lo[t] + (hi[t] - lo[t]) * np.array([0.0, 1 / 3, 2 / 3, 1.0])]
        return Layout("xt", [main], snaps)
    stack = t if t is not None else dim - 1
    plane = tuple(a for a in range(dim) if a != stack)[:2]
    fractions = (0.0, 0.5, 1.0) if t is not None else (0.25, 0.5, 0.75)
    # axes neither drawn nor stacked sit at mid-range: say so in every label
    held = "".join(f", {names[a]} = {(lo[a] + hi[a]) / 2:.3g}" for a in range(dim)
                   if a not in plane and a != stack)
    cuts = []
    for f in fractions:
        v = float(lo[stack] + f * (hi[stack] - lo[stack]))
        cuts.append(make_cut(dom, lo, hi, plane, n, {stack: v}, f"{names[stack]} = {v:.3g}{held}"))
    return Layout("slices", cuts)


class GridReference:
    """Reference values at arbitrary points: exact, interpolated from scattered data, or none."""

    def __init__(self, problem: Problem):
        self.note = ""
        self._fn: Callable[[np.ndarray], np.ndarray] | None = None
        ref = problem.reference
        if ref is None:
            return
        if hasattr(ref, "points") and hasattr(ref, "values"):
            self._fn = self._interpolator(reference_set(problem), problem)
        else:
            self._fn = exact_reference(problem, ref)
            self.note = "reference: exact solution"

    @property
    def available(self) -> bool:
        return self._fn is not None

    def _interpolator(self, data: Any, problem: Problem) -> Callable[[np.ndarray], np.ndarray]:
        pts, vals = data.points, data.values
        n = len(pts)
        if pts.shape[1] == 1:
            order = np.argsort(pts[:, 0])
            xs, ys = pts[order, 0], vals[order]
            self.note = f"reference: linear interpolation of {n} data points"
            return lambda q: np.stack([np.interp(q[:, 0], xs, ys[:, k], left=np.nan, right=np.nan)
                                       for k in range(ys.shape[1])], axis=1)
        from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator
        from scipy.spatial import QhullError
        if pts.shape[1] == 2 or n <= MAX_LINEAR_POINTS:
            try:
                interp = LinearNDInterpolator(pts, vals)
                self.note = f"reference: linear interpolation of {n} scattered data points"
                return lambda q: np.asarray(interp(q), dtype=np.float64).reshape(len(q), -1)
            except (QhullError, ValueError):
                pass
        near = NearestNDInterpolator(pts, vals)
        self.note = f"reference: nearest of {n} scattered data points"
        return lambda q: np.asarray(near(q), dtype=np.float64).reshape(len(q), -1)

    def __call__(self, points: np.ndarray) -> np.ndarray | None:
        if self._fn is None:
            return None
        return np.asarray(self._fn(points), dtype=np.float64).reshape(len(points), -1)


def on_cuts(cuts: list[Cut], fn: Callable[[np.ndarray], np.ndarray | None],
            width: int) -> list[np.ndarray] | None:
    """``fn`` at the inside points of every cut, as ``(n, width)`` arrays NaN outside."""
    inside = [c.points[c.inside] for c in cuts]
    flat = np.concatenate(inside) if inside else np.zeros((0, 1))
    values = fn(flat) if len(flat) else np.zeros((0, width))
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float64).reshape(len(flat), -1)
    out, start = [], 0
    for c, part in zip(cuts, inside):
        full = np.full((len(c.points), values.shape[1]), np.nan)
        full[c.inside] = values[start:start + len(part)]
        start += len(part)
        out.append(full)
    return out


def pde_residuals(result: Any, points: np.ndarray, chunk: int = 8192) -> dict[str, np.ndarray]:
    """``|residual|`` of every PDE term of the ``interior`` block at ``points``."""
    compiled = result.compiled
    block = compiled.blocks.get("interior")
    if block is None:
        return {}
    names = [t for t in block.terms if compiled.terms[t].group == "pde"]
    if not names:
        return {}
    engine = make_engine("autograd", result.model)
    dev, dt = result.device, result.dtype
    params = {s: torch.tensor(float(result.parameters.get(str(s), v)), device=dev, dtype=dt)
              for s, v in compiled.parameters.items()}
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for i in range(0, len(points), chunk):
        x = torch.as_tensor(points[i:i + chunk], dtype=dt, device=dev)
        normals = torch.zeros_like(x) if block.uses_normals else None
        res = compiled.residuals(result.model, engine, {"interior": Batch(x, normals)}, params)
        for n in names:
            r = res[n].detach().reshape(-1)
            if r.numel() == 1:
                r = r.expand(len(x))
            parts[n].append(r.abs().double().cpu().numpy())
    return {n: np.concatenate(p) if p else np.zeros(0) for n, p in parts.items()}
