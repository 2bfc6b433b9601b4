"""solve() end to end: accuracy on an exact solution, run directories, resume, CLI, settings."""

import json
import os
import re
import shutil
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch

import pinnlab
from pinnlab import (CheckpointError, ConfigError, Data, DeclarationError, Dirichlet, Initial, Interval, MLP, Problem,
                     TimeInterval, TrainingError, solve)
from pinnlab.cli import main
from pinnlab.config import apply_overrides, build
from pinnlab.runs import load_checkpoint, load_latest, read_history

ROOT = Path(__file__).resolve().parents[1]


def poisson1d():
    x = sp.Symbol("x")
    u = sp.Function("u")(x)
    return Problem([sp.Eq(u.diff(x, 2), -sp.pi ** 2 * sp.sin(sp.pi * x))], [Dirichlet(u, 0)],
                   domain=Interval(0, 1), reference=sp.sin(sp.pi * x), name="poisson1d")


def heat():
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    return Problem([sp.Eq(u.diff(t), 0.1 * u.diff(x, 2))],
                   [Initial(u, sp.sin(sp.pi * x)), Dirichlet(u, 0)],
                   domain=Interval(0, 1) * TimeInterval(0, 1),
                   reference=sp.exp(-0.1 * sp.pi ** 2 * t) * sp.sin(sp.pi * x), name="heat")


SMALL = dict(model=MLP(width=16, depth=2), sampler=dict(name="uniform", n_interior=128, n_boundary=16,
                                                       n_initial=32), progress=False, report=False)


def test_poisson_reaches_exact_solution_with_adam_then_lbfgs():
    res = solve(poisson1d(), optimizer=dict(name="adam+lbfgs", adam_steps=300, lbfgs_steps=100, lr=1e-2),
                dtype="float64", **SMALL)
    assert res.metrics["l2re"] < 1e-3
    assert res.metrics["steps"] == 400
    pts = np.linspace(0, 1, 7)[:, None]
    assert np.allclose(res.predict(pts)[:, 0], np.sin(np.pi * pts[:, 0]), atol=5e-3)


def test_both_engines_train_identically_in_float64():
    hist = {}
    for engine in ("autograd", "jet"):
        res = solve(heat(), steps=15, engine=engine, dtype="float64", log_every=1, **SMALL)
        hist[engine] = [r["loss"] for r in res.history]
    assert np.allclose(hist["autograd"], hist["jet"], rtol=1e-9)


def test_same_seed_same_history_and_run_directory(tmp_path):
    a = solve(heat(), steps=30, seed=3, out=tmp_path / "a", log_every=5, **SMALL)
    b = solve(heat(), steps=30, seed=3, out=tmp_path / "b", log_every=5, **SMALL)
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    for name in ("config.json", "history.jsonl", "metrics.json", "checkpoint.pt"):
        assert (tmp_path / "a" / name).exists(), name
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    for key in ("l2re", "l2re_fields", "steps", "wall_seconds", "steps_per_second", "final_loss"):
        assert key in metrics
    assert len(read_history(tmp_path / "a")) == len(a.history)
    c = solve(heat(), steps=30, seed=4, log_every=5, **SMALL)
    assert [r["loss"] for r in c.history] != [r["loss"] for r in a.history]


@pytest.mark.parametrize("sampler", ["uniform", "resample"])
def test_resume_reproduces_uninterrupted_history(tmp_path, sampler):
    # Adam: a 20-step run continued to 40 is then the 40-step run (the default optimizer, auto, splits
    # each run by its length; its resumes are tested in test_strategies.py)
    kw = dict(SMALL, sampler=dict(SMALL["sampler"], name=sampler, **({"resample_every": 7} if sampler == "resample" else {})),
              optimizer="adam")
    full = solve(heat(), steps=40, out=tmp_path / "full", log_every=1, checkpoint_every=20, **kw)
    solve(heat(), steps=20, out=tmp_path / "part", log_every=1, checkpoint_every=20, **kw)
    seen = []  # metrics.json of the first segment is gone while the resumed run trains

    def look(state):
        seen.append((tmp_path / "part" / "metrics.json").exists())
    resumed = solve(heat(), steps=40, out=tmp_path / "part", resume=True, log_every=1, checkpoint_every=20,
                    callbacks=[look], **kw)
    assert seen and not any(seen) and json.loads((tmp_path / "part" / "metrics.json").read_text())["steps"] == 40
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
    assert [r["loss"] for r in read_history(tmp_path / "part")] == [r["loss"] for r in full.history]


def test_a_run_directory_is_never_silently_replaced(tmp_path):
    """Training into a directory that holds a run is refused; overwrite=True clears that run's
    files (a stale population or previous checkpoint would leak into the new run)."""
    solve(heat(), steps=4, out=tmp_path, sampler=dict(SMALL["sampler"], name="r3", every=2),
          log_every=1, **{k: v for k, v in SMALL.items() if k != "sampler"})
    adam = dict(SMALL, optimizer="adam")  # one checkpoint per run (auto also writes one between its stages)
    assert (tmp_path / "population").is_dir()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"already holds a run \(config.json, history.jsonl.*resume=True.*"
                                          r"overwrite=True"):
        solve(heat(), steps=3, out=tmp_path, **adam)
    assert len(read_history(tmp_path)) == 4  # untouched
    res = solve(heat(), steps=3, out=tmp_path, overwrite=True, **adam)
    assert res.metrics["steps"] == 3 and not (tmp_path / "population").exists()
    assert not (tmp_path / "checkpoint.prev.pt").exists() and (tmp_path / "notes.txt").exists()
    with pytest.raises(ConfigError, match="resume and overwrite exclude each other"):
        solve(heat(), steps=5, out=tmp_path, resume=True, overwrite=True, **SMALL)


