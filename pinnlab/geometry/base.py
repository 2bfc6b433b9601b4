"""Abstract base class of all geometries."""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property
from typing import Any, Optional

import numpy as np
import torch

from pinnlab.errors import GeometryError
from pinnlab.geometry import _sampling as S
from pinnlab.geometry.pieces import Piece
from pinnlab.geometry.region import BoundaryRegion, InteriorRegion


class Geometry(ABC):
    """A closed bounded domain of R^dim that can be sampled.

    Subclasses provide a signed Euclidean-like distance ``_sd`` (positive
    inside; its sign defines membership), an approximate distance function
    ``_phi`` in torch, interior candidates and boundary pieces.
    """

    dim: int
    time_axis: Optional[int] = None
    is_time: bool = False

    # ------------------------------------------------------------------ abstract
    @property
    @abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounding box ``(lo, hi)``."""

    @abstractmethod
    def _sd(self, x: np.ndarray) -> np.ndarray:
        """Signed distance (exact sign; positive inside) for (n, dim) points."""

    @abstractmethod
    def _phi(self, x: torch.Tensor) -> torch.Tensor:
        """Smooth approximate distance function in torch, shape (n,)."""

    @abstractmethod
    def _interior_draw(self, m: int, rng: np.random.Generator, method: str) -> np.ndarray:
        """``m`` interior candidates, uniform on an envelope of the interior."""

    @abstractmethod
    def _boundary_pieces(self) -> tuple[Piece, ...]:
        """The pieces the boundary is assembled from."""

    # ------------------------------------------------------------ overridable
    _interior_exact: bool = True  # candidates of _interior_draw are all inside
    _unit_dim: Optional[int] = None  # set when _from_unit maps the unit cube onto the interior

    def _from_unit(self, u: np.ndarray) -> np.ndarray:
        """Measure-preserving map of unit-cube points onto the interior."""
        raise GeometryError(f"{self!r} has no direct map from the unit cube")

    def _interior_accept(self, x: np.ndarray) -> Optional[np.ndarray]:
        """Acceptance mask of interior candidates (None when all are kept)."""
        return None

    def _boundary_draw(self, m: int, rng: np.random.Generator, method: str):
        """Primitives: ``m`` boundary points and outward normals, uniform."""
        raise GeometryError(f"{self!r} has no direct boundary sampler")

    def _envelope_measure(self) -> float:
        """Measure of the set ``_interior_draw`` samples from (for MC estimates)."""
        raise GeometryError(f"{self!r} has no envelope measure")

    # ---------------------------------------------------------------- measures
    @cached_property
    def measure(self) -> float:
        """Volume; Monte Carlo estimate (fixed internal seed) when no closed form."""
        if self._interior_exact:
            return float(self._envelope_measure())
        rng = np.random.default_rng(S.MC_SEED)
        x = self._interior_draw(S.MC_POINTS, rng, "sobol")
        acc = self._interior_accept(x)
        frac = 1.0 if acc is None else float(np.mean(acc))
        return float(self._envelope_measure()) * frac

    @cached_property
    def boundary_measure(self) -> float:
        """Surface measure of the boundary (point count for 1-D intervals)."""
        return float(self.boundary._full_measure())

    @property
    def scale(self) -> float:
        """Largest extent of the bounding box (a length scale for tolerances)."""
        lo, hi = self.bounds
        return float(max(np.max(hi - lo), 1e-300))

    # ------------------------------------------------------------- membership
    def _abs_tol(self, tol: float) -> float:
        """The absolute tolerance for ``tol`` relative to :attr:`scale`.

        Coordinates computed on a shape carry rounding errors proportional to its size
        and to its coordinates' magnitude (about 1e-8 at radius 1e8), so a fixed absolute
        tolerance rejects a large shape's own boundary points and accepts points far
        outside a tiny one. The second term covers the rounding of far-off coordinates
        (a unit disk centred at 1e8); it is negligible near the origin.
        """
        lo, hi = self.bounds
        far = float(max(np.max(np.abs(lo)), np.max(np.abs(hi))))
        return float(tol) * self.scale + S.ROUNDING * far

    def contains(self, x: Any, tol: float = 1e-9) -> np.ndarray:
        """Whether points lie in the closed set (within ``tol`` relative to :attr:`scale`,
        plus the rounding of the coordinates: see ``_abs_tol``)."""
        return self._sd(S.as_points(x, self.dim, self)) >= -self._abs_tol(tol)

    def on_boundary(self, x: Any, tol: float = 1e-7) -> np.ndarray:
        """Whether points lie on the boundary (within ``tol`` relative to :attr:`scale`)."""
        return np.abs(self._sd(S.as_points(x, self.dim, self))) <= self._abs_tol(tol)

    # ---------------------------------------------------------------- sampling
    @property
    def interior(self) -> InteriorRegion:
        """The interior as a region."""
        return InteriorRegion(self)

    @property
    def boundary(self) -> BoundaryRegion:
        """The whole boundary as a region (with outward normals)."""
        return BoundaryRegion(self, self._boundary_pieces())

    def boundary_of(self, primitive: "Geometry") -> BoundaryRegion:
        """The part of the boundary contributed by ``primitive`` (an operand or factor
        used to build this geometry, a product included: its faces are its pieces)."""
        pieces = [p for p in self._boundary_pieces() if p.comes_from(primitive)]
        if not pieces:
            raise GeometryError(
                f"{primitive!r} contributes no boundary to {self!r} "
                "(pass the very object used to build this geometry)"
            )
        return BoundaryRegion(self, pieces, label=f"boundary_of({primitive!r})")

    def sample_interior(self, n: int, rng: np.random.Generator, method: str = "uniform") -> np.ndarray:
        """``n`` points uniform in volume, shape (n, dim)."""
        return self.interior.sample(n, rng, method).points

    def sample_boundary(self, n: int, rng: np.random.Generator, method: str = "uniform"):
        """``n`` boundary points uniform in surface measure and their outward unit normals."""
        out = self.boundary.sample(n, rng, method)
        return out.points, out.normals

    def periodic_pairs(self, axis: int, n: int, rng: np.random.Generator, method: str = "uniform"):
        """Matching points on the faces ``x_axis = lo`` and ``x_axis = hi``."""
        lo, hi = self._periodic_face(axis)
        pts = self.sample_interior(n, rng, method)
        left, right = pts.copy(), pts.copy()
        left[:, axis], right[:, axis] = lo, hi
        return left, right

    def _periodic_face(self, axis: int) -> tuple[float, float]:
        raise GeometryError(
            f"periodic_pairs needs a hyper-rectangle or a product with an Interval "
            f"factor along the axis; {self!r} is neither"
        )

    def _check_axis(self, axis: Any) -> int:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not 0 <= axis < self.dim:
            raise GeometryError(f"{self!r}: axis={axis!r} is out of range for dimension {self.dim}")
        return int(axis)

    # ---------------------------------------------------------------- distance
    # Eager under torch.compile: hard constraints differentiate the distance by nested
    # autograd, which a compiled (aot_autograd) graph refuses ("does not currently support
    # double backward"); most distances break the graph anyway (NumPy constants).
    @torch.compiler.disable
    def distance(self, x: Any) -> Any:
        """Approximate distance function: > 0 inside, 0 on the boundary, < 0 outside.

        "The boundary" is :attr:`boundary`: for a space-time product the lateral one, so
        the distance stays > 0 on the initial and final slices (it is the spatial distance
        for t0 <= t <= t1, which imposes boundary conditions for all t).

        Accepts a torch tensor (n, dim) of any float dtype (differentiable)
        or array-like (returns numpy float64); the result has shape (n,).
        """
        if isinstance(x, torch.Tensor):
            if x.ndim != 2 or x.shape[1] != self.dim:
                raise GeometryError(
                    f"{self!r} expects points of shape (n, {self.dim}), got {tuple(x.shape)}"
                )
            if not x.is_floating_point():
                x = x.to(torch.get_default_dtype())
            return self._phi(x)
        pts = S.as_points(x, self.dim, self)
        with torch.no_grad():
            return self._phi(torch.from_numpy(np.ascontiguousarray(pts))).numpy()

    # --------------------------------------------------------------- operators
    def _csg(self, other: Any, kind: str):
        if not isinstance(other, Geometry):
            return NotImplemented
        from pinnlab.geometry import csg

        return getattr(csg, kind)(self, other)

    def __or__(self, other: Any):
        return self._csg(other, "Union")

    def __and__(self, other: Any):
        return self._csg(other, "Intersection")

    def __sub__(self, other: Any):
        return self._csg(other, "Difference")

    def __mul__(self, other: Any):
        if not isinstance(other, Geometry):
            return NotImplemented
        from pinnlab.geometry.product import Product

        return Product(self, other)
