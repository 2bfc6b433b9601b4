"""Bad input fails clearly; killed processes lose nothing (issue: reliability and security)."""

import json
import os
import re
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


# ------------------------------------------- solve's arguments; never lost work
POISSON = """
import numpy as np
import sympy as sp
from pinnlab import Dirichlet, Interval, Problem
x = sp.Symbol('x')
u = sp.Function('u')(x)
problem = Problem([sp.Eq(u.diff(x, 2), -sp.pi ** 2 * sp.sin(sp.pi * x))], [Dirichlet(u, 0)],
                  domain=Interval(0, 1), reference=lambda p: np.sin(np.pi * p[:, 0]), name='p1d')
"""
TINY = dict(model={"name": "mlp", "width": 6, "depth": 1}, sampler={"n_interior": 32, "n_boundary": 2},
            log_every=5, progress=False, report=False)


def _poisson(tmp_path):
    script = tmp_path / "p1d.py"
    script.write_text(POISSON)
    from pinnlab.cli import load_problem_script
    return load_problem_script(script)[0], script


@pytest.mark.parametrize("key, value, match", [
    ("device", "mps", "device 'mps' cannot be used"), ("device", "xla", "device 'xla' cannot be used"),
    ("device", "meta", "device 'meta' holds no data"), ("dtype", ["float32"], "dtype must be float32"),
    ("seed", 2 ** 70, "seed must be an integer below 2"), ("out", "", "out= must name a run directory")])
def test_solve_arguments_torch_cannot_take_are_config_errors(tmp_path, monkeypatch, key, value, match):
    monkeypatch.chdir(tmp_path)  # out="" meant the current directory
    problem, _ = _poisson(tmp_path)
    with pytest.raises(ConfigError, match=match):
        solve(problem, steps=2, **{**TINY, key: value})


def test_a_failing_callback_is_named_and_keeps_the_steps_trained(tmp_path):
    """A callback's exception keeps its type (a study's pruning raises optuna.TrialPruned on
    purpose), with a note naming the callback and the checkpoint of the steps trained."""
    problem, _ = _poisson(tmp_path)
    full = solve(problem, steps=20, **TINY)

    def watch(state):
        if state.step == 10:
            raise ZeroDivisionError("my bug")
    with pytest.raises(ZeroDivisionError, match="my bug") as err:
        solve(problem, steps=20, out=tmp_path / "run", callbacks=[watch], **TINY)
    if sys.version_info >= (3, 11):
        assert re.search(r"callback .*watch \(.*test_reliability.py, line \d+\) raised ZeroDivisionError at "
                         r"step 10 of 20; the checkpoint of step 10 is in .*resume", err.value.__notes__[0])
    assert load_latest(tmp_path / "run")[0]["step"] == 10
    resumed = solve(problem, steps=20, out=tmp_path / "run", resume=True, **TINY)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]


def test_ctrl_c_inside_a_callback_keeps_the_steps_trained(tmp_path):
    """A KeyboardInterrupt raised in a callback (Ctrl-C while it runs) checkpoints the step first,
    like any callback failure: the run resumes to the uninterrupted history."""
    problem, _ = _poisson(tmp_path)
    full = solve(problem, steps=20, **TINY)

    def watch(state):
        if state.step == 10:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        solve(problem, steps=20, out=tmp_path / "run", callbacks=[watch], **TINY)
    assert load_latest(tmp_path / "run")[0]["step"] == 10
    resumed = solve(problem, steps=20, out=tmp_path / "run", resume=True, **TINY)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]


def test_predict_takes_tensors_that_require_grad(tmp_path):
    problem, _ = _poisson(tmp_path)
    res = solve(problem, steps=2, **TINY)
    pts = torch.tensor([[0.25], [0.5]], requires_grad=True)
    assert np.array_equal(res.predict(pts), res.predict([[0.25], [0.5]]))


