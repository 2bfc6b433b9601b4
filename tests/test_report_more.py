"""Reports of inverse problems and of runs that stopped early; reference points vs the domain."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import sympy as sp

from pinnlab import Data, Dirichlet, Initial, Interval, Problem, Rectangle, TimeInterval, solve
from pinnlab.evaluate import reference_set
from pinnlab.reference import ReferenceData
from pinnlab.report import load_run, rebuild_report
from pinnlab.report import rebuild
from pinnlab.report.run import statements, write_run_report
from pinnlab.report.training import loss_figures, parameter_figures

RES = 24
FAST = {"sampler": {"name": "uniform", "n_interior": 64, "n_boundary": 16, "n_initial": 16},
        "model": {"name": "mlp", "width": 8, "depth": 2}}


def heat_inverse() -> Problem:
    """u_t = k u_xx with observations of u and a learnable k (true 0.1)."""
    x, t, k = sp.symbols("x t k")
    u = sp.Function("u")(x, t)
    dom = Interval(0, 1) * TimeInterval(0, 1)
    pts = np.random.default_rng(0).uniform(0, 1, (30, 2))
    vals = np.exp(-0.1 * np.pi ** 2 * pts[:, 1]) * np.sin(np.pi * pts[:, 0])
    return Problem([sp.Eq(u.diff(t), k * u.diff(x, 2))],
                   [Initial(u, sp.sin(sp.pi * x)), Dirichlet(u, 0, on=dom.boundary),
                    Data(u, pts, vals, name="obs")],
                   domain=dom, parameters={k: 0.5}, parameter_reference={k: 0.1},
                   reference=sp.exp(-sp.Rational(1, 10) * sp.pi ** 2 * t) * sp.sin(sp.pi * x),
                   name="heatinv")


def _text(page: str) -> str:
    page = re.sub(r"<style.*?</style>|<img[^>]*>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def _stop_at(step: int):
    def callback(state) -> None:
        if state.step == step:
            raise RuntimeError("stopped by the test")
    return callback


def test_data_terms_are_shown_as_observations_not_as_zero():
    """A Data term's residual is ``u``; the report must not state it as ``u = 0``."""
    problem = heat_inverse()
    shown = dict(statements(problem))
    assert "obs (30 points)" in shown
    assert shown["obs (30 points)"] == sp.Eq(problem.fields[0], sp.Symbol("observed"))
    assert all(not (isinstance(e, sp.Equality) and e.rhs == 0 and label.startswith("obs"))
               for label, e in statements(problem))


def test_report_of_interrupted_run_says_where_it_stopped(tmp_path):
    """A run killed before metrics.json: the rebuilt report names the step it stopped at and
    scores the checkpoint (L2RE, parameter error) instead of showing nothing."""
    problem, run = heat_inverse(), tmp_path / "run"
    with pytest.raises(RuntimeError, match="stopped by the test"):
        solve(problem, steps=6, out=run, progress=False, log_every=1, checkpoint_every=2,
              callbacks=[_stop_at(3)], device="cpu", **FAST)
    assert not (run / "metrics.json").exists()
    res = rebuild_report(run, problem, resolution=RES)
    m = res.metrics
    assert m["steps"] == 3 and "step 3 of 6" in m["status"] and "incomplete" in m["status"]
    assert 0 < m["l2re"] < 10 and set(m["l2re_fields"]) == {"u"}
    k = res.parameters["k"]
    assert m["parameter_errors"]["k"] == pytest.approx(abs(k - 0.1) / 0.1)
    text = _text((run / "report.html").read_text())
    assert "incomplete: checkpoint at step 3 of 6" in text and "L2RE" in text
    assert "learnable parameters (initial value) k (0.5)" in text
    assert "obs (30 points) : Eq(u(x, t), observed)" in text


def test_report_of_resumed_run_does_not_show_stale_metrics(tmp_path):
    """metrics.json of a finished segment must not be reported for a later, longer segment
    that was interrupted: the report describes the checkpoint."""
    problem, run = heat_inverse(), tmp_path / "run"
    solve(problem, steps=2, out=run, progress=False, report=False, device="cpu", **FAST)
    with pytest.raises(RuntimeError):
        solve(problem, steps=8, out=run, resume=True, progress=False, log_every=1,
              checkpoint_every=2, callbacks=[_stop_at(5)], device="cpu", **FAST)
    res = load_run(run, problem)
    assert res.metrics["steps"] == 5 and "step 5 of 8" in res.metrics["status"]
    solve(problem, steps=8, out=run, resume=True, progress=False, report=False, device="cpu", **FAST)
    finished = load_run(run, problem).metrics
    assert finished["steps"] == 8 and "status" not in finished


def test_status_of_a_diverged_run():
    history = [{"step": 1, "loss": 3.0},
               {"step": 2, "event": "non-finite loss; rolled back and halved the step size"}]
    status = rebuild._stop_status(2, 50, history)
    assert "diverged" in status and "step 2 of 50" in status
    assert "interrupted" in rebuild._stop_status(2, 50, history[:1])


