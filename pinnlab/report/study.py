"""Report of an Optuna study: history, importances, parallel coordinates, slices, best trials,
and the trials that failed or diverged, with their reasons; a multi-objective study also gets
its Pareto front.

All figures are drawn with matplotlib here (optuna's own matplotlib plots are
experimental). The figures plot the first objective of multi-objective studies.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize

from ..runs import atomic_write_bytes
from . import html as H
from .common import Built, Gallery, attempt, log_y, new_figure

BEST_ROWS = 10
FAILED_ROWS = 50


def _value(trial: Any) -> float:
    vals = trial.values or [math.nan]
    return float(vals[0])


def _minimize(study: Any) -> bool:
    import optuna
    return study.directions[0] == optuna.study.StudyDirection.MINIMIZE


def _encode(trials: list, name: str) -> tuple[np.ndarray, list[str] | None, bool]:
    """A parameter as numbers: category indices, log10 for log-scaled ranges."""
    from optuna.distributions import CategoricalDistribution
    dist = next(t.distributions[name] for t in trials if name in t.distributions)
    if isinstance(dist, CategoricalDistribution):
        labels = [str(c) for c in dist.choices]
        vals = [labels.index(str(t.params[name])) if name in t.params else math.nan for t in trials]
        return np.asarray(vals, dtype=np.float64), labels, False
    log = bool(getattr(dist, "log", False))
    vals = np.array([float(t.params.get(name, math.nan)) for t in trials], dtype=np.float64)
    return vals, None, log


def history_figure(trials: list, minimize: bool) -> Built:
    """Objective of every completed trial and the best value so far."""
    nums = [t.number for t in trials]
    vals = np.array([_value(t) for t in trials])
    best = np.minimum.accumulate(vals) if minimize else np.maximum.accumulate(vals)
    fig = new_figure(7.5, 4.0)
    ax = fig.subplots()
    ax.scatter(nums, vals, s=18, color="tab:blue", label="trial", zorder=3)
    ax.step(nums, best, where="post", color="tab:red", lw=1.8, label="best so far")
    pos = vals[np.isfinite(vals)]
    if pos.size and (pos > 0).all() and pos.max() / pos.min() > 100:
        log_y(ax, [pos])
    ax.set_xlabel("trial")
    ax.set_ylabel("objective")
    ax.set_title("optimization history", fontsize=11)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return [("study_history", "Optimization history", fig)]


def importance_figure(study: Any, trials: list) -> Built:
    """fANOVA parameter importances (needs two or more completed trials)."""
    import optuna
    if len(trials) < 2:
        return []
    sign = 1.0 if _minimize(study) else -1.0   # the evaluator ranks low targets as good
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = optuna.importance.get_param_importances(study, target=lambda t: sign * _value(t))
    if not imp:
        return []
    names = list(imp)[::-1]
    fig = new_figure(6.5, 0.8 + 0.4 * len(names))
    ax = fig.subplots()
    ax.barh(names, [imp[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance")
    ax.set_title("parameter importances", fontsize=11)
    ax.grid(alpha=0.3, axis="x")
    return [("study_importance", "Parameter importances", fig)]


def _axis(values: np.ndarray, labels: list[str] | None, log: bool) -> tuple[np.ndarray, list]:
    """One parallel-coordinates axis: values scaled to [0, 1] and its ``(position, text)`` labels."""
    if labels:
        top = max(len(labels) - 1, 1)
        return values / top, [(i / top, text) for i, text in enumerate(labels)]
    enc = np.log10(np.where(values > 0, values, np.nan)) if log else values
    lo, hi = np.nanmin(enc), np.nanmax(enc)
    scaled = (enc - lo) / (hi - lo) if hi > lo else np.full_like(enc, 0.5)
    return scaled, [(0.0, f"{np.nanmin(values):.3g}"), (1.0, f"{np.nanmax(values):.3g}")]


def parallel_figure(trials: list, names: list[str], minimize: bool = True) -> Built:
    """Parallel coordinates: objective and parameters scaled to [0, 1]; the best trials darkest, on top."""
    if not names or len(trials) < 2:
        return []
    vals = np.array([_value(t) for t in trials])
    axes_data = [_axis(vals, None, False)] + [_axis(*_encode(trials, n)) for n in names]
    scaled = np.stack([a[0] for a in axes_data], axis=1)
    vmin, vmax = float(np.nanmin(vals)), float(np.nanmax(vals))
    norm = Normalize(vmin, vmax if vmax > vmin else vmin + 1.0)
    shades = matplotlib.colormaps["Blues"](np.linspace(0.3, 1.0, 256))
    cmap = ListedColormap(shades[::-1] if minimize else shades)
    fig = new_figure(max(2.0 * len(axes_data), 6.0), 4.5)
    ax = fig.subplots()
    xs = np.arange(len(axes_data))
    for i in np.argsort(-vals if minimize else vals):     # worst first, best drawn last
        ax.plot(xs, scaled[i], color=cmap(norm(vals[i])), alpha=0.85, lw=1.3)
    for x, (_, marks) in zip(xs, axes_data):
        ax.axvline(x, color="black", lw=0.8, zorder=0)
        for pos, text in marks:
            ax.annotate(text, (x, pos), xytext=(4, 0), textcoords="offset points", va="center",
                        fontsize=8, bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                          "alpha": 0.8})
    ax.set_xticks(xs, ["objective"] + names)
    ax.set_yticks([])
    ax.set_xlim(-0.1, len(axes_data) - 0.6)
    ax.set_ylim(-0.04, 1.04)
    ax.spines[:].set_visible(False)
    ax.tick_params(axis="x", length=0)
    ax.set_title("parallel coordinates (each axis scaled to its range)", fontsize=11)
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label="objective")
    return [("study_parallel", "Parallel coordinates", fig)]


def slice_figure(trials: list, names: list[str]) -> Built:
    """Objective against each parameter, coloured by trial number."""
    if not names:
        return []
    ncol = min(len(names), 3)
    nrow = math.ceil(len(names) / ncol)
    fig = new_figure(4.0 * ncol + 1.0, 3.3 * nrow)
    axes = fig.subplots(nrow, ncol, squeeze=False, sharey=True)
    vals = np.array([_value(t) for t in trials])
    nums = np.array([t.number for t in trials])
    sc = None
    for ax, n in zip(axes.flat, names):
        enc, labels, log = _encode(trials, n)
        sc = ax.scatter(enc, vals, c=nums, cmap="Blues", edgecolors="grey", s=26, vmin=0,
                        vmax=max(nums.max(), 1))
        if labels:
            ax.set_xticks(range(len(labels)), labels)
        elif log:
            ax.set_xscale("log")
        ax.set_xlabel(n)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("objective")
    fig.colorbar(sc, ax=axes, label="trial")
    fig.suptitle("slice plots", fontsize=12)
    return [("study_slices", "Slice plots", fig)]


def _hide_password(url: str) -> str:
    """A storage URL safe to print: ``user:secret@`` becomes ``user:***@``."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def _report_link(trial: Any, out_dir: Path, name: str = "report.html", text: str = "run report") -> Any:
    """A link to the file ``name`` of the trial's run directory."""
    run_dir = trial.user_attrs.get("run_dir")
    if not run_dir:
        return "–"
    target = Path(run_dir) / name
    if not target.exists() and name == "report.html" and Path(run_dir).is_dir():
        # trials write no report unless the study asks (trial_reports): link the run directory
        target, text = Path(run_dir), "run directory (no report: pinnlab report RUN_DIR)"
    try:
        href = os.path.relpath(target.resolve(), out_dir.resolve())
    except ValueError:
        href = target.resolve().as_uri()
    return H.link(href, text if target.exists() else f"{text} (missing)")


