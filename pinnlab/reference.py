"""Reference solutions: PINNacle data files, exact solutions, and the PINNacle error metric.

The PINNacle reference files live outside the repository (see :func:`reference_dir`); this
module reads them, never copies them.

Measured facts used by the tests (``tests/test_reference.py``):

* :func:`burgers_exact` vs ``burgers1d.dat`` (COMSOL): L2RE = 1.33e-2, max |diff| about 0.09
  at t = 0.4 next to the shock; the file, not the exact solution, is the coarse one.
* :func:`burgers_exact` converges to round-off (changes < 1e-13 between node counts) and its
  two quadratures agree to about 1e-14 for t <= 3 (``nu = 0.01/pi``).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pinnlab.errors import ConfigError, DataError, warn
from pinnlab.spectral import allen_cahn_exact_interp, allen_cahn_reference

__all__ = [
    "ReferenceData",
    "reference_dir",
    "pinnacle_file",
    "load_pinnacle",
    "load_points",
    "l2re",
    "l2re_fields",
    "burgers_exact",
    "wave1d_exact",
    "allen_cahn_reference",
    "allen_cahn_exact_interp",
    "BURGERS_NU",
]

ENV_VAR = "PINNLAB_REFERENCE_DIR"
BURGERS_NU = 0.01 / np.pi
"""Viscosity of PINNacle's Burgers 1d-C case."""


# --------------------------------------------------------------------------- locating data


