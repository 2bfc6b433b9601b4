"""Evaluation of a trained model against a problem's reference.

The metric is PINNacle's relative L2 error (L2RE), pooled over fields:
``sqrt(mean((y - y_ref)^2)) / sqrt(mean(y_ref^2))``, plus one figure per field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import DataError, warn
from .problem import Problem, exact_reference


@dataclass
class ReferenceSet:
    points: np.ndarray   # (n, d)
    values: np.ndarray   # (n, n_fields)


def l2re(pred: np.ndarray, ref: np.ndarray) -> float:
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    keep = np.isfinite(ref).all(axis=tuple(range(1, ref.ndim))) if ref.ndim > 1 else np.isfinite(ref)
    pred, ref = pred[keep], ref[keep]
    denom = np.sqrt(np.mean(ref ** 2))
    return float(np.sqrt(np.mean((pred - ref) ** 2)) / denom) if denom > 0 else float(
        np.sqrt(np.mean((pred - ref) ** 2)))


def reference_set(problem: Problem, n: int = 20000, seed: int = 12345) -> ReferenceSet | None:
    """The points and values a run is scored on (``None`` without a reference)."""
    ref = problem.reference
    if ref is None:
        return None
    if hasattr(ref, "points") and hasattr(ref, "values"):
        pts = np.asarray(ref.points, dtype=np.float64)
        vals = np.asarray(ref.values, dtype=np.float64)
        if vals.ndim == 1:
            vals = vals[:, None]
        if pts.shape[0] != vals.shape[0] or pts.shape[1] != len(problem.coordinates):
            raise DataError(f"reference of {problem.name!r}: points {pts.shape} and values {vals.shape} "
                            f"do not match {len(problem.coordinates)} coordinates")
        if vals.shape[1] != len(problem.fields):
            raise DataError(f"reference of {problem.name!r}: {vals.shape[1]} value columns for "
                            f"{len(problem.fields)} fields {problem.field_names}")
        for what, arr in (("points", pts), ("values", vals)):
            bad = int((~np.isfinite(arr)).any(axis=1).sum())
            if bad:
                raise DataError(f"reference of {problem.name!r}: {bad} of {len(arr)} rows of its "
                                f"{what} are NaN or infinite (first at row "
                                f"{int(np.flatnonzero((~np.isfinite(arr)).any(axis=1))[0])}); drop them")
        _outside_warned(problem, pts)
        return _zero_warned(problem, ReferenceSet(pts, vals))
    fn = exact_reference(problem, ref)
    rng = np.random.default_rng(seed)
    pts = problem.domain.sample_interior(n, rng)
    vals = fn(pts)
    if vals.shape != (len(pts), len(problem.fields)):
        raise DataError(f"reference of {problem.name!r}: the exact solution gives values of shape "
                        f"{vals.shape} at {len(pts)} points; expected ({len(pts)}, {len(problem.fields)}), "
                        f"one column per field {problem.field_names}")
    bad = int((~np.isfinite(vals)).any(axis=1).sum())
    if bad:
        raise DataError(f"reference of {problem.name!r}: the exact solution is NaN or infinite at {bad} of "
                        f"{len(pts)} points of the domain")
    return _zero_warned(problem, ReferenceSet(pts, vals))


def _outside_warned(problem: Problem, points: np.ndarray) -> None:
    """Warn when reference points lie outside the domain: the L2RE then scores the model where
    it was never trained, and often the file's columns are in another coordinate order."""
    outside = ~np.asarray(problem.domain.contains(points, tol=1e-6), dtype=bool).reshape(-1)
    if outside.any():
        first = ", ".join(f"{v:.4g}" for v in points[int(np.flatnonzero(outside)[0])])
        warn(f"reference of {problem.name!r}: {int(outside.sum())} of {len(points)} points lie "
             f"outside the domain (first ({first}) in the coordinate order "
             f"{', '.join(problem.coordinate_names)}); the L2RE includes them. Check that the "
             "reference's columns follow the problem's coordinates")


def _zero_warned(problem: Problem, ref: ReferenceSet) -> ReferenceSet:
    """A reference that is zero everywhere has no relative error: l2re is then absolute."""
    finite = ref.values[np.isfinite(ref.values)]
    if finite.size and not np.any(finite):
        warn(f"reference of {problem.name!r} is zero everywhere: 'l2re' is then the absolute "
             "RMS error of the prediction")
    return ref


def predict(model: torch.nn.Module, points: np.ndarray, device, dtype, chunk: int = 65536) -> np.ndarray:
    """Model outputs at ``points`` as a float64 array ``(n, n_fields)``."""
    outs = []
    with torch.no_grad():
        for i in range(0, max(len(points), 1), chunk):  # an empty batch still gives (0, n_fields)
            x = torch.as_tensor(points[i:i + chunk], dtype=dtype, device=device)
            y = model(x)
            outs.append((y if y.ndim == 2 else y[:, None]).double().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 1))


def score(model, ref: ReferenceSet, field_names, device, dtype) -> dict:
    pred = predict(model, ref.points, device, dtype)
    return {"l2re": l2re(pred, ref.values),
            "l2re_fields": {n: l2re(pred[:, i], ref.values[:, i]) for i, n in enumerate(field_names)}}
