"""Axis-aligned boxes: Hypercube (N-D), Rectangle, Box, Interval, TimeInterval."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from pinnlab.errors import GeometryError
from pinnlab.geometry import _sampling as S
from pinnlab.geometry.base import Geometry
from pinnlab.geometry.pieces import Piece, PrimitivePiece
from pinnlab.geometry.region import SliceRegion


class Hypercube(Geometry):
    """The box ``[lo_1, hi_1] x ... x [lo_d, hi_d]``."""

    def __init__(self, lo: Sequence[float], hi: Sequence[float]) -> None:
        name = type(self).__name__
        lo_a = S.as_vector(lo, "lo", name)
        hi_a = S.as_vector(hi, "hi", name, dim=lo_a.shape[0])
        bad = np.nonzero(hi_a <= lo_a)[0]
        if bad.size:
            i = int(bad[0])
            raise GeometryError(
                f"{name}: upper bound {hi_a[i]:g} must exceed lower bound {lo_a[i]:g} "
                f"along axis {i} (got lo={S.fmt(lo_a)}, hi={S.fmt(hi_a)})"
            )
        self.lo, self.hi = lo_a, hi_a
        self.dim = int(lo_a.shape[0])
        self._width = hi_a - lo_a

    def __repr__(self) -> str:
        return f"Hypercube(lo={S.fmt(self.lo)}, hi={S.fmt(self.hi)})"

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lo.copy(), self.hi.copy()

    def _envelope_measure(self) -> float:
        return float(np.prod(self._width))

    @property
    def boundary_measure(self) -> float:  # type: ignore[override]
        return float(self._face_measures().sum())

    def _face_measures(self) -> np.ndarray:
        """Measures of the 2*dim faces, ordered (lo_0, hi_0, lo_1, hi_1, ...)."""
        full = np.prod(self._width)
        per_axis = full / self._width if self.dim > 1 else np.ones(1)
        return np.repeat(per_axis, 2)

    def _sd(self, x: np.ndarray) -> np.ndarray:
        q = np.abs(x - (self.lo + self.hi) / 2) - self._width / 2
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        return -(outside + np.minimum(q.max(axis=1), 0.0))

    def _phi(self, x: torch.Tensor) -> torch.Tensor:
        out = None
        for i in range(self.dim):
            a, b = float(self.lo[i]), float(self.hi[i])
            phi = (x[:, i] - a) * (b - x[:, i]) / (b - a)
            out = phi if out is None else S.r_intersect(out, phi)
        return out

    def _interior_draw(self, m: int, rng: np.random.Generator, method: str) -> np.ndarray:
        return self._from_unit(S.unit_samples(m, self.dim, rng, method))

    def _from_unit(self, u: np.ndarray) -> np.ndarray:
        return self.lo + u * self._width

    @property
    def _unit_dim(self) -> int:
        return self.dim

    def _boundary_draw(self, m: int, rng: np.random.Generator, method: str):
        u = S.unit_samples(m, self.dim, rng, method)
        if method == "uniform" and m > 1:
            # stratified face choice: every face gets its share of points (to within 2)
            # (random choice could leave an end of an Interval without a point)
            u[:, 0] = (rng.permutation(m) + rng.random(m)) / m
        w = self._face_measures()
        cum = np.cumsum(w) / w.sum()
        face = np.minimum(np.searchsorted(cum, u[:, 0], side="right"), 2 * self.dim - 1)
        axis, upper = face // 2, face % 2 == 1
        rows = np.arange(m)
        pts = np.repeat(self.lo[None, :], m, axis=0)
        if self.dim > 1:  # the remaining unit coordinates place the point on its face
            k = np.arange(self.dim)[None, :]
            idx = np.clip(k - (k > axis[:, None]), 0, self.dim - 2)
            pts = self.lo + np.take_along_axis(u[:, 1:], idx, axis=1) * self._width
        pts[rows, axis] = np.where(upper, self.hi[axis], self.lo[axis])
        nrm = np.zeros((m, self.dim))
        nrm[rows, axis] = np.where(upper, 1.0, -1.0)
        return pts, nrm

    def _boundary_pieces(self) -> tuple[Piece, ...]:
        return (PrimitivePiece(self),)

    def _periodic_face(self, axis: int) -> tuple[float, float]:
        axis = self._check_axis(axis)
        return float(self.lo[axis]), float(self.hi[axis])


class Rectangle(Hypercube):
    """The 2-D box with corners ``(x0, y0)`` and ``(x1, y1)``."""

    def __init__(self, lo: Sequence[float], hi: Sequence[float]) -> None:
        S.as_vector(lo, "lo", "Rectangle", dim=2)
        S.as_vector(hi, "hi", "Rectangle", dim=2)
        super().__init__(lo, hi)

    def __repr__(self) -> str:
        return f"Rectangle({S.fmt(self.lo)}, {S.fmt(self.hi)})"


class Box(Hypercube):
    """The 3-D box with corners ``lo`` and ``hi``."""

    def __init__(self, lo: Sequence[float], hi: Sequence[float]) -> None:
        S.as_vector(lo, "lo", "Box", dim=3)
        S.as_vector(hi, "hi", "Box", dim=3)
        super().__init__(lo, hi)

    def __repr__(self) -> str:
        return f"Box({S.fmt(self.lo)}, {S.fmt(self.hi)})"


class Interval(Hypercube):
    """The closed interval ``[a, b]``; its boundary is two points (measure 2)."""

    def __init__(self, a: float, b: float) -> None:
        name = type(self).__name__
        a_f, b_f = S.as_scalar(a, "a", name), S.as_scalar(b, "b", name)
        if b_f <= a_f:
            raise GeometryError(f"{name}: need a < b, got a={a_f:g}, b={b_f:g}")
        super().__init__([a_f], [b_f])

    @property
    def a(self) -> float:
        return float(self.lo[0])

    @property
    def b(self) -> float:
        return float(self.hi[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.a:g}, {self.b:g})"

    def _periodic_face(self, axis: int) -> tuple[float, float]:
        self._check_axis(axis)
        return self.a, self.b


class TimeInterval(Interval):
    """A time interval ``[t0, t1]``: the last factor of a space-time product, or on its own
    the domain of an ODE system.

    On its own it is the space-time domain of a zero-dimensional space, like
    ``spatial * TimeInterval`` with the spatial part a single point: time axis 0,
    ``initial``/``final`` are the points t = t0 / t = t1, and ``boundary`` is the
    spatial boundary x [t0, t1], which is empty (a product's boundary does not include
    its initial slice either). For a boundary-value problem in one variable, use
    :class:`Interval`.
    """

    is_time = True
    time_axis = 0
    spatial = None  # no spatial part (see SliceRegion)

    @property
    def t0(self) -> float:
        return self.a

    @property
    def t1(self) -> float:
        return self.b

    @property
    def boundary_measure(self) -> float:  # type: ignore[override]
        return 0.0

    def _boundary_pieces(self) -> tuple[Piece, ...]:
        raise GeometryError(
            f"{self!r} on its own has no boundary (its boundary is that of a "
            "zero-dimensional space, times time): its conditions hold at t = t0 "
            "(Initial(u, value), region .initial) or t = t1 (region .final); for a "
            f"boundary-value problem in one variable use Interval({self.a:g}, {self.b:g})"
        )

    def on_boundary(self, x: Any, tol: float = 1e-7) -> np.ndarray:
        """All False: on its own a time interval has no boundary (see the class docstring)."""
        pts = S.as_points(x, self.dim, self)
        return np.zeros(pts.shape[0], dtype=bool)

    @property
    def initial(self) -> SliceRegion:
        """The point t = t0 (drawn as repeated copies; measure 1)."""
        return SliceRegion(self, "initial", self.t0)

    @property
    def final(self) -> SliceRegion:
        """The point t = t1 (drawn as repeated copies; measure 1)."""
        return SliceRegion(self, "final", self.t1)

    def _periodic_face(self, axis: int) -> tuple[float, float]:
        raise GeometryError(f"periodic_pairs: {self!r} is a time axis and cannot be periodic")