def _failed_table(trials: list, out_dir: Path) -> str:
    """Failed and diverged trials with their reasons (the ``fail_reason`` / ``prune_reason`` user
    attributes that ``pinnlab study`` stores), and the trial that re-ran a re-queued one."""
    import optuna
    from ..study.trial import fail_reason
    from ..study.storage import REQUEUED_FROM_ATTR
    state = optuna.trial.TrialState
    bad = [t for t in trials if t.state == state.FAIL
           or (t.state == state.PRUNED and t.user_attrs.get("diverged"))]
    if not bad:
        return ""
    rerun = {t.system_attrs.get(REQUEUED_FROM_ATTR): t.number for t in trials}
    rows = []
    for t in bad[-FAILED_ROWS:]:
        if t.state == state.PRUNED:
            what, reason = "diverged (pruned)", t.user_attrs.get("prune_reason", "diverged")
        else:
            what = "interrupted" if t.user_attrs.get("interrupted") else "failed"
            reason = fail_reason(t)
        again = f"#{rerun[t.number]}" if t.number in rerun else "–"
        rows.append([t.number, what, reason, again, _report_link(t, out_dir, "trial.json", "trial.json")])
    shown = "" if len(bad) <= FAILED_ROWS else f" (the last {FAILED_ROWS} of {len(bad)})"
    return (f"<h2>Failed and diverged trials{shown}</h2>"
            + H.table(["trial", "outcome", "reason", "re-run as", "details"], rows))


