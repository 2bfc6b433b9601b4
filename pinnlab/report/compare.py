"""Compare several run directories on one self-contained HTML page."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..runs import atomic_write_bytes, read_history
from . import html as H
from .common import Built, Gallery, flatten, log_y, new_figure, positive


@dataclass
class RunRecord:
    """What a comparison reads from one run directory."""

    label: str
    path: Path
    config: dict
    metrics: dict
    history: list[dict]


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _labels(paths: list[Path]) -> list[str]:
    """Short distinct labels: the folder name, with parents added while names clash."""
    depth = 1
    while True:
        labels = ["/".join(p.resolve().parts[-depth:]) for p in paths]
        if len(set(labels)) == len(labels) or depth > 6:
            return labels
        depth += 1


def load_runs(run_dirs: Sequence[str | os.PathLike]) -> list[RunRecord]:
    paths = [Path(d) for d in run_dirs]
    return [RunRecord(label, p, _json(p / "config.json"), _json(p / "metrics.json"), read_history(p))
            for label, p in zip(_labels(paths), paths)]


def curves_figure(runs: list[RunRecord]) -> Built:
    """Loss and L2RE against step and wall time, on shared axes per row."""
    rows = [("loss", "training loss")]
    if any("l2re" in r for run in runs for r in run.history):
        rows.append(("l2re", "relative L2 error"))
    cols = [("step", "step")]
    if any("time" in r for run in runs for r in run.history):
        cols.append(("time", "wall time [s]"))
    fig = new_figure(5.2 * len(cols) + 1.0, 3.6 * len(rows) + 0.4)
    axes = fig.subplots(len(rows), len(cols), squeeze=False, sharey="row")
    for i, (key, ylabel) in enumerate(rows):
        for j, (xkey, xlabel) in enumerate(cols):
            ax = axes[i, j]
            drawn = []
            for k, run in enumerate(runs):
                pts = [r for r in run.history if key in r and xkey in r and "event" not in r]
                if pts:
                    drawn.append(positive(r[key] for r in pts))
                    ax.plot([r[xkey] for r in pts], drawn[-1], lw=1.5, color=f"C{k % 10}",
                            label=run.label, marker="o" if key == "l2re" else None, ms=3)
            log_y(ax, drawn)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(f"{ylabel} vs {xlabel}", fontsize=11)
            ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize="small")
    fig.suptitle("run comparison", fontsize=12)
    return [("compare_curves", "Loss and L2RE", fig)]


def run_status(run: RunRecord) -> str:
    """``finished``, or why the run's metrics.json does not describe its latest state."""
    last = max((r["step"] for r in run.history if isinstance(r.get("step"), int)), default=None)
    done = run.metrics.get("steps")
    if not run.metrics:
        return "incomplete (no metrics.json)" + (f"; logged up to step {last}" if last else "")
    if last is not None and isinstance(done, int) and last > done:
        return f"metrics of step {done}; logged up to step {last} (resumed, not finished)"
    return "finished"


def _metrics_table(runs: list[RunRecord], out_dir: Path) -> str:
    fields = sorted({f for run in runs for f in (run.metrics.get("l2re_fields") or {})})
    params = list(dict.fromkeys(k for run in runs for k in (run.metrics.get("parameters") or {})))
    header = ["run", "status", "L2RE"] + [f"L2RE {f}" for f in fields] + [
        f"parameter {k}" for k in params] + [
        "final loss", "steps", "wall time [s]", "steps / s", "device", "report"]
    rows = []
    for run in runs:
        m = run.metrics
        per, learned = m.get("l2re_fields") or {}, m.get("parameters") or {}
        report = run.path / "report.html"
        rows.append([run.label, run_status(run), m.get("l2re")] + [per.get(f) for f in fields] + [
            learned.get(k) for k in params] + [
            m.get("final_loss"), m.get("steps"), m.get("wall_seconds"), m.get("steps_per_second"),
            m.get("device"), H.link(_href(report, out_dir), "report") if report.exists() else "–"])
    return H.table(header, rows)


def _href(target: Path, base: Path) -> str:
    """A link from pages in ``base`` to ``target``: relative when possible."""
    try:
        return Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()
    except ValueError:
        return target.resolve().as_uri()


def _config_table(runs: list[RunRecord]) -> str:
    flat = [dict(flatten(run.config)) for run in runs]
    keys: list[str] = []
    for f in flat:
        keys.extend(k for k in f if k not in keys)
    rows, differ = [], []
    for i, key in enumerate(keys):
        vals = [f.get(key) for f in flat]
        if len({json.dumps(v, sort_keys=True, default=str) for v in vals}) > 1:
            differ.append(i)
        rows.append([key] + vals)
    note = "<p class=\"muted\">Highlighted rows differ between runs.</p>" if differ else ""
    return note + H.table(["setting"] + [run.label for run in runs], rows, highlight=differ)


def compare_runs(run_dirs: Sequence[str | os.PathLike], out_path: str | os.PathLike) -> Path:
    """Write one HTML page comparing ``run_dirs``; returns its path.

    Curves: loss and L2RE (history key ``l2re``, recorded with ``eval_every``)
    against step and wall time; tables: each run's ``metrics.json`` and its
    ``config.json`` side by side (settings that differ are highlighted).
    """
    runs = load_runs(run_dirs)
    out = Path(out_path)
    if out.suffix.lower() not in (".html", ".htm"):
        out = out / "compare.html"
    gallery = Gallery()
    for run in runs:
        if not run.path.is_dir():
            gallery.fail(f"run {run.label}", FileNotFoundError(f"{run.path} is not a directory"))
        elif not run.history:
            gallery.fail(f"run {run.label}", ValueError(f"{run.path} has no history.jsonl rows"))
    gallery.run("comparison curves", lambda: curves_figure(runs))
    body = H.cards([("runs", len(runs))] + [(run.label, run.metrics.get("l2re")) for run in runs[:5]])
    body += "<h2>Curves</h2>" + "".join(H.figure(f) for f in gallery.figures)
    body += "<h2>Final metrics</h2>" + _metrics_table(runs, out.parent)
    body += "<h2>Configurations</h2>" + _config_table(runs)
    body += H.failures(gallery.failures)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, H.page("Run comparison", f"{len(runs)} runs", body).encode("utf-8"))
    return out
