"""Regions: samplable parts of a geometry (interior, boundary, initial slice...)."""

from __future__ import annotations

import copy
import inspect
import linecache
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

from pinnlab.errors import GeometryError
from pinnlab.geometry import _sampling as S
from pinnlab.geometry.pieces import Piece

if TYPE_CHECKING:
    from pinnlab.geometry.base import Geometry

Predicate = Callable[..., Any]
_ZERO_ROUNDS = 50
_MAX_ROUNDS = 2000
_MAX_BATCH = 2**21


@dataclass(frozen=True)
class RegionSample:
    """Points drawn from a region, with outward unit normals for boundaries."""

    points: np.ndarray
    normals: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return int(self.points.shape[0])


def _lambda_text(fn: Callable) -> str:
    """``lambda args: body`` of a lambda, its body cut from the source by the code's column
    positions (so that one line holding several lambdas names the right one)."""
    code = fn.__code__
    spans = [p for p in code.co_positions() if p[0] is not None and p[2] is not None
             and p[3] is not None and (p[2], p[3]) != (0, 0)]
    if not spans:
        raise OSError("no positions")
    first, last = min(p[0] for p in spans), max(p[1] for p in spans)
    col0 = min(p[2] for p in spans if p[0] == first)
    col1 = max(p[3] for p in spans if p[1] == last)
    lines = [linecache.getline(code.co_filename, n) for n in range(first, last + 1)]
    if not all(lines):
        raise OSError("no source")
    # co_positions columns count UTF-8 bytes
    raw = [ln.encode() for ln in lines]
    raw[-1] = raw[-1][:col1]
    raw[0] = raw[0][col0:]
    body = " ".join(r.decode(errors="replace").strip() for r in raw)
    args = ", ".join(inspect.signature(fn).parameters)
    return f"lambda {args}: {body}"


def describe(predicate: Predicate) -> str:
    """Readable name of a predicate (the lambda's source text when available)."""
    name = getattr(predicate, "__name__", None) or repr(predicate)
    if name == "<lambda>":
        try:
            text = _lambda_text(predicate)
        except (OSError, TypeError, ValueError, AttributeError):
            return name
        return text if len(text) <= 100 else text[:97] + "..."
    return name


