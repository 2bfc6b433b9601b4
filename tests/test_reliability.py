"""Bad input fails clearly; killed processes lose nothing (issue: reliability and security)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from pinnlab import (ConfigError, Dirichlet, Initial, Interval, PinnlabError, Problem, Rectangle,
                     TimeInterval, solve)
from pinnlab.compiler import Batch
from pinnlab.config import apply_overrides
from pinnlab.engines import AutogradEngine
from pinnlab.runs import load_latest, read_history, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
x, t = sp.symbols("x t")
u = sp.Function("u")(x, t)
v = sp.Function("v")(x, t)
COORDS = (x, t)

# --------------------------------------------------------------------- fuzzing
leaves = st.sampled_from([u, v, u.diff(x), u.diff(t), u.diff(x, 2), v.diff(x, t), u.diff(x, 4), x, t,
                          sp.Integer(2), sp.Rational(1, 3), sp.pi, sp.Float(0.5),
                          # invalid on purpose: unknown symbol, wrong field call, non-coordinate derivative
                          sp.Symbol("q"), sp.Function("u")(x, 0), sp.Derivative(u, sp.Symbol("s")),
                          sp.Function("w")(x, t)])
unary = [sp.sin, sp.cos, sp.tanh, sp.atan, lambda e: sp.exp(sp.tanh(e)), lambda e: sp.sqrt(1 + e ** 2),
         sp.Abs, lambda e: sp.Heaviside(e), lambda e: sp.Piecewise((e, x > 0), (-e, True))]


def _expr_strategy():
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.tuples(children, children).map(lambda p: p[0] + p[1]),
            st.tuples(children, children).map(lambda p: p[0] * p[1]),
            st.tuples(st.sampled_from(unary), children).map(lambda p: p[0](p[1])),
        ),
        max_leaves=8)


class Net(torch.nn.Module):
    def forward(self, z):
        return torch.stack([torch.sin(z[:, 0] + z[:, 1]), torch.cos(2 * z[:, 0]) * z[:, 1]], dim=1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=_expr_strategy(), lo=st.floats(-3, 3), span=st.floats(-0.5, 3), use_cond=st.booleans())
def test_fuzz_declarations_compile_and_evaluate_or_raise_pinnlab_errors(expr, lo, span, use_cond):
    try:
        domain = Interval(lo, lo + span) * TimeInterval(0, 1)
        conds = [Dirichlet(u, expr)] if use_cond else []
        problem = Problem([expr], conds, domain=domain, fields=[u, v])
        cp = problem.compile()
    except PinnlabError:
        return
    rng = np.random.default_rng(0)
    batches = {}
    for name, block in cp.blocks.items():
        s = block.region.sample(16, rng)
        batches[name] = Batch(torch.as_tensor(s.points), None if s.normals is None else torch.as_tensor(s.normals))
    out = cp.residuals(Net().double(), AutogradEngine(), batches, {})
    for name, r in out.items():
        assert r.shape == (16,), name
        assert torch.isfinite(r).all(), (name, expr)


@settings(max_examples=80, deadline=None)
@given(key=st.sampled_from(["steps", "seed", "sampler", "sampler.n_interior", "optimizer.lr", "model.width",
                            "model.activation", "optimizer", "weighting", "nonsense", "sampler.bogus",
                            "optimizer.schedule", "dtype"]),
       value=st.one_of(st.text(max_size=12), st.integers(-5, 10 ** 6).map(str),
                       st.floats(allow_nan=True).map(str), st.sampled_from(["r3", "adam", "true", "__import__('os')"])))
def test_fuzz_settings_parse_or_raise_config_error(key, value):
    try:
        apply_overrides({}, [f"{key}={value}"])
    except ConfigError:
        pass


@settings(max_examples=40, deadline=None)
@given(a=st.floats(allow_nan=True, allow_infinity=True), b=st.floats(allow_nan=True, allow_infinity=True),
       c=st.floats(-2, 2), d=st.floats(-2, 2))
def test_fuzz_geometries_are_valid_or_raise_geometry_errors(a, b, c, d):
    try:
        g = Rectangle((a, c), (b, d))
        pts = g.sample_interior(8, np.random.default_rng(0))
    except PinnlabError:
        return
    assert np.isfinite(pts).all() and g.contains(pts).all()


# ------------------------------------------------------- faults during work
WRITER = """
import sys, torch
from pathlib import Path
from pinnlab.runs import save_checkpoint
run = Path(sys.argv[1])
i = 0
while True:
    i += 1
    save_checkpoint(run, {"step": i, "blob": torch.full((100_000,), float(i))})
    print(i, flush=True)
