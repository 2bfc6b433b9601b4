"""Figures of the fields: solution, reference and pointwise error; PDE residual maps."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure, SubFigure

from .common import Built, new_figure, symmetric_limit, value_limits
from .grids import Cut, GridReference, Layout, on_cuts, pde_residuals

PANEL_W, PANEL_H = 4.0, 3.3
SEQUENTIAL, DIVERGING, RESIDUAL = "viridis", "RdBu_r", "magma"


def _cmap(name: str) -> Any:
    """A copy of a registered colour map that paints masked cells light grey."""
    return matplotlib.colormaps[name].with_extremes(bad="#e8e8e8")


def _aspect(cut: Cut, time_axis: int | None) -> str:
    if time_axis in cut.axes:
        return "auto"
    x0, x1, y0, y1 = cut.extent
    ratio = (y1 - y0) / max(x1 - x0, 1e-300)
    return "equal" if 0.25 <= ratio <= 4 else "auto"


def _image(ax: Axes, cut: Cut, values: np.ndarray, names: tuple[str, ...], cmap: str,
           norm: Normalize, time_axis: int | None) -> Any:
    """Draw ``values`` (flat over ``cut``) as a masked heat map with labelled axes."""
    grid = np.ma.masked_invalid(values.reshape(cut.shape))
    im = ax.imshow(grid, origin="lower", extent=cut.extent, cmap=_cmap(cmap), norm=norm,
                   aspect=_aspect(cut, time_axis), interpolation="nearest")
    ax.set_xlabel(names[cut.axes[0]])
    ax.set_ylabel(names[cut.axes[1]])
    return im


def _panel_height(cut: Cut, time_axis: int | None) -> float:
    """Height (inches) of one map panel about 3 inches wide, with room for labels."""
    if _aspect(cut, time_axis) != "equal":
        return PANEL_H
    x0, x1, y0, y1 = cut.extent
    return float(np.clip(3.0 * (y1 - y0) / max(x1 - x0, 1e-300) + 0.9, 1.9, 4.6))


def _grid(fig: Figure | SubFigure, n_cuts: int, n_cols: int) -> np.ndarray:
    """Axes indexed ``[cut, column]``: cuts are rows, or laid side by side for a single column."""
    if n_cols == 1:
        return fig.subplots(1, n_cuts, squeeze=False).T
    return fig.subplots(n_cuts, n_cols, squeeze=False)


def grid_size(cuts: list[Cut], n_cols: int, time_axis: int | None) -> tuple[float, float]:
    """Figure size for :func:`_grid` with colour bars."""
    rows, cols = (1, len(cuts)) if n_cols == 1 else (len(cuts), n_cols)
    return PANEL_W * cols + 0.8, _panel_height(cuts[0], time_axis) * rows + 0.6


def _columns(ref: np.ndarray | None) -> list[str]:
    return ["solution", "reference", "error"] if ref is not None else ["solution"]


def _maps(fig: Figure | SubFigure, cuts: list[Cut], preds: list[np.ndarray],
          refs: list[np.ndarray] | None, names: tuple[str, ...], time_axis: int | None) -> None:
    """Rows = cuts; columns = solution, reference, error; one colour bar per column."""
    cols = _columns(refs[0] if refs else None)
    axes = _grid(fig, len(cuts), len(cols))
    lo, hi = value_limits(preds + (refs or []))
    shared = Normalize(lo, hi)
    errs = [p - r for p, r in zip(preds, refs)] if refs else []
    top = symmetric_limit(np.concatenate(errs)) if errs else 1.0
    for j, col in enumerate(cols):
        im = None
        for i, cut in enumerate(cuts):
            ax = axes[i, j]
            if col == "solution":
                im = _image(ax, cut, preds[i], names, SEQUENTIAL, shared, time_axis)
            elif col == "reference":
                im = _image(ax, cut, refs[i], names, SEQUENTIAL, shared, time_axis)
            else:
                im = _image(ax, cut, errs[i], names, DIVERGING, Normalize(-top, top), time_axis)
            title = {"solution": "PINN solution", "reference": "reference",
                     "error": "error (PINN − reference)"}[col]
            ax.set_title(f"{title}\n{cut.label}" if cut.label else title, fontsize=10)
        fig.colorbar(im, ax=list(axes[:, j]), shrink=0.9 if len(cuts) > 1 and len(cols) > 1 else 1.0)


def _lines(axes: list[Axes], cuts: list[Cut], preds: list[np.ndarray],
           refs: list[np.ndarray] | None, names: tuple[str, ...], field: str) -> None:
    """Solution (and dashed reference) along each 1-D cut."""
    for i, (ax, cut) in enumerate(zip(axes, cuts)):
        x = cut.coords[0]
        ax.plot(x, preds[i], color="tab:blue", lw=1.8, label="PINN")
        if refs is not None:
            ax.plot(x, refs[i], color="black", lw=1.2, ls="--", label="reference")
        ax.set_xlabel(names[cut.axes[0]])
        ax.set_title(cut.label or field, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(field)
    axes[0].legend(fontsize="small")


def field_figures(result: Any, layout: Layout, reference: GridReference | None) -> Built:
    """One figure per field: solution, reference and signed error on the layout's cuts."""
    problem = result.problem
    names, fields, t = problem.coordinate_names, problem.field_names, problem.time_axis
    m = len(fields)
    preds = on_cuts(layout.cuts, result.predict, m)
    refs = on_cuts(layout.cuts, reference, m) if reference is not None and reference.available else None
    snap_p = on_cuts(layout.snapshots, result.predict, m) if layout.snapshots else []
    snap_r = on_cuts(layout.snapshots, reference, m) if layout.snapshots and refs is not None else None
    l2 = (result.metrics or {}).get("l2re_fields", {}) or {}
    out: Built = []
    for k, name in enumerate(fields):
        p = [a[:, k] for a in preds]
        r = [a[:, k] for a in refs] if refs is not None else None
        ncol = len(_columns(r[0] if r else None))
        if layout.kind == "line":
            fig = new_figure(5.5 if r is None else 10.0, 3.6)
            axes = fig.subplots(1, 1 if r is None else 2, squeeze=False)[0]
            _lines([axes[0]], layout.cuts, p, r, names, name)
            if r is not None:
                axes[1].plot(layout.cuts[0].coords[0], p[0] - r[0], color="tab:red", lw=1.4)
                axes[1].axhline(0.0, color="grey", lw=0.8)
                axes[1].set_xlabel(names[0])
                axes[1].set_ylabel(f"{name} error")
                axes[1].set_title("error (PINN − reference)", fontsize=10)
                axes[1].grid(alpha=0.3)
        elif layout.kind == "xt":
            fig = new_figure(max(PANEL_W * ncol + 0.8, 11.0), PANEL_H * 2 + 0.4)
            top, bottom = fig.subfigures(2, 1, height_ratios=[1.15, 1.0])
            _maps(top, layout.cuts, p, r, names, t)
            snaps = bottom.subplots(1, len(layout.snapshots), sharey=True, squeeze=False)[0]
            sr = [a[:, k] for a in snap_r] if snap_r is not None else None
            _lines(list(snaps), layout.snapshots, [a[:, k] for a in snap_p], sr, names, name)
        else:
            fig = new_figure(*grid_size(layout.cuts, ncol, t))
            _maps(fig, layout.cuts, p, r, names, t)
        title = f"{name}" + (f"   (L2RE {l2[name]:.3g})" if isinstance(l2.get(name), float) else "")
        if reference is not None and reference.note and r is not None:
            title += f"\n{reference.note}"
            if any(np.any(np.isnan(b) & np.isfinite(a)) for a, b in zip(p, r)):
                title += "; it does not reach every point of the domain (left blank)"
        fig.suptitle(title, fontsize=12)
        out.append((f"field_{name}", f"Field {name}", fig))
    return out


