"""Low-level helpers: unit-cube point generators, count allocation, validation."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy.stats import qmc

from pinnlab.errors import GeometryError

METHODS = ("uniform", "sobol", "halton", "lhs")

# Fixed seed for internal Monte Carlo estimates (measures): deterministic values.
MC_SEED = 20240531
MC_POINTS = 2**17

# Rounding of coordinates, relative to their magnitude, that membership tests tolerate
# (computed boundary points are off by about half a unit in the last place).
ROUNDING = 16 * float(np.finfo(np.float64).eps)


def check_method(method: str) -> str:
    """Validate a sampling method name."""
    if method not in METHODS:
        raise GeometryError(f"unknown sampling method {method!r}; expected one of {METHODS}")
    return method


def check_count(n: Any) -> int:
    """Validate a number of points (a non-negative integer)."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
        raise GeometryError(f"number of points must be a non-negative integer, got {n!r}")
    return int(n)


def check_rng(rng: Any) -> np.random.Generator:
    """Validate an explicit random generator."""
    if not isinstance(rng, np.random.Generator):
        raise GeometryError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), got {rng!r}"
        )
    return rng


def _engine(kind: type, d: int, seed: int, **kw: Any) -> Any:
    try:
        return kind(d, rng=seed, **kw)
    except TypeError:  # scipy < 1.15 names the argument ``seed``
        return kind(d, seed=seed, **kw)


def unit_samples(n: int, d: int, rng: np.random.Generator, method: str) -> np.ndarray:
    """``n`` points in the unit cube ``[0, 1)^d`` drawn with ``method``."""
    if n == 0 or d == 0:
        return np.zeros((n, d))
    if method == "uniform":
        return rng.random((n, d))
    seed = int(rng.integers(0, 2**63 - 1))
    if method == "sobol":
        eng = _engine(qmc.Sobol, d, seed, scramble=True)
        return eng.random_base2(max(0, math.ceil(math.log2(n))))[:n]
    if method == "halton":
        return _engine(qmc.Halton, d, seed, scramble=True).random(n)
    if method == "lhs":
        return _engine(qmc.LatinHypercube, d, seed, scramble=True).random(n)
    raise GeometryError(f"unknown sampling method {method!r}; expected one of {METHODS}")


def shuffled(x: np.ndarray, rng: np.random.Generator, method: str) -> np.ndarray:
    """The rows of ``x`` in random order for quasi-random methods (``x`` itself for ``uniform``).

    Joining two separately drawn point sets row by row (a product joins its factors'
    points so) needs them independent. Two scrambled Sobol or Halton sets are not:
    the leading digits of every coordinate follow the point's index, so row ``i`` of
    one set and row ``i`` of the other fall in matching halves, quarters... (all the
    points on one end face of ``Disk * Interval`` lay in the outer ring of the disk).
    A random pairing keeps each set's low discrepancy and makes the pairs uniform.
    """
    if method == "uniform":
        return x
    return x[rng.permutation(x.shape[0])]


def allocate(n: int, weights: Sequence[float], rng: np.random.Generator, method: str) -> np.ndarray:
    """Split ``n`` draws among parts in proportion to ``weights``.

    Multinomial for pseudo-random sampling; largest-remainder rounding (a
    stratified, deterministic split) for quasi-random methods.
    """
    w = np.asarray(weights, dtype=float)
    p = w / w.sum()
    if method == "uniform":
        return rng.multinomial(n, p)
    exact = n * p
    counts = np.floor(exact).astype(int)
    rest = n - int(counts.sum())
    if rest > 0:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:rest]] += 1
    return counts


def as_points(x: Any, dim: int, owner: object) -> np.ndarray:
    """Convert ``x`` to a float64 array of shape (n, dim); 1-D input allowed if dim == 1."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 1 and dim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise GeometryError(
            f"{owner!r} expects points of shape (n, {dim}), got shape {arr.shape}"
        )
    return arr


def as_vector(value: Any, name: str, owner: str, dim: int | None = None) -> np.ndarray:
    """A finite 1-D float vector, optionally of a given length."""
    try:
        arr = np.asarray(value, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise GeometryError(f"{owner}: {name}={value!r} is not a numeric vector") from exc
    if dim is not None and arr.shape[0] != dim:
        raise GeometryError(f"{owner}: {name}={value!r} must have {dim} coordinates")
    if arr.size == 0:
        raise GeometryError(f"{owner}: {name}={value!r} is empty")
    if not np.all(np.isfinite(arr)):
        raise GeometryError(f"{owner}: {name}={value!r} contains NaN or inf")
    return arr


def as_scalar(value: Any, name: str, owner: str) -> float:
    """A finite float."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise GeometryError(f"{owner}: {name}={value!r} is not a number") from exc
    if not math.isfinite(v):
        raise GeometryError(f"{owner}: {name}={value!r} must be finite")
    return v


def fmt(v: np.ndarray | float) -> str:
    """Compact text for a vector or scalar in a repr."""
    if np.ndim(v) == 0:
        return f"{float(v):g}"
    return "(" + ", ".join(f"{float(c):g}" for c in np.asarray(v)) + ")"


def r_intersect(a: Any, b: Any) -> Any:
    """R0 conjunction of two distance fields (torch tensors)."""
    return a + b - (a * a + b * b).sqrt()


def r_union(a: Any, b: Any) -> Any:
    """R0 disjunction of two distance fields (torch tensors)."""
    return a + b + (a * a + b * b).sqrt()