class Region:
    """Base class: a set of points of ``geometry`` that can be sampled."""

    kind: str = "region"
    _tol: float = 1e-9

    def __init__(self, geometry: "Geometry") -> None:
        self.geometry = geometry
        self.dim = geometry.dim
        self._predicates: tuple[Predicate, ...] = ()

    # -- to implement -------------------------------------------------------
    def _draw(self, m: int, rng: np.random.Generator, method: str):
        """(points, normals or None, geometry accept mask or None)."""
        raise NotImplementedError

    def _exact(self) -> bool:
        """True when ``_draw`` never rejects (no geometry-level filtering)."""
        raise NotImplementedError

    def _contains(self, x: np.ndarray, tol: float) -> np.ndarray:
        raise NotImplementedError

    def _full_measure(self) -> float:
        """Measure of the region before ``where`` filters."""
        raise NotImplementedError

    # -- public -------------------------------------------------------------
    def where(self, predicate: Predicate) -> "Region":
        """The sub-region where ``predicate(*columns)`` is True (it must return booleans)."""
        if not callable(predicate):
            raise GeometryError(f"where() needs a callable predicate, got {predicate!r}")
        new = copy.copy(self)
        new._predicates = self._predicates + (predicate,)
        return new

    def contains(self, x: Any, tol: Optional[float] = None) -> np.ndarray:
        """Whether each point belongs to this region."""
        pts = S.as_points(x, self.dim, self)
        mask = self._contains(pts, self._tol if tol is None else float(tol))
        return mask & self._pred_mask(pts)

    @property
    def measure(self) -> float:
        """Measure of the region (Monte Carlo estimate, fixed seed, where filtered)."""
        full = self._full_measure()
        if not self._predicates:
            return full
        pts, _, ok = self._mc_draw()
        keep = ok & self._pred_mask(pts)
        return full * float(keep.sum()) / max(int(ok.sum()), 1)

    def _mc_draw(self) -> tuple[np.ndarray, Optional[np.ndarray], np.ndarray]:
        """Deterministic candidates for Monte Carlo estimates (ok mask never None)."""
        pts, nrm, ok = self._draw(S.MC_POINTS, np.random.default_rng(S.MC_SEED), "sobol")
        return pts, nrm, (np.ones(pts.shape[0], dtype=bool) if ok is None else ok)

    def sample(self, n: int, rng: np.random.Generator, method: str = "uniform") -> RegionSample:
        """``n`` points uniform in the region's measure."""
        n, rng, method = S.check_count(n), S.check_rng(rng), S.check_method(method)
        if n == 0 or (self._exact() and not self._predicates):
            pts, nrm, _ = self._draw(n, rng, method)
            return RegionSample(pts, nrm)
        return self._rejection(n, rng, method)

    # -- internals ----------------------------------------------------------
    def _pred_mask(self, pts: np.ndarray) -> np.ndarray:
        mask = np.ones(pts.shape[0], dtype=bool)
        cols = [pts[:, i] for i in range(pts.shape[1])]
        for pred in self._predicates:
            try:
                out = pred(*cols)
            except Exception as exc:
                hint = (f"it is called with {self.dim} coordinate columns (numpy arrays), so it must "
                        "take that many arguments and work elementwise (np.sin, &, |, not math.sin, "
                        "and, or)")
                raise GeometryError(f"where() predicate {describe(pred)} on the {self.kind} of "
                                    f"{self.geometry!r} failed: "
                                    f"{type(exc).__name__}: {exc}; {hint}") from None
            mask &= self._pred_booleans(pred, out, mask.shape)
        return mask

    def _pred_booleans(self, pred: Predicate, out: Any, shape: tuple[int]) -> np.ndarray:
        """A predicate's result as booleans of ``shape``, or an error naming the predicate.

        Only booleans are accepted: converting numbers or strings by truthiness would
        turn a typo such as ``x - 0.5`` (for ``x < 0.5``) into a silently wrong region.
        """
        what = f"where() predicate {describe(pred)} on the {self.kind} of {self.geometry!r}"
        try:
            arr = np.asarray(out)
        except (TypeError, ValueError):
            arr = np.asarray(out, dtype=object)
        try:
            arr = np.broadcast_to(arr, shape)
        except ValueError:
            raise GeometryError(
                f"{what} must return one boolean per point "
                f"(shape ({shape[0]},)); it returned shape {arr.shape}") from None
        if arr.dtype != np.bool_:
            raise GeometryError(
                f"{what} returned {arr.dtype} values ({type(out).__name__}); it must return "
                "booleans, one per point, e.g. a comparison such as `x < 0.5` (combine them "
                "with &, |, ~)")
        return arr

    def _rejection(self, n: int, rng: np.random.Generator, method: str) -> RegionSample:
        pts_out: list[np.ndarray] = []
        nrm_out: list[np.ndarray] = []
        got = drawn = geo_ok = 0
        m = max(2 * n, 256)
        for rounds in range(1, _MAX_ROUNDS + 1):
            pts, nrm, ok = self._draw(m, rng, method)
            ok = np.ones(m, dtype=bool) if ok is None else ok
            geo_ok += int(ok.sum())
            ok = ok & self._pred_mask(pts)
            drawn += m
            got += int(ok.sum())
            pts_out.append(pts[ok])
            if nrm is not None:
                nrm_out.append(nrm[ok])
            if got >= n:
                break
            if got == 0:
                if rounds >= _ZERO_ROUNDS:
                    self._raise_empty(geo_ok)
                m = min(2 * m, 2**14)
            else:
                m = min(math.ceil((n - got) * drawn / got * 1.2) + 32, _MAX_BATCH)
        else:
            raise GeometryError(f"{self!r}: acceptance rate too low to draw {n} points")
        points = np.concatenate(pts_out)[:n]
        normals = np.concatenate(nrm_out)[:n] if nrm_out else None
        return RegionSample(points, normals)

    def _raise_empty(self, geo_ok: int) -> None:
        if geo_ok > 0 and self._predicates:
            names = ", ".join(describe(p) for p in self._predicates)
            raise GeometryError(
                f"{self.kind} part selected by {names} is empty: no point of "
                f"{self.geometry!r} satisfied it after {_ZERO_ROUNDS} rounds of rejection sampling"
            )
        raise GeometryError(
            f"{self!r} is empty: rejection sampling accepted no point after "
            f"{_ZERO_ROUNDS} rounds"
        )

    def _repr_extra(self) -> str:
        return "".join(f".where({describe(p)})" for p in self._predicates)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.geometry!r}){self._repr_extra()}"