def test_single_logged_step_is_drawn_with_markers():
    """A run that stopped after one logged step must still show its loss and parameter value."""
    history = [{"step": 1, "loss": 2.0, "loss_pde0": 1.5, "loss_obs": 0.5, "k": 0.4}]
    (_, _, fig), = loss_figures(history, None)
    assert all(line.get_marker() == "o" for line in fig.axes[0].get_lines())
    (_, _, fig), = parameter_figures(history, {"k": 0.4}, {"k": 0.1})
    assert fig.axes[0].get_lines()[0].get_marker() == "o"
    long = [{"step": s, "loss": 1.0 / s, "k": 0.1} for s in range(1, 200)]
    (_, _, fig), = loss_figures(long, None)
    assert fig.axes[0].get_lines()[0].get_marker() in ("", "None", None)


def test_reference_points_outside_the_domain_warn():
    """A reference whose columns are in another coordinate order lands partly outside the
    domain: the L2RE would silently compare the wrong points."""
    x, y = sp.symbols("x y")
    u = sp.Function("u")(x, y)
    xs, ys = np.meshgrid(np.linspace(0, 2, 9), np.linspace(0, 1, 5))
    good = np.c_[xs.ravel(), ys.ravel()]
    make = lambda pts: Problem([u.diff(x, 2) + u.diff(y, 2)], [Dirichlet(u, x)],  # noqa: E731
                               domain=Rectangle((0, 0), (2, 1)),
                               reference=ReferenceData(pts, pts[:, :1]), name="rect")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reference_set(make(good)).points.shape == (45, 2)
    with pytest.warns(UserWarning, match=r"points lie outside the domain .*coordinate order x, y"):
        reference_set(make(good[:, ::-1].copy()))


def test_inverse_report_from_solve_has_parameter_table(tmp_path):
    res = solve(heat_inverse(), steps=3, out=tmp_path / "r", report=False, progress=False,
                log_every=1, device="cpu", **FAST)
    write_run_report(tmp_path / "r", res, resolution=RES)
    text = _text((tmp_path / "r" / "report.html").read_text())
    assert re.search(r"parameter value true rel\. error k \S+ 0\.1 \S+", text)
    assert "incomplete" not in text


def test_slices_name_the_axes_held_at_mid_range():
    """In 4-D (or 3-D + time) the slices fix an axis that is neither drawn nor stacked."""
    from pinnlab import Hypercube
    from pinnlab.report.grids import make_layout
    x, y, z, w = sp.symbols("x y z w")
    u = sp.Function("u")(x, y, z, w)
    p = Problem([sum(u.diff(v, 2) for v in (x, y, z, w))], domain=Hypercube([0] * 4, [1, 1, 2, 1]))
    lay = make_layout(p, 6)
    assert [c.label for c in lay.cuts] == ["w = 0.25, z = 1", "w = 0.5, z = 1", "w = 0.75, z = 1"]
    assert np.all(lay.cuts[0].points[:, 2] == 1.0)


def test_predict_of_no_points_has_one_column_per_field():
    x, y = sp.symbols("x y")
    u, v = sp.Function("u")(x, y), sp.Function("v")(x, y)
    p = Problem([u.diff(x) - v, v.diff(y)], [Dirichlet(u, 0)], domain=Rectangle((0, 0), (1, 1)),
                fields=[u, v])
    res = solve(p, steps=1, device="cpu", progress=False, **FAST)
    assert res.predict(np.zeros((0, 2))).shape == (0, 2)


def test_reference_data_not_covering_a_slice_is_said(tmp_path):
    """Scattered reference data that miss the t = 0 slice leave it blank; the title says why."""
    from pinnlab.report.fields import field_figures
    from pinnlab.report.grids import GridReference, make_layout
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    pts = np.random.default_rng(0).uniform([0, 0.2], [1, 1], (400, 2))
    p = Problem([u.diff(t) - u.diff(x, 2)], [Initial(u, 0)], domain=Interval(0, 1) * TimeInterval(0, 1),
                reference=ReferenceData(pts, pts[:, :1]), name="partial")
    res = solve(p, steps=1, device="cpu", progress=False, **FAST)
    (_, _, fig), = field_figures(res, make_layout(p, 20), GridReference(p))
    assert "does not reach every point" in fig.get_suptitle()


def test_compare_marks_unfinished_runs_and_lists_parameters(tmp_path):
    from pinnlab.report import compare_runs
    problem = heat_inverse()
    done, cut = tmp_path / "done", tmp_path / "cut"
    solve(problem, steps=2, out=done, report=False, progress=False, device="cpu", **FAST)
    with pytest.raises(RuntimeError):
        solve(problem, steps=6, out=cut, report=False, progress=False, log_every=1, checkpoint_every=2,
              callbacks=[_stop_at(3)], device="cpu", **FAST)
    text = _text(compare_runs([done, cut], tmp_path / "cmp.html").read_text())
    assert "parameter k" in text
    assert re.search(r"done finished \S+ \S+ \S+", text)
    assert "cut incomplete (no metrics.json); logged up to step 3" in text
