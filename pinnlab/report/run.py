"""The report of one run: PNG figures, a self-contained HTML page and an optional PDF."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
from matplotlib.figure import Figure

from ..conditions import Data
from ..runs import atomic_write_bytes
from . import html as H
from .common import Built, Gallery, attempt, flatten, fmt, new_figure
from .fields import field_figures, residual_figures
from .grids import GridReference, make_layout
from .training import causal_figures, loss_figures, parameter_figures, population_figures


def display_latex(problem: Any, expr: Any) -> str:
    """LaTeX of an equation with ``u{\\left(x,t \\right)}`` shortened to ``u``."""
    text = sp.latex(expr)
    for f in problem.fields:
        text = text.replace(sp.latex(f), sp.latex(sp.Symbol(str(f.func))))
    return text


def statements(problem: Any) -> list[tuple[str, Any]]:
    """``(label, SymPy expression or Eq)`` of every equation and condition."""
    out: list[tuple[str, Any]] = []
    for i, eq in enumerate(problem.equations):
        out.append((eq.default_name(i), eq.expr))
    for i, cond in enumerate(problem.conditions):
        expr = getattr(cond, "expr", None)
        name = cond.default_name(i) if hasattr(cond, "default_name") else f"condition{i}"
        if isinstance(cond, Data):
            name, expr = _observation(cond, name)
        out.append((name, expr if expr is not None else sp.Symbol(type(cond).__name__)))
    return out


def _observation(cond: Data, name: str) -> tuple[str, Any]:
    """A Data term as ``expr = observed`` (its residual alone would read ``expr = 0``),
    labelled with the number of observations."""
    try:
        count = f" ({len(np.asarray(cond.values, dtype=np.float64).reshape(-1))} points)"
    except (TypeError, ValueError):
        count = ""
    expr = cond.expr.lhs - cond.expr.rhs if isinstance(cond.expr, sp.Equality) else cond.expr
    return f"{name}{count}", sp.Eq(expr, sp.Symbol("observed"))


def _as_equation(expr: Any) -> Any:
    return expr if isinstance(expr, sp.Equality) or not isinstance(expr, sp.Expr) else sp.Eq(expr, 0)


def mathtext(latex: str) -> str | None:
    """``$latex$`` when matplotlib's mathtext can render it, else ``None``."""
    from matplotlib.mathtext import MathTextParser
    try:
        MathTextParser("path").parse(f"${latex}$")
    except Exception:  # noqa: BLE001 - mathtext raises several types
        return None
    return f"${latex}$"


def equations_figures(problem: Any) -> Built:
    """The problem's equations and conditions rendered with mathtext (plain text fallback)."""
    lines = statements(problem)
    longest = max((len(str(e)) for _, e in lines), default=20)
    width = min(max(5.5, 2.0 + 0.075 * longest), 11.0)
    indent = min(0.12 + 0.075 * max((len(label) for label, _ in lines), default=4), 2.5) / width
    fig = new_figure(width, 0.9 + 0.42 * len(lines))
    fig.text(0.01, 0.98, f"{problem.name}: equations and conditions", fontsize=13,
             weight="bold", va="top")
    step = 1.0 / (len(lines) + 1.6)
    for i, (label, expr) in enumerate(lines):
        y = 1.0 - (i + 1.6) * step
        eq = _as_equation(expr)
        text = mathtext(display_latex(problem, eq)) or textwrap.shorten(str(eq), 140)
        fig.text(0.01, y, label, fontsize=10, color="#555", va="center")
        fig.text(indent + 0.02, y, text, fontsize=12, va="center")
    return [("equations", "Equations", fig)]


def summary_rows(result: Any) -> list[tuple[str, Any]]:
    """Key numbers of a run (for the header and the PDF title page)."""
    m = result.metrics or {}
    steps, wall = m.get("steps"), m.get("wall_seconds")
    rows = [("L2RE", m.get("l2re")), ("steps", steps), ("wall time [s]", wall),
            ("steps / s", m.get("steps_per_second")), ("final loss", m.get("final_loss")),
            ("device", m.get("device", str(result.device))), ("dtype", m.get("dtype")),
            ("engine", m.get("engine"))]
    if m.get("status"):  # a rebuilt report of a run that stopped early
        rows.insert(0, ("status", m["status"]))
    if m.get("optimizer_stop_reason"):
        rows.append(("optimizer stop", m["optimizer_stop_reason"]))
    if m.get("optimizer_note"):  # why the default optimizer ran Adam alone
        rows.append(("optimizer", m["optimizer_note"]))
    return rows


def summary_figure(result: Any, gallery: Gallery) -> Figure:
    """A text title page for the PDF: metrics, L2RE per field, configuration."""
    lines = [f"{k}: {fmt(v)}" for k, v in summary_rows(result)]
    lines += [f"L2RE {k}: {fmt(v)}" for k, v in ((result.metrics or {}).get("l2re_fields") or {}).items()]
    lines += [f"parameter {k} = {fmt(v)}" for k, v in (result.parameters or {}).items()]
    lines += [""] + [textwrap.shorten(f"{k} = {fmt(v)}", 95) for k, v in flatten(result.config or {})]
    lines += [f"FAILED {f.what}: {textwrap.shorten(f.error, 80)}" for f in gallery.failures]
    fig = Figure(figsize=(8.27, 11.69))
    fig.text(0.06, 0.96, f"pinnlab report: {result.problem.name}", fontsize=16, weight="bold", va="top")
    fig.text(0.06, 0.92, "\n".join(lines[:70]), fontsize=8.5, family="monospace", va="top")
    return fig