def test_a_failing_or_interrupted_report_keeps_the_trained_run(tmp_path, monkeypatch):
    import pinnlab.report
    problem, _ = _poisson(tmp_path)
    kw = {**TINY, "report": True}

    def broken(run_dir, result, **_):
        raise RuntimeError("matplotlib broke")
    monkeypatch.setattr(pinnlab.report, "write_run_report", broken)
    with pytest.warns(UserWarning, match=r"report of .* could not be written \(RuntimeError: matplotlib "
                                         r"broke\).*pinnlab report"):
        res = solve(problem, steps=5, out=tmp_path / "a", **kw)
    assert res.metrics["steps"] == 5 and load_latest(tmp_path / "a")[0]["step"] == 5
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["steps"] == 5

    def interrupted(run_dir, result, **_):
        raise KeyboardInterrupt
    monkeypatch.setattr(pinnlab.report, "write_run_report", interrupted)
    with pytest.raises(KeyboardInterrupt, match="while writing the report; the finished run's checkpoint"):
        solve(problem, steps=5, out=tmp_path / "b", **kw)
    assert load_latest(tmp_path / "b")[0]["step"] == 5 and (tmp_path / "b" / "metrics.json").is_file()


def test_a_full_disk_at_a_checkpoint_is_a_clear_error_that_keeps_the_work(tmp_path, monkeypatch):
    import errno
    from pinnlab import CheckpointError
    problem, _ = _poisson(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run, {"step": 1})
    real_save = torch.save

    def full_disk(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match=r"cannot write the checkpoint .*checkpoint.pt: No space left"):
        save_checkpoint(run, {"step": 2})
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt"]  # no partial temporary file
    monkeypatch.setattr(torch, "save", real_save)
    assert load_latest(run)[0]["step"] == 1
    # at the end of training: the trained Result comes with the error
    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="training finished, but its files could not be written") as err:
        # (Adam: the default auto optimizer also checkpoints where its L-BFGS stage starts)
        solve(problem, steps=4, out=tmp_path / "end", checkpoint_every=0, optimizer="adam", **TINY)
    assert err.value.result.metrics["steps"] == 4 and err.value.result.predict([[0.5]]).shape == (1, 1)


def test_resume_of_a_directory_without_a_checkpoint_writes_nothing(tmp_path):
    from pinnlab import CheckpointError
    problem, _ = _poisson(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="cannot resume: .*empty has no checkpoint"):
        solve(problem, steps=2, out=tmp_path / "empty", resume=True, **TINY)
    assert list((tmp_path / "empty").iterdir()) == []
    solve(problem, steps=2, out=tmp_path / "empty", **TINY)  # a fresh run is not refused


def test_load_run_refuses_bad_inputs_by_name_and_takes_a_script(tmp_path, capsys):
    from pinnlab import PinnlabWarning, load_run
    problem, script = _poisson(tmp_path)
    run = tmp_path / "run"
    res = solve(problem, steps=3, out=run, **TINY)
    for bad, match in ((None, "needs a run directory"), (tmp_path / "nope", "nope does not exist"),
                       (script, r"p1d.py does not exist \(it is a file\)"),
                       (tmp_path, "is not a pinnlab run directory")):
        with pytest.raises(ConfigError, match=match):
            load_run(bad)
    with pytest.raises(ConfigError, match="problem must be a pinnlab Problem or a problem script"):
        load_run(run, 5)
    assert np.array_equal(load_run(run, str(script)).predict([[0.3]]), res.predict([[0.3]]))
    script.write_text(POISSON.replace("-sp.pi ** 2", "-4 * sp.pi ** 2"))  # edited after the run
    with pytest.warns(PinnlabWarning, match="trained on another problem"):
        load_run(run)
    script.rename(tmp_path / "moved.py")
    with pytest.raises(ConfigError, match=r"problem script .*p1d.py \(named in .*problem_script.txt\) does "
                                          r"not exist \(moved or deleted\?\).*load_run\(RUN_DIR, problem\)"):
        load_run(run)
    # a config.json replaced by another JSON value; --out '' on the command line
    from pinnlab.cli import main
    from pinnlab.errors import CheckpointError
    (run / "config.json").write_text("[]")
    with pytest.raises(CheckpointError, match=r"config.json holds a JSON list, not the object a run writes"):
        load_run(run, problem)
    assert main(["solve", str(tmp_path / "moved.py"), "--out", "", "--steps", "1"]) == 2
    assert "--out '' names no run directory" in capsys.readouterr().err


def test_eval_every_without_a_reference_warns():
    from pinnlab import PinnlabWarning
    xx = sp.Symbol("x")
    w = sp.Function("w")(xx)
    problem = Problem([w.diff(xx, 2) + 1], [Dirichlet(w, 0)], domain=Interval(0, 1))
    with pytest.warns(PinnlabWarning, match="eval_every=5: problem .* has no reference"):
        res = solve(problem, steps=5, eval_every=5, **TINY)
    assert all("l2re" not in row for row in res.history)
