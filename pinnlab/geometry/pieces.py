"""Boundary pieces: the parts a geometry's boundary is assembled from.

A piece draws candidates uniformly (in surface measure) on an *envelope*
whose measure is known, and an ``accept`` mask keeps the candidates that
really lie on the final boundary.  Pieces nest: CSG wraps the pieces of its
operands in :class:`FilteredPiece`, products wrap them in :class:`LiftedPiece`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from pinnlab.geometry import _sampling as S

if TYPE_CHECKING:
    from pinnlab.geometry.base import Geometry

Mask = Optional[np.ndarray]
Test = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Piece:
    """Abstract boundary piece originating from primitive ``source``.

    ``source`` is the geometry of the piece's own dimension that contributed it: a
    primitive, or a product for the faces of a product (which therefore behaves like a
    primitive when it is a CSG operand). :meth:`comes_from` also recognizes the
    geometries nested inside (a product's factors, the operands of a CSG factor).
    """

    source: "Geometry"
    envelope_measure: float
    exact: bool = False  # True when ``accept`` never rejects

    def draw(self, m: int, rng: np.random.Generator, method: str) -> tuple[np.ndarray, np.ndarray]:
        """``m`` candidates (points, outward normals), uniform on the envelope."""
        raise NotImplementedError

    def accept(self, pts: np.ndarray, nrm: np.ndarray) -> Mask:
        """Mask of candidates on the piece, or None when all are."""
        raise NotImplementedError

    def on_envelope(self, x: np.ndarray, tol: float) -> np.ndarray:
        """Whether points lie on the envelope (geometrically, within ``tol``)."""
        raise NotImplementedError

    def comes_from(self, geometry: "Geometry") -> bool:
        """Whether the piece was contributed by ``geometry`` (for ``boundary_of``)."""
        return self.source is geometry


class PrimitivePiece(Piece):
    """The whole boundary of a primitive geometry."""

    exact = True

    def __init__(self, geometry: "Geometry") -> None:
        self.source = geometry
        self.envelope_measure = float(geometry.boundary_measure)

    def draw(self, m: int, rng: np.random.Generator, method: str) -> tuple[np.ndarray, np.ndarray]:
        return self.source._boundary_draw(m, rng, method)

    def accept(self, pts: np.ndarray, nrm: np.ndarray) -> Mask:
        return None

    def on_envelope(self, x: np.ndarray, tol: float) -> np.ndarray:
        return self.source.on_boundary(x, tol)

    def __repr__(self) -> str:
        return f"PrimitivePiece({self.source!r})"


class FilteredPiece(Piece):
    """An inner piece with normals multiplied by ``sign`` and an extra test."""

    def __init__(self, inner: Piece, sign: float, test: Test) -> None:
        self.inner = inner
        self.sign = float(sign)
        self.test = test
        self.source = inner.source
        self.envelope_measure = inner.envelope_measure

    def draw(self, m: int, rng: np.random.Generator, method: str) -> tuple[np.ndarray, np.ndarray]:
        pts, nrm = self.inner.draw(m, rng, method)
        return pts, nrm * self.sign

    def accept(self, pts: np.ndarray, nrm: np.ndarray) -> Mask:
        mask = np.asarray(self.test(pts, nrm), dtype=bool)
        inner = self.inner.accept(pts, nrm * self.sign)
        return mask if inner is None else mask & inner

    def on_envelope(self, x: np.ndarray, tol: float) -> np.ndarray:
        return self.inner.on_envelope(x, tol)

    def comes_from(self, geometry: "Geometry") -> bool:
        return self.inner.comes_from(geometry)


class LiftedPiece(Piece):
    """An inner piece of one product factor, times the interiors of the others.

    ``start`` is the first column of the factor owning ``inner``; the other
    columns are filled by ``fill(m, rng, method)`` (points of the other
    factors' interiors, already in order) whose measure is ``fill_measure``.
    The piece's ``source`` is the product ``owner``: a face of a product is one
    of its primitive pieces (the factor's own pieces have a lower dimension).
    """

    def __init__(
        self,
        inner: Piece,
        owner: "Geometry",
        dim: int,
        start: int,
        width: int,
        fill: Callable[[int, np.random.Generator, str], np.ndarray],
        fill_contains: Callable[[np.ndarray, float], np.ndarray],
        fill_measure: float,
    ) -> None:
        self.inner = inner
        self.dim, self.start, self.width = dim, start, width
        self.fill, self.fill_contains = fill, fill_contains
        self.source = owner
        self.exact = inner.exact
        self.envelope_measure = inner.envelope_measure * float(fill_measure)

    def _split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = np.arange(self.start, self.start + self.width)
        rest = np.setdiff1d(np.arange(self.dim), cols)
        return x[:, cols], x[:, rest]

    def draw(self, m: int, rng: np.random.Generator, method: str) -> tuple[np.ndarray, np.ndarray]:
        p, n = self.inner.draw(m, rng, method)
        other = S.shuffled(self.fill(m, rng, method), rng, method)
        s, e = self.start, self.start + self.width
        pts = np.concatenate([other[:, :s], p, other[:, s:]], axis=1)
        nrm = np.zeros_like(pts)
        nrm[:, s:e] = n
        return pts, nrm

    def accept(self, pts: np.ndarray, nrm: np.ndarray) -> Mask:
        s, e = self.start, self.start + self.width
        return self.inner.accept(pts[:, s:e], nrm[:, s:e])

    def on_envelope(self, x: np.ndarray, tol: float) -> np.ndarray:
        own, rest = self._split(x)
        return self.inner.on_envelope(own, tol) & self.fill_contains(rest, tol)

    def comes_from(self, geometry: "Geometry") -> bool:
        return geometry is self.source or self.inner.comes_from(geometry)