def _problem_section(result: Any) -> str:
    problem = result.problem
    items = []
    for label, expr in statements(problem):
        eq = _as_equation(expr)
        items.append(f"<li><b>{H.esc(label)}</b>: {H.code(str(eq))}<br>"
                     f"<span class=\"muted\">LaTeX</span> {H.code(display_latex(problem, eq))}</li>")
    info = [("fields", ", ".join(problem.field_names)),
            ("coordinates", ", ".join(problem.coordinate_names)),
            ("domain", repr(problem.domain)[:300])]
    if problem.parameters:
        info.append(("learnable parameters (initial value)",
                     ", ".join(f"{k} ({fmt(v)})" for k, v in problem.parameters.items())))
    if problem.constants:
        info.append(("constants", ", ".join(f"{k} = {fmt(v)}" for k, v in problem.constants.items())))
    return ("<h2>Problem</h2>" + H.table(None, info) + f'<ul class="eq">{"".join(items)}</ul>')


def _accuracy_section(result: Any) -> str:
    m = result.metrics or {}
    out = ""
    per_field = m.get("l2re_fields") or {}
    if per_field:
        out += "<h2>Accuracy</h2>" + H.table(["field", "L2RE"], [(k, v) for k, v in per_field.items()])
    if result.parameters:
        truth = {str(k): v for k, v in (result.problem.parameter_reference or {}).items()}
        errs = m.get("parameter_errors") or {}
        rows = [(k, v, truth.get(k), errs.get(k)) for k, v in result.parameters.items()]
        out += "<h2>Learned parameters</h2>" + H.table(["parameter", "value", "true", "rel. error"], rows)
    return out


def render_page(result: Any, gallery: Gallery, notes: dict[str, str]) -> str:
    """The HTML report of a run."""
    cards = [(k, v) for k, v in summary_rows(result) if v is not None and k != "status"][:6]
    eqs = [f for f in gallery.figures if f.stem == "equations"]
    rest = [f for f in gallery.figures if f.stem != "equations"]
    status = (result.metrics or {}).get("status")
    body = f'<div class="failures"><p>{H.esc(status)}</p></div>' if status else ""
    body += H.cards(cards) + _problem_section(result) + "".join(H.figure(f) for f in eqs)
    body += _accuracy_section(result)
    body += "<h2>Figures</h2>" + "".join(H.figure(f, notes.get(f.stem, "")) for f in rest)
    events = [r for r in result.history if "event" in r]
    if events:
        body += "<h2>Events</h2>" + H.table(["step", "event"], [(r.get("step"), r["event"]) for r in events])
    body += "<h2>Configuration</h2>" + H.table(["setting", "value"], flatten(result.config or {}))
    body += H.failures(gallery.failures)
    where = str(result.run_dir) if result.run_dir is not None else "no run directory"
    return H.page(f"{result.problem.name}", f"pinnlab run report · {where}", body)


def build_gallery(result: Any, run_dir: Path | None, keep: bool, resolution: int) -> tuple[Gallery, dict]:
    """Run every figure builder; failures are recorded, never raised."""
    gallery = Gallery(keep_figures=keep)
    problem = result.problem
    notes: dict[str, str] = {}
    gallery.run("equations", lambda: equations_figures(problem))
    layout = attempt(gallery, "plotting grid", lambda: make_layout(problem, resolution))
    reference = attempt(gallery, "reference values", lambda: GridReference(problem))
    def fields() -> Built:
        try:
            return field_figures(result, layout, reference)
        except Exception as exc:  # noqa: BLE001 - retry without a broken reference
            if reference is None or not reference.available:
                raise
            gallery.fail("reference values", exc)
            return field_figures(result, layout, None)
    if layout is not None:
        gallery.run("field figures", fields)
        gallery.run("residual figure", lambda: residual_figures(result, layout))
    gallery.run("loss history", lambda: loss_figures(result.history, result.config))
    gallery.run("parameter history", lambda: parameter_figures(
        result.history, result.parameters, problem.parameter_reference))
    gallery.run("population", lambda: population_figures(run_dir, problem))
    gallery.run("causal weights", lambda: causal_figures(result.history))
    if reference is not None and reference.note:
        notes.update({f.stem: reference.note for f in gallery.figures if f.stem.startswith("field_")})
    return gallery, notes


def write_run_report(run_dir: str | Path, result: Any, pdf: bool = False,
                     resolution: int = 160) -> Path:
    """Write ``figures/*.png``, ``report.html`` (and ``report.pdf`` with ``pdf=True``).

    Any figure that fails is logged as a warning and listed in the page; the
    report is still written. PNGs left in ``figures/`` by an earlier report that
    this one did not produce are removed, so the folder matches the page.
    Returns the path of ``report.html``.
    """
    run_dir = Path(run_dir)
    figdir = run_dir / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    gallery, notes = build_gallery(result, run_dir, pdf, resolution)
    written = set()
    for fig in gallery.figures:
        atomic_write_bytes(figdir / f"{fig.stem}.png", fig.png)
        written.add(f"{fig.stem}.png")
    for old in figdir.glob("*.png"):
        if old.name not in written:
            old.unlink()
    if pdf:
        from matplotlib.backends.backend_pdf import PdfPages
        with PdfPages(run_dir / "report.pdf") as doc:
            pages = [("title page", lambda: summary_figure(result, gallery))]
            pages += [(f"PDF page {f.title}", lambda f=f: f.figure) for f in gallery.figures
                      if f.figure is not None]
            for what, make in pages:
                attempt(gallery, what, lambda make=make: doc.savefig(make()))
    page = render_page(result, gallery, notes)
    out = run_dir / "report.html"
    atomic_write_bytes(out, page.encode("utf-8"))
    return out