"""


def test_kill_during_checkpoint_write_leaves_an_intact_checkpoint(tmp_path):
    for delay in (0.05, 0.13, 0.31):
        run = tmp_path / f"run{delay}"
        run.mkdir()
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(run)], stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()  # at least one checkpoint is complete
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state, path = load_latest(run)
        assert torch.all(state["blob"] == float(state["step"]))


SCRIPT = """
import sympy as sp
from pinnlab import *
x, t = sp.symbols('x t')
u = sp.Function('u')(x, t)
problem = Problem([sp.Eq(u.diff(t), 0.1 * u.diff(x, 2))], [Initial(u, sp.sin(sp.pi * x)), Dirichlet(u, 0)],
                  domain=Interval(0, 1) * TimeInterval(0, 1), name='heat')
settings = dict(model=MLP(width=24, depth=3), sampler=dict(n_interior=256, n_boundary=32, n_initial=32),
                log_every=1, checkpoint_every=10)
"""


def test_resume_after_kill_reproduces_the_uninterrupted_history(tmp_path):
    script = tmp_path / "heat.py"
    script.write_text(SCRIPT)
    cmd = [sys.executable, "-m", "pinnlab", "solve", str(script), "--steps", "150", "--quiet", "--no-report"]
    subprocess.run(cmd + ["--out", str(tmp_path / "full")], check=True, cwd=ROOT, capture_output=True)
    part = tmp_path / "part"
    proc = subprocess.Popen(cmd + ["--out", str(part)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (part / "checkpoint.prev.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_latest(part)[0]["step"]
    subprocess.run(cmd + ["--out", str(part), "--resume"], check=True, cwd=ROOT, capture_output=True)
    full = [r["loss"] for r in read_history(tmp_path / "full")]
    resumed = [r["loss"] for r in read_history(part)]
    assert 0 < killed_at < 150 or proc.returncode == 0
    assert resumed == full
    assert json.loads((part / "metrics.json").read_text())["steps"] == 150


def test_degenerate_geometry_and_empty_regions_raise_clear_errors():
    with pytest.raises(PinnlabError, match="Interval"):
        Interval(1, 1)
    domain = Rectangle((0, 0), (1, 1))
    xx, yy = sp.symbols("x y")
    w = sp.Function("w")(xx, yy)
    with pytest.raises(PinnlabError, match="empty"):
        Problem([w.diff(xx, 2)], [Dirichlet(w, 0, on=domain.boundary.where(lambda x, y: x > 5))],
                domain=domain).compile()


def test_unknown_strategy_names_list_valid_ones_with_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'adam'.*valid: .*lbfgs"):
        solve(Problem([u.diff(t)], [Initial(u, 0)], domain=Interval(0, 1) * TimeInterval(0, 1)),
              optimizer="adma", steps=1, progress=False, report=False)
    with pytest.raises(ConfigError, match=r"unknown sampler 'sobol'.* a sampler's method setting: "
                                          r"\{'name': 'uniform', 'method': 'sobol'\}"):
        solve(Problem([u.diff(t)], [Initial(u, 0)], domain=Interval(0, 1) * TimeInterval(0, 1)),
              sampler="sobol", steps=1, progress=False, report=False)