def study_report(storage_url: str, study_name: str, out_dir: str | os.PathLike) -> Path:
    """Write ``out_dir/study_report.html`` (and PNGs in ``out_dir/study_figures``); returns its path."""
    import optuna
    from ..study.storage import load_existing_study
    study = load_existing_study(storage_url, study_name)    # a wrong name is a ConfigError
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    all_trials = study.get_trials(deepcopy=False)
    done = [t for t in all_trials if t.state == optuna.trial.TrialState.COMPLETE and t.values]
    minimize = _minimize(study)
    names = sorted({n for t in done for n in t.params})
    gallery = Gallery()
    if done:
        gallery.run("optimization history", lambda: history_figure(done, minimize))
        gallery.run("parameter importances", lambda: importance_figure(study, done))
        gallery.run("parallel coordinates", lambda: parallel_figure(done, names, minimize))
        gallery.run("slice plots", lambda: slice_figure(done, names))
    states: dict[str, int] = {}
    for t in all_trials:
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    ranked = sorted(done, key=_value, reverse=not minimize)
    best = ranked[0] if ranked else None
    objectives = [str(o) for o in study.user_attrs.get("objectives") or []]
    if len(objectives) != len(study.directions):
        objectives = [f"objective {i + 1}" for i in range(len(study.directions))]
    multi = len(objectives) > 1
    body = H.cards([("objectives" if multi else "objective", ", ".join(objectives)),
                    ("direction", ", ".join(d.name.lower() for d in study.directions)),
                    ("trials", len(all_trials))] + sorted(states.items())
                   + [(f"best {objectives[0]}", _value(best) if best else None)])
    if best is not None:
        body += (f"<p>Best trial: <b>#{best.number}</b> · {_report_link(best, out_dir)} · "
                 + ", ".join(f"{H.esc(k)} = {H.esc(v)}" for k, v in best.params.items()) + "</p>")
    else:
        body += "<p class=\"muted\">No completed trial yet.</p>"
    if len(done) < 2:
        body += "<p class=\"muted\">Parameter importances need at least two completed trials.</p>"
    body += "<h2>Figures</h2>" + "".join(H.figure(f) for f in gallery.figures)
    def row(t: Any) -> list:
        return ([t.number] + list(t.values) + [t.params.get(n) for n in names]
                + [t.duration.total_seconds() if t.duration else None, _report_link(t, out_dir)])
    header = ["trial"] + objectives + names + ["duration [s]", "run"]
    if multi and done:
        from ..study.runner import pareto_front
        front = pareto_front(done)
        body += (f"<h2>Pareto front ({len(front)} trials: no other trial is better in every "
                 "objective)</h2>" + H.table(header, [row(t) for t in front]))
    body += (f"<h2>Best trials{f' by {objectives[0]}' if multi else ''}</h2>"
             + H.table(header, [row(t) for t in ranked[:BEST_ROWS]]))
    body += _failed_table(all_trials, out_dir)
    body += H.failures(gallery.failures)
    figdir = out_dir / "study_figures"
    if gallery.figures:
        figdir.mkdir(exist_ok=True)
        for f in gallery.figures:
            attempt(gallery, f"saving {f.stem}.png",
                    lambda f=f: atomic_write_bytes(figdir / f"{f.stem}.png", f.png))
    out = out_dir / "study_report.html"
    page = H.page(f"Study {study_name}", f"Optuna study · {_hide_password(storage_url)}", body)
    atomic_write_bytes(out, page.encode("utf-8"))
    return out