def test_interrupt_checkpoints_the_current_step_and_resume_continues_exactly(tmp_path):
    """Ctrl-C (SIGINT) or SIGTERM during a run with a directory ends it after the current step,
    with a checkpoint of that step; the resumed history equals an uninterrupted run's."""
    import signal
    full = solve(heat(), steps=24, out=tmp_path / "full", log_every=5, **SMALL)
    for sig in (signal.SIGINT, signal.SIGTERM):
        def stop(state, sig=sig):
            if state.step == 10:
                os.kill(os.getpid(), sig)
        out = tmp_path / sig.name
        with pytest.raises(KeyboardInterrupt, match=rf"interrupted \({sig.name}\) at step 1[01] of 24; "
                                                    "the checkpoint of that step"):
            solve(heat(), steps=24, out=out, log_every=5, callbacks=[stop], **SMALL)
        assert load_checkpoint(out / "checkpoint.pt")["step"] in (10, 11)
        assert signal.getsignal(sig) is not None and signal.getsignal(sig).__class__.__name__ != "method"
        resumed = solve(heat(), steps=24, out=out, resume=True, log_every=5, **SMALL)
        assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
        assert [r["step"] for r in read_history(out)] == [r["step"] for r in full.history]


def test_resume_falls_back_to_previous_checkpoint_when_current_is_corrupt(tmp_path):
    solve(heat(), steps=20, out=tmp_path, checkpoint_every=5, **SMALL)
    (tmp_path / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.warns(UserWarning, match=r"previous checkpoint .*step 15.*truncated or corrupted"):
        state, path = load_latest(tmp_path)
    assert path.name == "checkpoint.prev.pt" and state["step"] == 15
    with pytest.warns(UserWarning, match="resuming from the previous checkpoint") as caught:
        res = solve(heat(), steps=25, out=tmp_path, resume=True, **SMALL)
    assert res.metrics["steps"] == 25
    # attributed to the user's call (this file), not to a line of pinnlab's source
    assert [w.filename for w in caught if "previous checkpoint" in str(w.message)] == [__file__]
    (tmp_path / "checkpoint.pt").write_bytes(bytes(range(256)))  # garbage, not a refused pickle
    with pytest.raises(CheckpointError, match="truncated or corrupted .not a torch.save archive"):
        load_checkpoint(tmp_path / "checkpoint.pt")


def test_resume_refuses_another_problem_or_other_settings(tmp_path):
    solve(heat(), steps=10, out=tmp_path, checkpoint_every=5, **SMALL)
    with pytest.raises(ConfigError, match=r"other settings \(optimizer: 'auto' in the run, 'adam' now\)"):
        solve(heat(), steps=20, out=tmp_path, resume=True, optimizer="adam", **SMALL)
    shutil.rmtree(tmp_path)
    adam = dict(SMALL, optimizer="adam")
    solve(heat(), steps=10, out=tmp_path, checkpoint_every=5, **adam)
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    faster = Problem([sp.Eq(u.diff(t), 0.5 * u.diff(x, 2))], [Initial(u, sp.sin(sp.pi * x)), Dirichlet(u, 0)],
                     domain=Interval(0, 1) * TimeInterval(0, 1), name="heat")
    with pytest.raises(ConfigError, match=r"other settings \(problem_signature: "):
        solve(faster, steps=20, out=tmp_path, resume=True, **adam)
    with pytest.raises(ConfigError, match=r"optimizer.lr: 0.001 in the run, 0.1 now; seed: 0 in the run, 7 now"):
        solve(heat(), steps=20, out=tmp_path, resume=True, seed=7, optimizer={"name": "adam", "lr": 0.1},
              **SMALL)
    with pytest.raises(ConfigError, match="nothing to resume: the run directory .*elsewhere does not exist"):
        solve(heat(), steps=20, out=tmp_path / "elsewhere", resume=True, **adam)
    assert not (tmp_path / "elsewhere").exists()
    # steps, device, logging and compile may change
    res = solve(heat(), steps=20, out=tmp_path, resume=True, log_every=3, device="cpu", **adam)
    assert res.metrics["steps"] == 20


def test_crafted_pickle_checkpoint_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))
    torch.save({"step": 1, "x": Evil()}, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    assert not (tmp_path / "pwned").exists()


def test_non_finite_loss_rolls_back_then_stops_clearly(tmp_path):
    x = sp.Symbol("x")
    u = sp.Function("u")(x)
    # log of a negative network output gives NaN residuals before any update: rolling back
    # cannot help, so the first step says which term is undefined
    bad = Problem([sp.log(u - 10)], [Dirichlet(u, 0)], domain=Interval(0, 1))
    with pytest.raises(DeclarationError, match=r"NaN or infinite before any training step.*"
                                               r"equation 'pde0': 128 of 128 points"):
        solve(bad, steps=10, out=tmp_path / "log", max_failures=3, **SMALL)
    # a step size that blows up: rolled back, halved, then stopped with the last good state kept
    p = Problem([u.diff(x, 2)], [Dirichlet(u, x)], domain=Interval(0, 1))
    with pytest.raises(TrainingError, match="non-finite"):
        solve(p, steps=10, out=tmp_path / "lr", max_failures=3, optimizer=dict(name="adam", lr=1e30),
              **SMALL)
    events = [r for r in read_history(tmp_path / "lr") if "event" in r]
    assert len(events) == 3 and "rolled back" in events[0]["event"]
    state = load_checkpoint(tmp_path / "lr" / "checkpoint.pt")
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_step_size_that_diverges_after_every_rollback_stops_the_run(tmp_path):
    """Finite losses at the restored state alternating with non-finite ones after each update
    must not reset the failure count: the run stops instead of "succeeding" untrained."""
    x = sp.Symbol("x")
    u = sp.Function("u")(x)
    p = Problem([u.diff(x, 2)], [Dirichlet(u, x)], domain=Interval(0, 1))
    with pytest.raises(TrainingError, match=r"non-finite .*nothing was saved"):
        solve(p, steps=50, optimizer=dict(name="adam", lr=1e30), max_failures=4, **SMALL)
    res = solve(p, steps=30, optimizer=dict(name="adam", lr=1e-3), **SMALL)
    assert res.metrics["rollbacks"] == 0


def test_learnable_parameter_is_identified():
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    k = sp.Symbol("k")
    rng = np.random.default_rng(0)
    pts = rng.uniform([0, 0], [1, 1], size=(200, 2))
    vals = np.exp(-0.1 * np.pi ** 2 * pts[:, 1]) * np.sin(np.pi * pts[:, 0])
    problem = Problem([sp.Eq(u.diff(t), k * u.diff(x, 2))],
                      [pinnlab.Data(u, pts, vals)], domain=Interval(0, 1) * TimeInterval(0, 1),
                      parameters={k: 0.5}, parameter_reference={k: 0.1})
    res = solve(problem, optimizer=dict(name="adam+lbfgs", adam_steps=300, lbfgs_steps=100, lr=5e-3),
                dtype="float64", **SMALL)
    assert abs(res.parameters["k"] - 0.1) < 5e-3
    assert res.metrics["parameter_errors"]["k"] < 5e-2


def test_settings_are_typed_and_validated():
    s = apply_overrides({}, ["steps=200", "sampler=resample", "sampler.resample_every=10",
                             "optimizer.lr=1e-2", "model.width=8"])
    assert s == {"steps": 200, "sampler": {"name": "resample", "resample_every": 10},
                 "optimizer": {"lr": 0.01}, "model": {"width": 8}}
    assert build("model", s["model"]).width == 8
    # switching a strategy by name keeps the script's settings the new one takes (not an
    # optimizer's: lr and betas are each method's own)
    script = {"sampler": build("sampler", {"name": "uniform", "n_interior": 800, "method": "sobol"}),
              "optimizer": {"name": "adam", "lr": 1e-2}, "model": {"name": "mlp", "width": 8}}
    assert apply_overrides(script, ["sampler=rad", "optimizer=lbfgs", "model=modified_mlp"]) == {
        "sampler": {"name": "rad", "n_interior": 800, "method": "sobol"}, "optimizer": {"name": "lbfgs"},
        "model": {"name": "modified_mlp", "width": 8}}
    # a strategy's name applies before its settings, in either order on the command line
    for order in (["weighting.tol=0.5", "weighting=causal"], ["weighting=causal", "weighting.tol=0.5"]):
        assert apply_overrides({}, order) == {"weighting": {"name": "causal", "tol": 0.5}}
    with pytest.raises(ConfigError, match="did you mean 'resample'"):
        apply_overrides({}, ["sampler=resampel"])
    with pytest.raises(ConfigError, match="unknown setting 'sampler.n_interor'.*n_interior"):
        apply_overrides({"sampler": "uniform"}, ["sampler.n_interor=5"])
    with pytest.raises(ConfigError, match="expected an integer"):
        apply_overrides({}, ["steps=ten"])
    with pytest.raises(ConfigError, match="expected a number"):
        apply_overrides({}, ["optimizer.lr=__import__('os')"])
    with pytest.raises(ConfigError, match="optimizer.lbfgs_fraction: expected a number, got True"):
        build("optimizer", {"name": "auto", "lbfgs_fraction": True})
    with pytest.raises(ConfigError, match="expected a number, got True"):
        apply_overrides({"optimizer": "auto"}, ["optimizer.lbfgs_fraction=true"])
    with pytest.raises(ConfigError, match="unknown setting"):
        apply_overrides({}, ["stpes=3"])


def test_run_directory_names_cannot_escape(tmp_path):
    from pinnlab.runs import safe_child
    assert safe_child(tmp_path, "figures/a.png").parent.name == "figures"
    with pytest.raises(ConfigError, match="escapes"):
        safe_child(tmp_path, "../evil")


def test_cli_solve_and_errors(tmp_path, capsys):
    script = tmp_path / "heat.py"
    script.write_text(
        "import sympy as sp\nfrom pinnlab import *\nx, t = sp.symbols('x t')\nu = sp.Function('u')(x, t)\n"
        "problem = Problem([sp.Eq(u.diff(t), 0.1*u.diff(x, 2))], [Initial(u, sp.sin(sp.pi*x)), Dirichlet(u, 0)],\n"
        "    domain=Interval(0, 1)*TimeInterval(0, 1), reference=sp.exp(-0.1*sp.pi**2*t)*sp.sin(sp.pi*x), name='heat')\n"
        "settings = dict(model=MLP(width=8, depth=2), sampler=dict(n_interior=64, n_boundary=8, n_initial=8))\n")
    out = tmp_path / "run"
    code = main(["solve", str(script), "--steps", "12", "--out", str(out), "--quiet", "--no-report",
                 "--set", "optimizer.lr=5e-3", "--set", "sampler=resample"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "L2RE" in printed
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["sampler"]["name"] == "resample" and cfg["optimizer"]["lr"] == 5e-3
    assert main(["solve", str(script), "--steps", "20", "--out", str(out), "--quiet", "--no-report",
                 "--set", "optimizer.lr=5e-3", "--set", "sampler=resample", "--resume"]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == 20
    capsys.readouterr()
    assert main(["solve", str(script), "--steps", "20", "--out", str(out), "--quiet", "--no-report",
                 "--set", "optimizer.lr=5e-3", "--set", "sampler=resample", "--resume"]) == 0
    assert "no step left to train (resumed a finished run)" in capsys.readouterr().out
    assert main(["solve", str(script), "--set", "sampler=r5x"]) == 2
    assert "unknown sampler 'r5x'" in capsys.readouterr().err
    assert main(["solve", str(tmp_path / "missing.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "norun")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert main(["compare", str(out), str(tmp_path / "norun"), "--out", str(tmp_path / "c.html")]) == 2
    assert "norun" in capsys.readouterr().err and not (tmp_path / "c.html").exists()
    body = script.read_text()
    for i, (change, message) in enumerate((
            (body.replace("settings = dict(", "settings = dict(samplr='r3', "),
             "unknown setting 'samplr' .*did you mean 'sampler'"),
            (body + "settings = 5\n", "'settings' must be a dict of solve.. settings, got int 5"),
            (body + "problem = 5\n", "'problem' must be a pinnlab.Problem, got int 5"),
            (body + "bad = Interval(1, 0)\n", r"bad\d\.py, line 8: Interval: need a < b"),
            (body + "x = (\n", r"bad\d\.py, line 8: syntax error: '\(' was never closed"),
            (body + "y = 1 / 0\n", r"bad\d\.py, line 8: ZeroDivisionError: division by zero"))):
        bad = tmp_path / f"bad{i}.py"
        bad.write_text(change)
        assert main(["solve", str(bad), "--steps", "1", "--quiet", "--no-report",
                     "--out", str(tmp_path / f"r{i}")]) == 2
        assert re.search(message, capsys.readouterr().err), message


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "pinnlab", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for cmd in ("solve", "report", "compare", "list"):
        assert cmd in out.stdout


def test_hard_constraints_drop_their_terms_from_the_loss():
    res = solve(heat(), steps=5, hard=True, dtype="float64", log_every=1, **SMALL)
    row = res.history[-1]
    assert "loss_pde0" in row and "loss_initial0" not in row and "loss_dirichlet1" not in row
    pts = np.array([[0.0, 0.3], [1.0, 0.7], [0.25, 0.0]])
    assert np.allclose(res.predict(pts)[:, 0], [0.0, 0.0, np.sin(np.pi / 4)], atol=1e-12)


def test_overrides_apply_to_strategy_objects_from_scripts():
    s = apply_overrides({"model": MLP(width=20, depth=3)}, ["model.width=32"])
    assert s["model"] == {"name": "mlp", "width": 32, "depth": 3, "activation": "tanh", "init": "xavier_normal",
                          "kernel": True}
    assert build("model", s["model"]).width == 32


def test_overrides_of_list_settings_take_one_number_or_a_comma_list():
    s = apply_overrides({"model": {"name": "hc_moe"}}, ["model.experts=2", "model.devices=cpu"])
    spec = build("model", s["model"])
    assert spec.experts == (2,) and spec.devices == ("cpu",)
    s = apply_overrides({"model": {"name": "hc_moe"}}, ["model.experts=2,1"])
    assert build("model", s["model"]).experts == (2, 1)
    with pytest.raises(ConfigError, match="model.experts: expected a list"):
        build("model", {"name": "hc_moe", "experts": object()})


def test_cli_loads_scripts_that_import_their_siblings(tmp_path):
    from pinnlab.cli import load_problem_script
    (tmp_path / "_shared_bits.py").write_text("WIDTH = 7\n")
    (tmp_path / "p.py").write_text(
        "import sympy as sp\nfrom pinnlab import *\nfrom _shared_bits import WIDTH\nx = sp.Symbol('x')\n"
        "u = sp.Function('u')(x)\nproblem = Problem([u.diff(x, 2)], [Dirichlet(u, 0)], domain=Interval(0, 1))\n"
        "settings = dict(model=MLP(width=WIDTH))\n")
    problem, settings = load_problem_script(tmp_path / "p.py")
    assert settings["model"].width == 7
    assert str(tmp_path) not in sys.path


def test_scripts_that_train_at_import_are_refused_when_loaded(tmp_path, capsys):
    """Loading a script for its ``problem`` must not train: a script that calls solve() at
    module level is refused with its line, before any step (and the CLI exits 2, no run dir)."""
    from pinnlab.cli import LOADING, main
    script = tmp_path / "p.py"
    script.write_text(
        "import sympy as sp\nfrom pinnlab import *\nx = sp.Symbol('x')\nu = sp.Function('u')(x)\n"
        "problem = Problem([u.diff(x, 2)], [Dirichlet(u, 0)], domain=Interval(0, 1))\n"
        "result = solve(problem, steps=3, progress=False, report=False)\n")
    assert main(["solve", str(script), "--out", str(tmp_path / "run"), "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "p.py, line 6: solve() was called while pinnlab loaded" in err and "__main__" in err
    assert not (tmp_path / "run").exists() and LOADING == []
    script.write_text(script.read_text().replace("result = ", "if __name__ == '__main__':\n    result = "))
    assert main(["solve", str(script), "--out", str(tmp_path / "run"), "--steps", "2", "--no-report",
                 "--quiet"]) == 0
    # the run records the script it was loaded from, for `pinnlab report RUN`
    assert (tmp_path / "run" / "problem_script.txt").read_text().strip() == str(script.resolve())


def test_an_ignored_signal_stays_ignored_while_training(tmp_path):
    """A study worker ignores SIGINT (its parent handles Ctrl-C): solve must not take it over."""
    import signal
    seen = []
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        solve(heat(), steps=3, log_every=1, out=tmp_path,
              callbacks=[lambda s: seen.append(signal.getsignal(signal.SIGINT))], **SMALL)
        assert seen and all(h is signal.SIG_IGN for h in seen)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_cli_warnings_and_an_unconverged_run_are_said_plainly(tmp_path, capsys):
    """On the command line pinnlab's warnings read 'pinnlab: warning: ...' (no console-script
    line under them), and a run whose loss still fell fast at its end says so."""
    import warnings

    from pinnlab.cli import main
    from pinnlab.errors import PinnlabWarning
    script = tmp_path / "p.py"
    script.write_text("import sympy as sp\nfrom pinnlab import *\nx = sp.Symbol('x')\nu = sp.Function('u')(x)\n"
                      "problem = Problem([u.diff(x, 2) + 40], [Dirichlet(u, 0)], domain=Interval(0, 1))\n")
    before = warnings.formatwarning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            assert main(["solve", str(script), "--out", str(tmp_path / "run"), "--steps", "30", "--no-report",
                         "--quiet", "--set", "optimizer=adam+lbfgs", "--set", "optimizer.adam_steps=24",
                         "--set", "optimizer.lbfgs_steps=6", "--set", "log_every=3"]) == 0
            text = warnings.formatwarning(PinnlabWarning("careful"), PinnlabWarning, "x.py", 3)
            assert text == "pinnlab: warning: careful\n"
            assert "x.py:3: UserWarning: other" in warnings.formatwarning("other", UserWarning, "x.py", 3)
    finally:
        warnings.formatwarning = before
    fall = json.loads((tmp_path / "run" / "metrics.json").read_text())["loss_fall_last_fifth"]
    out = capsys.readouterr().out
    assert fall > 2 and f"the loss still fell {fall:.1f}x over the last fifth of the steps" in out


def test_cli_summary_is_printed_by_the_first_process_only(tmp_path, capsys, monkeypatch):
    from pinnlab.cli import main
    script = tmp_path / "p.py"
    script.write_text("import sympy as sp\nfrom pinnlab import *\nx = sp.Symbol('x')\nu = sp.Function('u')(x)\n"
                      "problem = Problem([u.diff(x, 2)], [Dirichlet(u, 0)], domain=Interval(0, 1))\n")
    for rank, printed in (("1", False), ("0", True)):
        monkeypatch.setenv("RANK", rank)  # as torchrun sets it in each process
        assert main(["solve", str(script), "--out", str(tmp_path / rank), "--steps", "2", "--no-report",
                     "--quiet"]) == 0
        assert ("run directory:" in capsys.readouterr().out) is printed


def test_runs_made_by_python_scripts_are_reported_without_naming_the_script(tmp_path):
    """``python SCRIPT.py`` calling solve(out=) records the script, so ``pinnlab report RUN``
    finds the problem (loading it does not train again)."""
    import subprocess
    script = tmp_path / "p.py"
    script.write_text(
        "import sympy as sp\nfrom pinnlab import *\nx = sp.Symbol('x')\nu = sp.Function('u')(x)\n"
        "problem = Problem([u.diff(x, 2)], [Dirichlet(u, 0)], domain=Interval(0, 1))\n"
        "if __name__ == '__main__':\n"
        "    solve(problem, steps=3, model=MLP(width=4, depth=1), out='run', progress=False, report=False)\n"
        "    solve(Problem([u.diff(x, 2)], [Dirichlet(u, 1)], domain=Interval(0, 1)), steps=2,\n"
        "          model=MLP(width=4, depth=1), out='other', progress=False, report=False)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, check=True)
    assert (tmp_path / "run" / "problem_script.txt").read_text().strip() == str(script.resolve())
    assert not (tmp_path / "other" / "problem_script.txt").exists()  # not the script's `problem`
    from pinnlab.cli import main
    assert main(["report", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "report.html").is_file()
    from pinnlab import load_run  # the recorded script gives the problem back too
    assert load_run(tmp_path / "run").predict([[0.25], [0.5]]).shape == (2, 1)
    # a driver that imports the problem (and trains at module level) records the problem's
    # module, which loads without redoing the driver's work
    (tmp_path / "prob.py").write_text(script.read_text().split("if __name__")[0])
    (tmp_path / "driver.py").write_text(
        "from prob import problem\nfrom pinnlab import MLP, solve\nopen('side_effects', 'a').write('x')\n"
        "solve(problem, steps=2, model=MLP(width=4, depth=1), out='drv', progress=False, report=False)\n")
    subprocess.run([sys.executable, "driver.py"], cwd=tmp_path, env=env, check=True)
    assert (tmp_path / "drv" / "problem_script.txt").read_text().strip() == str((tmp_path / "prob.py").resolve())
    assert load_run(tmp_path / "drv").predict([[0.5]]).shape == (1, 1)
    assert (tmp_path / "side_effects").read_text() == "x"


def test_a_run_loads_back_for_prediction(tmp_path):
    res = solve(heat(), steps=6, out=tmp_path, **SMALL)
    from pinnlab import load_run
    with pytest.raises(ConfigError, match="no recorded problem script.*load_run\\(RUN_DIR, problem\\)"):
        load_run(tmp_path)  # trained from this test, not from a script
    back = load_run(tmp_path, heat())
    pts = np.random.default_rng(0).random((7, 2))
    assert np.array_equal(back.predict(pts), res.predict(pts))
    assert back.metrics["l2re"] == res.metrics["l2re"] and back.history == res.history


def test_compiled_training_matches_eager_and_reports_its_warm_up():
    """``compile=True`` (torch.compile, autotuned) trains the same model as eager code."""
    hist, metrics = {}, {}
    for mode in (False, True):
        res = solve(heat(), steps=6, engine="jet", dtype="float64", log_every=1, compile=mode, **SMALL)
        hist[mode] = [r["loss"] for r in res.history]
        metrics[mode] = res.metrics
    assert np.allclose(hist[False], hist[True], rtol=1e-8)
    for m in metrics.values():
        assert m["first_step_seconds"] > 0 and m["steady_steps_per_second"] > 0
    assert metrics[True]["first_step_seconds"] > metrics[False]["first_step_seconds"]  # it compiled


@pytest.mark.parametrize("case", ["adam-schedule-param", "adam+lbfgs", "resampling"])
def test_compiled_step_matches_eager_training(case):
    """With Adam and the fixed weighting, ``compile=True`` fuses residuals, loss, gradient and
    update into one graph; other stages (L-BFGS) compile the residuals only. Both train the
    same model as eager code, learnable constants and schedules included."""
    x, t, k = sp.symbols("x t k")
    u = sp.Function("u")(x, t)
    problem = Problem([sp.Eq(u.diff(t), k * u.diff(x, 2))],
                      [Initial(u, sp.sin(sp.pi * x)), Dirichlet(u, 0, weight=3.0),
                       Data(u, np.array([[0.5, 0.5], [0.25, 0.1]]), np.array([0.3, 0.6]))],
                      domain=Interval(0, 1) * TimeInterval(0, 1), parameters={k: 0.5})
    kw = dict(SMALL, steps=8, engine="jet", dtype="float64", log_every=1)
    if case == "adam-schedule-param":
        kw["optimizer"] = dict(name="adam", lr=2e-2, warmup=3, schedule="cosine", weight_decay=1e-3)
    elif case == "adam+lbfgs":
        kw["optimizer"] = dict(name="adam+lbfgs", adam_steps=4, lbfgs_steps=4, lr=1e-2)
    else:
        kw["sampler"] = dict(SMALL["sampler"], name="r3", every=2)
    runs = {mode: solve(problem, compile=mode, **kw) for mode in (False, True)}
    losses = {m: [r["loss"] for r in res.history if "loss" in r] for m, res in runs.items()}
    assert len(losses[True]) == 8
    assert np.allclose(losses[False], losses[True], rtol=1e-8, atol=1e-12)
    assert runs[True].parameters["k"] == pytest.approx(runs[False].parameters["k"], rel=1e-8)
    for a, b in zip(runs[False].model.parameters(), runs[True].model.parameters()):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-10)
    assert runs[True].metrics["compiled"] == "step" and runs[False].metrics["compiled"] == "no"


@pytest.mark.parametrize("settings", [dict(optimizer=dict(name="multiadam", lr=1e-2)),
                                      dict(weighting=dict(name="lra", update_every=2)),
                                      dict(weighting=dict(name="causal", n_chunks=4))])
def test_compiled_residuals_with_several_backward_passes_match_eager(settings):
    """MultiAdam and the gradient-based weightings differentiate one evaluation several times:
    the compiled residuals must allow it (no donated buffers), whatever ran before."""
    kw = dict(SMALL, steps=6, engine="jet", dtype="float64", log_every=1, **settings)
    runs = {mode: solve(heat(), compile=mode, **kw) for mode in (False, True)}
    losses = {m: [r["loss"] for r in res.history if "loss" in r] for m, res in runs.items()}
    assert runs[True].metrics["compiled"] == "residuals"
    assert np.allclose(losses[False], losses[True], rtol=1e-8)


def test_compiled_step_leaves_frozen_and_unused_parameters_alone():
    """As eager Adam: a frozen parameter keeps its value, and one the loss never reaches gets
    no weight decay (its gradient is None, not zero)."""
    from pinnlab.models.layers import Activation, Linear, Sequential
    out = {}
    for mode in (False, True):
        torch.manual_seed(1)
        net = Sequential(Linear(2, 16), Activation("tanh"), Linear(16, 1)).double()
        net[0].weight.requires_grad_(False)
        net.extra = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        frozen = net[0].weight.detach().clone()
        res = solve(heat(), model=net, steps=5, optimizer=dict(name="adam", lr=1e-2, weight_decay=0.1),
                    dtype="float64", compile=mode, log_every=1, **{k: v for k, v in SMALL.items() if k != "model"})
        assert torch.equal(net[0].weight, frozen) and torch.equal(net.extra, torch.ones(3, dtype=torch.float64))
        out[mode] = [r["loss"] for r in res.history if "loss" in r]
    assert res.metrics["compiled"] == "step"
    assert np.allclose(out[False], out[True], rtol=1e-8)


def test_compiled_step_falls_back_to_compiled_residuals(monkeypatch):
    """Models that torch.func cannot differentiate (hard constraints: nested autograd) opt out of
    the one-graph step; a model whose tracing fails at the first step falls back with a warning.
    Either way training matches eager code."""
    kw = dict(SMALL, steps=4, engine="jet", dtype="float64", log_every=1)
    eager = [r["loss"] for r in solve(heat(), hard=True, **kw).history if "loss" in r]
    with warnings.catch_warnings(record=True) as caught:  # no torch warning about Dynamo
        warnings.simplefilter("always")                   # tracing SymPy reaches the user
        res = solve(heat(), hard=True, compile=True, **kw)
    assert not [w for w in caught if "Dynamo" in str(w.message)]
    assert res.metrics["compiled"] == "residuals"
    assert np.allclose(eager, [r["loss"] for r in res.history if "loss" in r], rtol=1e-8)

    import pinnlab.fused as fused

    def untraceable(self, batches):
        raise RuntimeError("cannot trace this model")
    monkeypatch.setattr(fused.FusedStep, "_build", untraceable)
    plain = [r["loss"] for r in solve(heat(), **kw).history if "loss" in r]
    with pytest.warns(UserWarning, match="cannot run as one compiled training step .*cannot trace"):
        res = solve(heat(), compile=True, **kw)
    assert res.metrics["compiled"] == "residuals"
    assert np.allclose(plain, [r["loss"] for r in res.history if "loss" in r], rtol=1e-8)


def test_compiled_functions_recheck_what_changes_between_calls(monkeypatch):
    """The one-graph step keeps Dynamo's guards on its arguments (tensor shapes and dtypes,
    dict keys, plain numbers such as batch weights) and drops those on its closure and
    globals (the problem and model, fixed while a solve runs)."""
    import pinnlab.fused as fused
    seen = []
    make = fused._call_guards

    def recording(code):
        keep = make(code)

        def filtered(entries):
            kept = keep(entries)
            seen.append((entries, kept))
            return kept
        return filtered
    monkeypatch.setattr(fused, "_call_guards", recording)
    offset = {"value": 1.0}

    def f(batches, weight):
        return batches["x"].sin() * weight + offset["value"]
    g = fused.compile_fresh(f, None, fullgraph=True)  # the fused step; others keep every guard
    x = torch.linspace(0, 1, 7)
    for batches, weight in [({"x": x}, 2.0), ({"x": x}, 3.0), ({"x": x[:5]}, 3.0),
                            ({"x": x.double()}, 3.0), ({"x": x, "y": x}, 0.5)]:
        assert torch.allclose(g(batches, weight), f(batches, weight))
    entries, kept = seen[0]
    by_type = {e.guard_type for e, k in zip(entries, kept) if k}
    assert "TENSOR_MATCH" in by_type
    assert all(k for e, k in zip(entries, kept) if e.guard_type == "TENSOR_MATCH")
    assert not any(k for e, k in zip(entries, kept) if e.name.startswith("offset"))
    assert any(k for e, k in zip(entries, kept) if e.name.startswith("weight"))


def test_api_mistakes_get_config_errors(tmp_path):
    p = heat()
    bad = [(dict(sampler=5), r"sampler must be a name .* got 5 \(int\)"),
           (dict(optimizer=["adam"]), "optimizer must be a name"),
           (dict(weighting=5), "weighting must be a name"),
           (dict(device=None), "device must be a string"),
           (dict(hard="no"), "hard must be True or False, got 'no'"),
           (dict(callbacks=[5]), "callbacks must be a list of functions"),
           (dict(callbacks=print), "callbacks must be a list of functions"),
           (dict(optimizer={"name": "adam", "betas": [1.5, 0.9]}), r"betas must be two numbers in \[0, 1\)"),
           (dict(optimizer={"name": "multiadam", "betas": [0.9, 0.9, 0.9]}), "betas must be two numbers"),
           (dict(out="/proc/pinnlab-run"), "cannot create the run directory /proc/pinnlab-run")]
    for kw, match in bad:
        with pytest.raises(ConfigError, match=match):
            solve(p, steps=1, **{**SMALL, **kw})
    for problem, match in ((None, "solve needs a pinnlab Problem, got None"),
                           ("problems/heat.py", "pinnlab solve FILE.py")):
        with pytest.raises(ConfigError, match=match):
            solve(problem, steps=1, **SMALL)


def test_list_settings_and_activation_names_from_the_command_line():
    assert apply_overrides({}, ["optimizer=adam", "optimizer.betas=[0.9, 0.99]"])["optimizer"]["betas"] == (0.9, 0.99)
    assert build("optimizer", apply_overrides({}, ["optimizer=adam", "optimizer.betas=(0.8,0.9)"])["optimizer"]).betas == (0.8, 0.9)
    with pytest.raises(ConfigError, match="unknown activation 'tahn' .did you mean 'tanh'"):
        solve(heat(), steps=1, model=dict(name="mlp", activation="tahn"), progress=False, report=False)


def test_compile_settings_are_checked():
    with pytest.raises(ConfigError, match="needs the jet engine"):
        solve(heat(), steps=1, engine="autograd", compile=True, **SMALL)
    with pytest.raises(ConfigError, match="compile='fast'"):
        solve(heat(), steps=1, compile="fast", **SMALL)
    assert apply_overrides({}, ["compile=default"])["compile"] == "default"
    assert apply_overrides({}, ["compile=true"])["compile"] is True


def test_bad_models_settings_and_references_get_clear_errors(tmp_path):
    p = heat()
    with pytest.raises(ConfigError, match=r"gives shape \(2, 3\)"):
        solve(p, steps=1, model=torch.nn.Linear(2, 3), progress=False, report=False)
    with pytest.raises(ConfigError, match=r"fails on points of shape \(N, 2\)"):
        solve(p, steps=1, model=torch.nn.Linear(3, 1), progress=False, report=False)
    with pytest.raises(ConfigError, match="model must be"):
        solve(p, steps=1, model=42, progress=False, report=False)
    for key, value in (("log_every", 0), ("steps", 10.5), ("seed", "abc"), ("max_failures", 0)):
        with pytest.raises(ConfigError, match=f"{key} must be an integer"):
            solve(p, **{key: value}, **SMALL)
    with pytest.raises(ConfigError, match="must be a finite number >= 0"):
        solve(p, steps=1, weighting={"name": "fixed", "weights": {"initial0": -10}}, **SMALL)
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    base = dict(equations=[sp.Eq(u.diff(t), 0.1 * u.diff(x, 2))], conditions=[Dirichlet(u, 0)],
                domain=Interval(0, 1) * TimeInterval(0, 1))
    for ref, err in ((lambda pts: np.zeros((len(pts), 3)), r"shape \(20000, 3\)"),
                     (lambda pts: np.full(len(pts), np.nan), "NaN or infinite"),
                     (lambda pts: np.zeros(7), r"values of shape \(7,\) for 20000 points"),
                     (types.SimpleNamespace(points=np.full((4, 2), 0.5), values=[1.0, np.nan, 2.0, 3.0]),
                      r"1 of 4 rows of its values are NaN or infinite \(first at row 1\)"),
                     ("x", "strings are never parsed")):
        with pytest.raises((pinnlab.DataError, pinnlab.DeclarationError), match=err):
            solve(Problem(**base, reference=ref), steps=1, **SMALL)
    with pytest.warns(UserWarning, match="zero everywhere: 'l2re' is then the absolute"):
        solve(Problem(**base, reference=0), steps=1, **SMALL)
    res = solve(p, steps=3, out=tmp_path / "run", **SMALL)
    with pytest.raises(ConfigError, match="at step 3, beyond steps=2"):
        solve(p, steps=2, out=tmp_path / "run", resume=True, **SMALL)
    with pytest.raises(pinnlab.DataError, match=r"shape \(n, 2\)"):
        res.predict([[0.5, 0.5, 0.5]])
    assert res.predict([0.5, 0.5]).shape == (1, 1)


def test_ambiguous_declarations_are_refused():
    x, t, c = sp.symbols("x t c")
    u = sp.Function("u")(x, t)
    base = dict(equations=[sp.Eq(u.diff(t), c * u.diff(x, 2))], conditions=[Dirichlet(u, 0)],
                domain=Interval(0, 1) * TimeInterval(0, 1))
    for kw, err in ((dict(parameters={c: 1.0}, constants={c: -2.0}), "both a learnable parameter and a constant"),
                    (dict(parameters={"c": 1.0}), "keys must be SymPy Symbols"),
                    (dict(constants={c: 1.0, x: 2.0}), "x in constants is a coordinate"),
                    (dict(constants={c: 1.0}, fields=[u, u]), "declared more than once"),
                    (dict(parameters={c: 1.0}, parameter_reference={sp.Symbol("q"): 2.0}),
                     "not a learnable parameter")):
        with pytest.raises(pinnlab.DeclarationError, match=err):
            Problem(**base, **kw)


def test_hard_constraints_warn_about_conditions_that_stay_soft():
    from pinnlab import Disk
    x, y, t = sp.symbols("x y t")
    u = sp.Function("u")(x, y, t)
    outer, hole = Disk((0, 0), 1), Disk((0.3, 0), 0.3)
    dom = (outer - hole) * TimeInterval(0, 0.5)
    p = Problem([sp.Eq(u.diff(t), u.diff(x, 2) + u.diff(y, 2))],
                [Initial(u, 0), Dirichlet(u, 0, on=dom.boundary_of(outer)),
                 Dirichlet(u, 1, on=dom.boundary_of(hole))], domain=dom)
    with pytest.warns(UserWarning, match="dirichlet1, dirichlet2 stay in the loss"):
        res = solve(p, steps=1, hard=True, model=MLP(8, 1), log_every=1, progress=False, report=False,
                    sampler=dict(name="uniform", n_interior=50, n_boundary=20, n_initial=20))
    assert "loss_dirichlet1" in res.history[-1] and "loss_initial0" not in res.history[-1]