def _log_norm(values: list[np.ndarray]) -> LogNorm:
    flat = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(0)
    pos = flat[flat > 0]
    hi = float(pos.max()) if pos.size else 1.0
    lo = max(float(pos.min()) if pos.size else hi * 1e-6, hi * 1e-8)
    return LogNorm(lo, hi if hi > lo else lo * 10)


def residual_figures(result: Any, layout: Layout) -> Built:
    """``|residual|`` of each PDE equation over the domain, on a log colour scale."""
    problem = result.problem
    names, t = problem.coordinate_names, problem.time_axis
    points = np.concatenate([c.points[c.inside] for c in layout.cuts])
    res = pde_residuals(result, points)
    if not res:
        return []
    terms = list(res)
    per_cut = on_cuts(layout.cuts, lambda _q: np.stack([res[n] for n in terms], axis=1), len(terms))
    if layout.kind == "line":
        fig = new_figure(6.5, 3.8)
        ax = fig.subplots()
        for j, n in enumerate(terms):
            ax.semilogy(layout.cuts[0].coords[0], np.where(per_cut[0][:, j] > 0, per_cut[0][:, j],
                                                           np.nan), lw=1.4, label=n)
        ax.set_xlabel(names[0])
        ax.set_ylabel("|residual|")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    else:
        rows = len(layout.cuts)
        fig = new_figure(*grid_size(layout.cuts, len(terms), t))
        axes = _grid(fig, rows, len(terms))
        for j, n in enumerate(terms):
            norm = _log_norm([c[:, j] for c in per_cut])
            im = None
            for i, cut in enumerate(layout.cuts):
                vals = np.clip(per_cut[i][:, j], norm.vmin, None)
                im = _image(axes[i, j], cut, vals, names, RESIDUAL, norm, t)
                axes[i, j].set_title(f"|{n}|" + (f"\n{cut.label}" if cut.label else ""), fontsize=10)
            fig.colorbar(im, ax=list(axes[:, j]), shrink=0.9 if rows > 1 and len(terms) > 1 else 1.0)
    fig.suptitle("PDE residual |r| (log scale)", fontsize=12)
    return [("residual", "PDE residual", fig)]