def reference_dir() -> Path:
    """Folder of the shared reference data.

    ``$PINNLAB_REFERENCE_DIR`` if set, else ``<repo root>/../shared/reference`` (repo root =
    parent of the ``pinnlab`` package folder). Raises :class:`DataError` if it is not a folder.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        source = f"${ENV_VAR}"
    else:
        path = Path(__file__).resolve().parent.parent.parent / "shared" / "reference"
        source = "the default location <repo root>/../shared/reference"
    if not path.is_dir():
        raise DataError(
            f"reference data folder not found: {path} (from {source}); "
            f"set {ENV_VAR} to the folder holding pinnacle/*.dat"
        )
    return path


def pinnacle_file(name: str) -> Path:
    """Path of a PINNacle reference file, ``reference_dir()/pinnacle/<name>`` (must exist)."""
    path = reference_dir() / "pinnacle" / name
    if not path.is_file():
        raise DataError(f"PINNacle reference file not found: {path}")
    return path


# --------------------------------------------------------------------------- loading files


@dataclass(frozen=True, eq=False)
class ReferenceData:
    """Reference samples: ``points`` (n, d) coordinates (time last, if any), ``values`` (n, k)."""

    points: NDArray[np.float64]
    values: NDArray[np.float64]
    path: Path | None = None

    def __post_init__(self) -> None:
        for name in ("points", "values"):  # lists and integer arrays are fine; (n,) is one column
            try:
                arr = np.asarray(getattr(self, name), dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise DataError(f"ReferenceData: {name} must be a numeric array ({exc})") from None
            object.__setattr__(self, name, arr[:, None] if arr.ndim == 1 else arr)
        if self.points.ndim != 2 or self.values.ndim != 2:
            raise DataError(f"ReferenceData needs 2-D points and values, got shapes "
                            f"{self.points.shape} and {self.values.shape}")
        if self.points.shape[0] != self.values.shape[0]:
            raise DataError(
                f"ReferenceData: {self.points.shape[0]} points but "
                f"{self.values.shape[0]} value rows"
            )

    def __len__(self) -> int:
        return self.points.shape[0]


def _bad_line(path: Path) -> str | None:
    """The first line (1-based, as editors count) that is not a row of numbers like the first
    row (numpy's own messages count rows from 0 for some errors and from 1 for others)."""
    width = None
    with open(path, errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            text = line.split("%", 1)[0].strip()
            if not text:
                continue
            cells = text.split()
            bad = next((c for c in cells if not _is_float(c)), None)
            if bad is not None:
                return f"line {number}: {bad!r} is not a number ({line.strip()[:80]!r})"
            if width is None:
                width = len(cells)
            elif len(cells) != width:
                return (f"line {number} has {len(cells)} columns, the first data row {width} "
                        f"({line.strip()[:80]!r})")
    return None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_table(path: str | os.PathLike[str]) -> tuple[Path, NDArray[np.float64]]:
    """Read a whitespace table (``%`` comments) as a 2-D float array, or raise DataError."""
    p = Path(path)
    if p.is_dir():
        raise DataError(f"reference file {p} is a directory, not a file")
    if not p.is_file():
        raise DataError(f"reference file not found: {p}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy's "input contained no data"
            table = np.loadtxt(p, comments="%", ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"cannot parse reference file {p}: {_bad_line(p) or exc}") from None
    if table.size == 0:
        raise DataError(f"reference file {p} contains no data rows")
    return p, table


def _header_times(path: Path) -> NDArray[np.float64] | None:
    """Times named ``@ t=...`` in the last ``%`` header line of a COMSOL export, if any."""
    last = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith("%"):
                break
            last = line
    if last is None:
        return None
    found = re.findall(r"@\s*t\s*=\s*([-+0-9.eE]+)", last)
    return np.array([float(v) for v in found]) if found else None


def _drop_nonfinite(
    path: Path, points: NDArray[np.float64], values: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Drop rows with NaN/Inf in points or values, warning how many; DataError if none left."""
    ok = np.all(np.isfinite(points), axis=1) & np.all(np.isfinite(values), axis=1)
    n_bad = int(ok.size - ok.sum())
    if n_bad == ok.size:
        raise DataError(f"reference file {path}: every row has NaN/Inf values")
    if n_bad:
        warn(f"{path}: dropped {n_bad} of {ok.size} rows with NaN/Inf values")
        return points[ok], values[ok]
    return points, values


def load_pinnacle(
    path: str | os.PathLike[str],
    layout: Literal["columns", "time_snapshots"] = "columns",
    *,
    n_coords: int,
    n_fields: int | None = None,
    times: ArrayLike | None = None,
) -> ReferenceData:
    """Load a PINNacle/COMSOL reference file.

    Layouts:

    * ``"columns"``: each row is ``n_coords`` coordinates then the field values
      (``n_fields`` of them if given, else all remaining columns, at least one).
    * ``"time_snapshots"``: each row is ``n_coords`` spatial coordinates then one value of a
      single field per time in ``times`` (if ``times`` is omitted it is read from the
      ``@ t=...`` labels of the COMSOL header; if both exist they must agree). Expanded to
      ``points = (x..., t)`` in time-major order (all rows at ``times[0]``, then
      ``times[1]``, ...) and ``values`` of shape ``(n_rows * n_times, 1)``.

    Rows (after expansion) containing NaN or Inf are dropped with a ``UserWarning`` that
    names the file and how many rows were dropped. A missing, empty or unparsable file, or
    a column count that does not match the layout, raises :class:`DataError`.

    Examples: ``load_pinnacle(pinnacle_file("burgers1d.dat"), "time_snapshots", n_coords=1,
    times=np.linspace(0, 1, 11))``; ``load_pinnacle(pinnacle_file("lid_driven_a4.dat"),
    n_coords=2, n_fields=3)``.
    """
    n_coords = _count(n_coords, "n_coords")
    n_fields = None if n_fields is None else _count(n_fields, "n_fields")
    p, table = _read_table(path)
    found = table.shape[1]
    if layout == "columns":
        expected = n_coords + n_fields if n_fields is not None else None
        if (expected is not None and found != expected) or found <= n_coords:
            want = expected if expected is not None else f"more than {n_coords}"
            raise DataError(
                f"{p}: layout 'columns' with n_coords={n_coords}, n_fields={n_fields} expects "
                f"{want} columns, found {found}"
            )
        points, values = table[:, :n_coords], table[:, n_coords:]
    elif layout == "time_snapshots":
        header = _header_times(p)
        t = header if times is None else np.asarray(times, dtype=np.float64).ravel()
        if t is None:
            raise DataError(f"{p}: no '@ t=' labels in the header; pass times=")
        expected = n_coords + t.size
        if found != expected:
            raise DataError(
                f"{p}: layout 'time_snapshots' with n_coords={n_coords} and {t.size} times "
                f"expects {expected} columns, found {found}"
            )
        if header is not None and (
            header.size != t.size or not np.allclose(header, t, rtol=1e-9, atol=1e-12)
        ):
            raise DataError(f"{p}: times= disagree with the header's '@ t=' labels")
        n_rows = table.shape[0]
        coords = np.tile(table[:, :n_coords], (t.size, 1))
        points = np.column_stack([coords, np.repeat(t, n_rows)])
        values = table[:, n_coords:].T.reshape(-1, 1)
    else:
        raise ConfigError(f"unknown layout {layout!r}; use 'columns' or 'time_snapshots'")
    points, values = _drop_nonfinite(p, points, values)
    return ReferenceData(np.ascontiguousarray(points), np.ascontiguousarray(values), p)


def _count(value: Any, name: str) -> int:
    """A positive whole number of columns, or a ConfigError naming the argument."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def load_points(path: str | os.PathLike[str], n_coords: int | None = None) -> NDArray[np.float64]:
    """Load a point-only file (e.g. ``heatinv_points.dat``) as an ``(n, d)`` array.

    If ``n_coords`` is given the column count must equal it. Rows with NaN/Inf are dropped
    with a warning, as in :func:`load_pinnacle`.
    """
    n_coords = None if n_coords is None else _count(n_coords, "n_coords")
    p, table = _read_table(path)
    if n_coords is not None and table.shape[1] != n_coords:
        raise DataError(f"{p}: expected {int(n_coords)} columns, found {table.shape[1]}")
    points, _ = _drop_nonfinite(p, table, np.zeros((table.shape[0], 0)))
    return np.ascontiguousarray(points)


# --------------------------------------------------------------------------- error metric


def _as_2d(a: Any, name: str) -> NDArray[np.float64]:
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{name} must be 1-D or 2-D, got shape {arr.shape}")
    return arr


def _pair(pred: Any, ref: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y, y_ref = _as_2d(pred, "pred"), _as_2d(ref, "ref")
    if y.shape != y_ref.shape:
        raise DataError(f"pred shape {y.shape} does not match ref shape {y_ref.shape}")
    return y, y_ref


def _l2re(y: NDArray[np.float64], y_ref: NDArray[np.float64]) -> float:
    if y_ref.size == 0:
        raise DataError("l2re: no reference values left after dropping NaN rows")
    denom = np.sqrt(np.mean(y_ref**2))
    if denom == 0:
        raise DataError("l2re: the reference is identically zero; relative error undefined")
    return float(np.sqrt(np.mean((y - y_ref) ** 2)) / denom)


def l2re(pred: ArrayLike, ref: ArrayLike) -> float:
    """PINNacle's relative L2 error, pooled over all columns.

    ``sqrt(mean((y - y_ref)^2)) / sqrt(mean(y_ref^2))`` with rows where ``ref`` has a NaN
    dropped. ``pred`` and ``ref`` have the same shape, ``(n,)`` or ``(n, k)`` (numpy arrays or
    torch tensors). NaN in ``pred`` gives NaN.
    """
    y, y_ref = _pair(pred, ref)
    keep = ~np.any(np.isnan(y_ref), axis=1)
    return _l2re(y[keep], y_ref[keep])


def l2re_fields(pred: ArrayLike, ref: ArrayLike, names: Sequence[str]) -> dict[str, float]:
    """Relative L2 error per column, ``{name: l2re}``; NaN entries of each ref column dropped."""
    y, y_ref = _pair(pred, ref)
    if len(names) != y.shape[1]:
        raise DataError(f"{len(names)} names for {y.shape[1]} columns")
    out = {}
    for j, name in enumerate(names):
        keep = ~np.isnan(y_ref[:, j])
        out[str(name)] = _l2re(y[keep, j], y_ref[keep, j])
    return out


# --------------------------------------------------------------------------- exact solutions


def wave1d_exact(x: ArrayLike, t: ArrayLike) -> NDArray[np.float64]:
    """PINNacle Wave 1d-C: ``sin(pi x) cos(2 pi t) + 0.5 sin(4 pi x) cos(8 pi t)``."""
    x, t = np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64)
    return np.sin(np.pi * x) * np.cos(2 * np.pi * t) + 0.5 * np.sin(4 * np.pi * x) * np.cos(
        8 * np.pi * t
    )


def _burgers_nodes(
    method: str, n_quad: int | None, nu: float, s_max: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Nodes ``z`` and weights for ``int g(z) exp(-z^2) dz`` (weight included in ``w``
    for Hermite only; see :func:`burgers_exact`)."""
    if method == "hermite":
        n = 200 if n_quad is None else int(n_quad)
        if not 2 <= n <= 360:
            raise ConfigError(f"Gauss-Hermite n_quad must be in [2, 360] (numpy limit), got {n}")
        z, w = np.polynomial.hermite.hermgauss(n)
        return z, np.log(w)
    if method == "trapezoid":
        a = 1.0 / (2.0 * np.pi * nu)  # f = exp(-a cos(pi y)) spans exp(-a)..exp(a)
        z_max = np.sqrt(2.0 * a + 45.0)  # beyond it exp(-z^2) * f < 1e-19 * integrand max
        if n_quad is None:
            # resolve the Gaussian (width 1/sqrt(2)) and f's peaks, width sqrt(2 nu / pi) / s
            width = min(1.0 / np.sqrt(2.0), np.sqrt(2.0 * nu / np.pi) / max(s_max, 1e-300))
            n = max(129, int(np.ceil(2.0 * z_max / (0.7 * width))) + 1)
        else:
            n = int(n_quad)
        if n < 3:
            raise ConfigError(f"trapezoid n_quad must be >= 3, got {n}")
        z = np.linspace(-z_max, z_max, n)
        return z, -(z**2)
    raise ConfigError(f"unknown method {method!r}; use 'trapezoid' or 'hermite'")


def burgers_exact(
    x: ArrayLike,
    t: ArrayLike,
    nu: float = BURGERS_NU,
    n_quad: int | None = None,
    method: Literal["trapezoid", "hermite"] = "trapezoid",
) -> NDArray[np.float64]:
    """Exact solution of ``u_t + u u_x = nu u_xx``, ``x in [-1, 1]``, ``u(x,0) = -sin(pi x)``,
    ``u(+-1, t) = 0``, by the Cole-Hopf formula (Basdevant et al. 1986)::

        u = -int sin(pi (x - eta)) f(x - eta) G(eta) d eta / int f(x - eta) G(eta) d eta,
        f(y) = exp(-cos(pi y) / (2 pi nu)),  G(eta) = exp(-eta^2 / (4 nu t)).

    With ``eta = sqrt(4 nu t) z`` both integrals become ``int g(z) exp(-z^2) dz``. ``f`` spans
    ``exp(+-1/(2 pi nu))`` (``e^+-50`` here), so the log of every quadrature term is formed
    and its maximum per point subtracted before exponentiating (log-sum-exp).

    Quadratures (``method``):

    * ``"trapezoid"`` (default): trapezoid rule in ``z`` on ``[-Z, Z]`` with
      ``Z = sqrt(1/(pi nu) + 45)`` (the discarded tails are below 1e-19 of the integrand's
      peak). The integrand is smooth and negligible at both ends, so the rule converges
      spectrally; ``n_quad=None`` picks the node count from ``t`` so that both the Gaussian
      and the peaks of ``f`` (width ``sqrt(2 nu/pi)/sqrt(4 nu t)`` in ``z``) are resolved
      (129 nodes for t <= 1 at ``nu = 0.01/pi``). Accurate to ~1e-15 at every t.
    * ``"hermite"``: Gauss-Hermite with ``n_quad`` nodes (default 200, at most 360).
      Measured max error: ~1e-15 for t <= 3, 2e-12 at t = 5, 9e-6 at t = 10
      (``nu = 0.01/pi``): the nodes stop resolving ``f`` once ``sqrt(4 nu t)`` is large.

    ``x`` and ``t`` broadcast together; ``t = 0`` gives ``-sin(pi x)`` exactly.
    """
    x_arr, t_arr = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64)
    )
    if not (np.isfinite(nu) and nu > 0):
        raise ConfigError(f"nu must be finite and > 0, got {nu}")
    if not (np.all(np.isfinite(x_arr)) and np.all(np.isfinite(t_arr))):
        raise DataError("burgers_exact: x and t must be finite")
    if np.any(t_arr < 0):
        raise DataError("burgers_exact: t must be >= 0")
    xs, ts = x_arr.ravel(), t_arr.ravel()
    out = -np.sin(np.pi * xs)
    pos = ts > 0
    if np.any(pos):
        s = np.sqrt(4.0 * nu * ts[pos])
        z, log_w = _burgers_nodes(method, n_quad, nu, float(s.max()))
        out[pos] = _cole_hopf(xs[pos], s, z, log_w, nu)
    return out.reshape(x_arr.shape)


def _cole_hopf(
    x: NDArray[np.float64],
    s: NDArray[np.float64],
    z: NDArray[np.float64],
    log_w: NDArray[np.float64],
    nu: float,
    chunk_elems: int = 2**22,
) -> NDArray[np.float64]:
    """Stabilized quadrature ratio for points ``x`` with scales ``s = sqrt(4 nu t)``."""
    out = np.empty_like(x)
    rows = max(1, chunk_elems // z.size)
    for lo in range(0, x.size, rows):
        y = x[lo : lo + rows, None] - s[lo : lo + rows, None] * z[None, :]
        log_terms = log_w[None, :] - np.cos(np.pi * y) / (2.0 * np.pi * nu)
        weights = np.exp(log_terms - log_terms.max(axis=1, keepdims=True))
        out[lo : lo + rows] = -np.sum(np.sin(np.pi * y) * weights, axis=1) / weights.sum(axis=1)
    return out
