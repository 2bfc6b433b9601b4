"""Figures of the training: loss history, learned parameters, sampler populations, causal gates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from .common import Built, log_y, new_figure, positive, step_bounds

_POP_FILE = re.compile(r"step_(\d+)\.npz$")

#: Series with at most this many points get markers (a single point draws no line).
FEW_POINTS = 20


def _marker(n: int) -> str:
    return "o" if n <= FEW_POINTS else ""


def _mark_steps(ax: Axes, history: list[dict], config: dict | None) -> None:
    """Dotted red lines at events, dashed grey lines at optimizer stage boundaries."""
    labelled = False
    for row in history:
        if "event" in row and "step" in row:
            ax.axvline(row["step"], color="tab:red", ls=":", lw=1.2,
                       label=None if labelled else "event")
            labelled = True
    for i, b in enumerate(step_bounds(config)):
        ax.axvline(b, color="grey", ls="--", lw=1.0, label="stage boundary" if i == 0 else None)
        ax.annotate(f"stage {i + 2}", (b, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=8, color="grey")


def loss_figures(history: list[dict], config: dict | None) -> Built:
    """Total and per-term loss against the step (log scale), and the L2RE when recorded."""
    rows = [r for r in history if "loss" in r and "step" in r and "event" not in r]
    if not rows:
        return []
    terms = sorted({k for r in rows for k in r if k.startswith("loss_")})
    evals = [r for r in history if "l2re" in r and "step" in r]
    fig = new_figure(11.0 if evals else 7.0, 4.2)
    axes = fig.subplots(1, 2 if evals else 1, squeeze=False)[0]
    ax = axes[0]
    drawn = []
    for key in terms:
        steps = [r["step"] for r in rows if key in r]
        drawn.append(positive(r[key] for r in rows if key in r))
        ax.plot(steps, drawn[-1], lw=1.2, marker=_marker(len(steps)), ms=3, label=key[5:])
    drawn.append(positive(r["loss"] for r in rows))
    ax.plot([r["step"] for r in rows], drawn[-1], color="black", lw=2.0, marker=_marker(len(rows)),
            ms=4, label="total")
    log_y(ax, drawn)
    _mark_steps(ax, history, config)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("training loss per term", fontsize=11)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", ncols=2 if len(terms) > 5 else 1)
    if evals:
        ax2 = axes[1]
        l2 = positive(r["l2re"] for r in evals)
        ax2.plot([r["step"] for r in evals], l2, "o-", color="tab:purple", ms=3, lw=1.4, label="L2RE")
        log_y(ax2, [l2])
        _mark_steps(ax2, history, config)
        ax2.set_xlabel("step")
        ax2.set_ylabel("relative L2 error")
        ax2.set_title("L2RE against the reference", fontsize=11)
        ax2.grid(alpha=0.3, which="both")
    return [("loss", "Loss history", fig)]


def parameter_figures(history: list[dict], parameters: dict | None, truth: dict | None) -> Built:
    """Trajectories of learned constants (inverse problems), with their true values."""
    names = [n for n in (parameters or {}) if any(n in r for r in history)]
    if not names:
        return []
    known = {str(k): float(v) for k, v in (truth or {}).items()}
    fig = new_figure(min(4.0 * len(names), 12.0) + 0.5, 3.4)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        pts = [(r["step"], r[name]) for r in history if name in r and "step" in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color="tab:green", lw=1.6,
                marker=_marker(len(pts)), ms=4, label="learned")
        if name in known:
            ax.axhline(known[name], color="black", ls="--", lw=1.0, label="true")
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        ax.set_title(f"parameter {name}", fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return [("parameters", "Learned parameters", fig)]


def _snapshots(run_dir: Path, count: int) -> list[tuple[int, Path]]:
    folder = run_dir / "population"
    if not folder.is_dir():
        return []
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _POP_FILE.search(p.name)))
    if len(found) <= count:
        return found
    pick = sorted(set(np.linspace(0, len(found) - 1, count).round().astype(int)))
    return [found[i] for i in pick]


def _plane(problem: Any) -> tuple[int, ...]:
    """Axes a population is projected on: (t, x) for 1-D + time, else the first two."""
    dim, t = len(problem.coordinates), problem.time_axis
    if dim == 1:
        return (0,)
    if dim == 2 and t is not None:
        return (t, 1 - t)
    space = [a for a in range(dim) if a != t]
    return tuple(space[:2]) if len(space) >= 2 else (space[0], t)


def t_free(problem: Any, plane: tuple[int, ...]) -> bool:
    """Whether a 2-D plane shows space only, with a sensible aspect ratio for equal scaling."""
    lo, hi = (np.asarray(b, dtype=np.float64).reshape(-1) for b in problem.domain.bounds)
    ratio = (hi[plane[1]] - lo[plane[1]]) / max(hi[plane[0]] - lo[plane[0]], 1e-300)
    return problem.time_axis not in plane and 0.25 <= ratio <= 4


def population_figures(run_dir: Path | None, problem: Any, count: int = 4) -> Built:
    """Collocation points of adaptive samplers at several moments (``population/*.npz``)."""
    if run_dir is None:
        return []
    snaps = _snapshots(Path(run_dir), count)
    if not snaps:
        return []
    plane, names = _plane(problem), problem.coordinate_names
    lo, hi = (np.asarray(b, dtype=np.float64).reshape(-1) for b in problem.domain.bounds)
    fig = new_figure(3.6 * len(snaps) + 0.6, 3.6)
    axes = fig.subplots(1, len(snaps), squeeze=False, sharex=True, sharey=len(plane) == 2)[0]
    colours = {}
    for ax, (step, path) in zip(axes, snaps):
        with np.load(path, allow_pickle=False) as data:
            blocks = {k: np.asarray(data[k], dtype=np.float64) for k in data.files}
        for name, pts in blocks.items():
            if pts.ndim != 2 or pts.shape[1] != len(names) or not len(pts):
                continue
            colour = colours.setdefault(name, f"C{len(colours) % 10}")
            if len(plane) == 1:
                ax.hist(pts[:, 0], bins=40, range=(lo[0], hi[0]), histtype="step", color=colour,
                        label=name)
            else:
                ax.scatter(pts[:, plane[0]], pts[:, plane[1]], s=3, alpha=0.7, color=colour,
                           label=name, rasterized=True, linewidths=0)
        ax.set_title(f"step {step}", fontsize=10)
        ax.set_xlabel(names[plane[0]])
        for axis, setter in zip(plane, (ax.set_xlim, ax.set_ylim)):
            pad = 0.03 * (hi[axis] - lo[axis])
            setter(lo[axis] - pad, hi[axis] + pad)
        if len(plane) == 2 and t_free(problem, plane):
            ax.set_aspect("equal")
    axes[0].set_ylabel(names[plane[1]] if len(plane) == 2 else "points per bin")
    if colours:
        axes[-1].legend(fontsize="small", markerscale=5, loc="upper right")
    suffix = " (projection)" if len(names) > 2 else ""
    fig.suptitle(f"collocation population{suffix}", fontsize=12)
    return [("population", "Collocation population", fig)]


def causal_figures(history: list[dict]) -> Built:
    """Causal-training gates over time: scalar keys as lines, list keys as step x index maps."""
    keys = sorted({k for r in history for k in r if k.startswith("causal_")})
    if not keys:
        return []
    scalars = [k for k in keys if all(isinstance(r.get(k), (int, float)) for r in history if k in r)]
    lists = [k for k in keys if k not in scalars
             and all(isinstance(r.get(k), (list, tuple)) for r in history if k in r)]
    panels = (1 if scalars else 0) + len(lists)
    if not panels:
        return []
    fig = new_figure(5.0 * panels + 0.6, 3.8)
    axes = list(fig.subplots(1, panels, squeeze=False)[0])
    if scalars:
        ax = axes.pop(0)
        for k in scalars:
            pts = [(r["step"], float(r[k])) for r in history if k in r and "step" in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.5, label=k[7:])
        vals = positive(float(r[k]) for k in scalars for r in history if k in r)
        if np.isfinite(vals).all() and np.nanmax(vals) / np.nanmin(vals) > 100:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title("causal settings", fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax, k in zip(axes, lists):
        rows = [(r["step"], [float(v) for v in r[k]]) for r in history if k in r and "step" in r]
        width = max(len(v) for _, v in rows)
        mat = np.full((width, len(rows)), np.nan)
        for j, (_, v) in enumerate(rows):
            mat[:len(v), j] = v
        steps = [s for s, _ in rows]
        im = ax.imshow(np.ma.masked_invalid(mat), origin="lower", aspect="auto", cmap="viridis",
                       extent=[steps[0], steps[-1] if len(steps) > 1 else steps[0] + 1, -0.5,
                               width - 0.5], interpolation="nearest")
        fig.colorbar(im, ax=ax, label="weight")
        ax.set_xlabel("step")
        ax.set_ylabel("index (time chunk)")
        ax.set_title(k[7:].replace("_", " "), fontsize=11)
    fig.suptitle("causal training", fontsize=12)
    return [("causal", "Causal weights", fig)]