class InteriorRegion(Region):
    """The (closed) interior of a geometry."""

    kind = "interior"
    _tol = 1e-9

    def _draw(self, m, rng, method):
        pts = self.geometry._interior_draw(m, rng, method)
        return pts, None, self.geometry._interior_accept(pts)

    def _exact(self) -> bool:
        return self.geometry._interior_exact

    def _contains(self, x, tol):
        return self.geometry.contains(x, tol)

    def _full_measure(self) -> float:
        return float(self.geometry.measure)


class BoundaryRegion(Region):
    """A union of boundary pieces of a geometry (the whole boundary or a part)."""

    kind = "boundary"
    _tol = 1e-7

    def __init__(self, geometry: "Geometry", pieces: Sequence[Piece], label: Optional[str] = None):
        super().__init__(geometry)
        self.pieces = tuple(pieces)
        self.label = label
        if not self.pieces:
            raise GeometryError(f"{self!r} has no boundary pieces")

    def _draw(self, m, rng, method):
        weights = [p.envelope_measure for p in self.pieces]
        counts = S.allocate(m, weights, rng, method)
        pts, nrm, oks = [], [], []
        for piece, c in zip(self.pieces, counts):
            p, nv = piece.draw(int(c), rng, method)
            ok = piece.accept(p, nv)
            pts.append(p)
            nrm.append(nv)
            oks.append(np.ones(len(p), dtype=bool) if ok is None else ok)
        pts_a, nrm_a, ok_a = np.concatenate(pts), np.concatenate(nrm), np.concatenate(oks)
        if len(self.pieces) > 1:
            perm = rng.permutation(m)
            pts_a, nrm_a, ok_a = pts_a[perm], nrm_a[perm], ok_a[perm]
        return pts_a, nrm_a, (None if self._exact() else ok_a)

    def _exact(self) -> bool:
        return all(p.exact for p in self.pieces)

    def _contains(self, x, tol):
        mask = self.geometry.on_boundary(x, tol)
        if self.label is not None:
            on_any = np.zeros(x.shape[0], dtype=bool)
            for piece in self.pieces:
                on_any |= piece.on_envelope(x, tol)
            mask &= on_any
        return mask

    def _full_measure(self) -> float:
        envelope = float(sum(p.envelope_measure for p in self.pieces))
        if self._exact():
            return envelope
        return envelope * float(np.mean(self._mc_draw()[2]))

    def __repr__(self) -> str:
        part = f", part={self.label}" if self.label else ""
        return f"BoundaryRegion({self.geometry!r}{part}){self._repr_extra()}"


class SliceRegion(Region):
    """Points ``(x, t_k)`` with ``x`` in the spatial interior (initial/final slices).

    A lone :class:`TimeInterval` has no spatial part (its ``spatial`` is None): its
    slice is the single point ``(t_k,)``, drawn as repeated copies, of measure 1 (the
    counting measure, as the two ends of an Interval have boundary measure 2).
    """

    _tol = 1e-9

    def __init__(self, geometry: "Geometry", kind: str, t: float) -> None:
        super().__init__(geometry)
        self.kind = kind
        self.t = float(t)

    def _draw(self, m, rng, method):
        space = self.geometry.spatial
        x = np.zeros((m, 0)) if space is None else space.sample_interior(m, rng, method)
        return np.concatenate([x, np.full((m, 1), self.t)], axis=1), None, None

    def _exact(self) -> bool:
        return True

    def _contains(self, x, tol):
        geo = self.geometry
        time = geo if geo.spatial is None else geo.factors[-1]
        at_t = np.abs(x[:, -1] - self.t) <= time._abs_tol(tol)  # relative, as in contains()
        return at_t if geo.spatial is None else at_t & geo.spatial.contains(x[:, :-1], tol)

    def _full_measure(self) -> float:
        space = self.geometry.spatial
        return 1.0 if space is None else float(space.measure)

    def __repr__(self) -> str:
        return f"SliceRegion({self.kind}, {self.geometry!r}, t={self.t:g}){self._repr_extra()}"
