"""Cartesian products of geometries, including space x time."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from pinnlab.errors import GeometryError
from pinnlab.geometry import _sampling as S
from pinnlab.geometry.base import Geometry
from pinnlab.geometry.hypercube import Hypercube
from pinnlab.geometry.pieces import LiftedPiece, Piece
from pinnlab.geometry.region import SliceRegion


class Product(Geometry):
    """``A x B x ...``: coordinates concatenated in factor order.

    With a :class:`TimeInterval` as last factor the product is a space-time
    domain: ``boundary`` is then the lateral boundary (spatial boundary x
    [t0, t1]), ``initial``/``final`` are the slices t = t0 / t = t1, and
    ``distance`` is the spatial distance function for t0 <= t <= t1 (zero on
    the lateral boundary only, so that it can impose boundary conditions for
    all t) and negative outside the time interval.
    Without a time factor ``spatial`` is the product itself and ``time_axis``,
    ``t0``, ``t1`` are None.
    """

    def __init__(self, *factors: Geometry) -> None:
        flat: list[Geometry] = []
        for f in factors:
            if not isinstance(f, Geometry):
                raise GeometryError(f"Product: factor {f!r} is not a Geometry")
            flat.extend(f.factors if isinstance(f, Product) else [f])
        if len(flat) < 2:
            raise GeometryError(f"Product: needs at least two factors, got {flat!r}")
        times = [i for i, f in enumerate(flat) if f.is_time]
        if len(times) > 1:
            raise GeometryError(f"Product: at most one TimeInterval factor, got {flat!r}")
        if times and times[0] != len(flat) - 1:
            raise GeometryError(
                f"Product: the time factor {flat[times[0]]!r} must be the last factor "
                f"(write spatial * TimeInterval(t0, t1)), got {flat!r}"
            )
        self.factors: tuple[Geometry, ...] = tuple(flat)
        widths = [f.dim for f in flat]
        self._starts = [int(s) for s in np.cumsum([0] + widths[:-1])]
        self.dim = int(sum(widths))
        self.t0: Optional[float] = None
        self.t1: Optional[float] = None
        self.spatial: Geometry = self
        if times:
            self.time_axis = self.dim - 1
            self.t0, self.t1 = flat[-1].t0, flat[-1].t1
            space = flat[:-1]
            self.spatial = space[0] if len(space) == 1 else Product(*space)

    def __repr__(self) -> str:
        return "Product(" + ", ".join(repr(f) for f in self.factors) + ")"

    def _cols(self, i: int) -> slice:
        return slice(self._starts[i], self._starts[i] + self.factors[i].dim)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = zip(*(f.bounds for f in self.factors))
        return np.concatenate(lo), np.concatenate(hi)

    # -- measures ---------------------------------------------------------
    def _envelope_measure(self) -> float:
        return float(math.prod(f.measure for f in self.factors))

    @property
    def boundary_measure(self) -> float:  # type: ignore[override]
        total = 0.0
        for i, f in enumerate(self._walled()):
            rest = math.prod(g.measure for j, g in enumerate(self.factors) if j != i)
            total += f.boundary_measure * rest
        return float(total)

    def _walled(self) -> tuple[Geometry, ...]:
        """Factors whose boundary is part of ``boundary`` (all but time)."""
        return self.factors[:-1] if self.time_axis is not None else self.factors

    # -- membership -------------------------------------------------------
    def _sd(self, x: np.ndarray) -> np.ndarray:
        sds = np.stack([f._sd(x[:, self._cols(i)]) for i, f in enumerate(self.factors)], axis=1)
        outside = np.sqrt((np.minimum(sds, 0.0) ** 2).sum(axis=1))
        return np.where(outside > 0, -outside, sds.min(axis=1))

    def on_boundary(self, x, tol: float = 1e-7) -> np.ndarray:
        if self.time_axis is None:
            return super().on_boundary(x, tol)
        pts = S.as_points(x, self.dim, self)
        in_time = self.factors[-1].contains(pts[:, -1:], tol)
        return self.spatial.on_boundary(pts[:, :-1], tol) & in_time

    def _phi(self, x: torch.Tensor) -> torch.Tensor:
        if self.time_axis is not None:
            return self._space_time_phi(x)
        out = None
        for i, f in enumerate(self.factors):
            phi = f._phi(x[:, self._cols(i)])
            out = phi if out is None else S.r_intersect(out, phi)
        return out

    def _space_time_phi(self, x: torch.Tensor) -> torch.Tensor:
        """The spatial distance for t0 <= t <= t1; outside, ``min(phi_space, 0) - gap``.

        Inside the time interval the value and all its derivatives are the spatial
        distance's (hard constraints multiply by it at points with t = t0); outside,
        where ``gap`` is the distance to [t0, t1] in time, it is negative, as membership
        requires. The jump this leaves at t0 and t1 is met only from outside: on the
        slices themselves, and in derivatives taken there, the spatial branch holds.
        """
        phi = self.spatial._phi(x[:, :-1])
        t = x[:, -1]
        gap = torch.clamp(self.t0 - t, min=0) + torch.clamp(t - self.t1, min=0)
        return torch.where(gap > 0, torch.clamp(phi, max=0) - gap, phi)

    # -- sampling ---------------------------------------------------------
    def _interior_draw(self, m: int, rng: np.random.Generator, method: str) -> np.ndarray:
        direct = all(f._interior_exact and f._unit_dim for f in self.factors)
        if direct:  # one joint low-discrepancy set split among the factors
            dims = [f._unit_dim for f in self.factors]
            u = S.unit_samples(m, sum(dims), rng, method)
            parts, k = [], 0
            for f, d in zip(self.factors, dims):
                parts.append(f._from_unit(u[:, k : k + d]))
                k += d
            return np.concatenate(parts, axis=1)
        # separately drawn low-discrepancy sets are paired at random (see S.shuffled)
        parts = [f.sample_interior(m, rng, method) for f in self.factors]
        return np.concatenate([parts[0]] + [S.shuffled(p, rng, method) for p in parts[1:]], axis=1)

    def _others(self, i: int) -> Geometry:
        rest = [f for j, f in enumerate(self.factors) if j != i]
        return rest[0] if len(rest) == 1 else Product(*rest)

    def _boundary_pieces(self) -> tuple[Piece, ...]:
        pieces: list[Piece] = []
        for i, f in enumerate(self._walled()):
            other = self._others(i)
            for p in f._boundary_pieces():
                pieces.append(
                    LiftedPiece(
                        p, self, self.dim, self._starts[i], f.dim,
                        fill=other.sample_interior,
                        fill_contains=other.contains,
                        fill_measure=other.measure,
                    )
                )
        return tuple(pieces)

    # -- space-time regions -----------------------------------------------
    def _need_time(self, what: str) -> None:
        if self.time_axis is None:
            raise GeometryError(f"{self!r} has no TimeInterval factor, so it has no {what} slice")

    @property
    def initial(self) -> SliceRegion:
        """Points (x, t0) with x in the spatial interior."""
        self._need_time("initial")
        return SliceRegion(self, "initial", self.t0)

    @property
    def final(self) -> SliceRegion:
        """Points (x, t1) with x in the spatial interior."""
        self._need_time("final")
        return SliceRegion(self, "final", self.t1)

    def _periodic_face(self, axis: int) -> tuple[float, float]:
        axis = self._check_axis(axis)
        i = int(np.searchsorted(self._starts, axis, side="right") - 1)
        f = self.factors[i]
        if f.is_time:
            raise GeometryError(
                f"periodic_pairs: axis {axis} of {self!r} is the time axis; "
                "time cannot be periodic"
            )
        if not isinstance(f, Hypercube):
            raise GeometryError(
                f"periodic_pairs: axis {axis} of {self!r} belongs to factor {f!r}, "
                "which is not an Interval or hyper-rectangle"
            )
        return f._periodic_face(axis - self._starts[i])
