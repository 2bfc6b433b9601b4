"""Contract tests of the optimizer strategies (as ``solve`` drives them) and the balancing weightings."""

from __future__ import annotations

import copy
import json
import math
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import sympy as sp
import torch

from pinnlab import MLP, Dirichlet, Initial, Interval, Problem, TimeInterval, solve
from pinnlab import config as cfg
from pinnlab.errors import ConfigError
from pinnlab.loss import LossEval
from pinnlab.optimizers.strategies import STRATEGIES, MultiAdam
from pinnlab.weighting import FixedWeights, all_weightings

x, t = sp.symbols("x t")
u = sp.Function("u")(x, t)
_domain = Interval(-1, 1) * TimeInterval(0, 1)
PROBLEM = Problem(
    equations=[sp.Eq(u.diff(t) + u * u.diff(x), 0.05 * u.diff(x, 2))],
    conditions=[Initial(u, -sp.sin(sp.pi * x)), Dirichlet(u, 0, on=_domain.boundary)],
    domain=_domain, name="tiny-burgers")
SAMPLER = dict(name="uniform", n_interior=48, n_boundary=12, n_initial=12)

#: A short spec of every registered optimizer strategy (chains with short stages).
SPECS = {
    "auto": {"name": "auto", "lr": 1e-2},
    "adam": {"name": "adam", "lr": 1e-2},
    "multiadam": {"name": "multiadam", "lr": 1e-2},
    "lbfgs": {"name": "lbfgs"},
    "bfgs": {"name": "bfgs", "update": "ssbroyden"},
    "chain": {"name": "chain", "stages": [{"name": "adam", "lr": 1e-2, "steps": 3},
                                          {"name": "lbfgs", "steps": 3},
                                          {"name": "bfgs", "steps": 100}]},
    "adam+lbfgs": {"name": "adam+lbfgs", "adam_steps": 3, "lbfgs_steps": 100, "lr": 1e-2},
    "adam+lbfgs+bfgs": {"name": "adam+lbfgs+bfgs", "adam_steps": 2, "lbfgs_steps": 2, "bfgs_steps": 100},
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny problems: thread start-up and contention on a shared CPU cost more than they give."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _solve(opt, steps, **kw):
    kw.setdefault("weighting", "fixed")
    kw.setdefault("sampler", SAMPLER)
    return solve(PROBLEM, model=MLP(width=6, depth=2), optimizer=copy.deepcopy(opt) if isinstance(opt, dict) else opt,
                 steps=steps, device="cpu", log_every=1, progress=False, report=False, **kw)


def _losses(history):
    return [(r["step"], r["loss"]) for r in history if "loss" in r]


def test_every_registered_strategy_has_a_contract_spec() -> None:
    assert set(SPECS) == set(STRATEGIES), "add a short spec for the new strategy to SPECS"


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_contract(name: str, tmp_path: Path) -> None:
    spec = SPECS[name]
    n = 4
    # runs inside solve; losses finite and (over a few steps) decreasing
    full = _solve(spec, 2 * n)
    losses = [v for _, v in _losses(full.history)]
    assert len(losses) == 2 * n and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    # state_dict round trip through torch.save/load (what a checkpoint does)
    opt = cfg.build("optimizer", copy.deepcopy(spec))
    params = [torch.nn.Parameter(torch.randn(3, dtype=torch.float64))]
    if callable(getattr(opt, "plan", None)):  # stages that follow the run's length (auto)
        opt.plan(steps=2 * n)
    opt.setup(params)
    state = copy.deepcopy(opt.state_dict())
    opt.load_state_dict(state)
    # resume gives identical steps
    out = tmp_path / "run"
    if callable(getattr(opt, "plan", None)):
        # its stages follow the run's length: a run planned for 2n steps, stopped after n
        class Stop(Exception):
            pass

        def stop(state):
            if state.step == n:
                raise Stop
        with pytest.raises(Stop):
            _solve(spec, 2 * n, out=out, callbacks=[stop])
    else:
        _solve(spec, n, out=out)
    resumed = _solve(spec, 2 * n, out=out, resume=True)
    assert _losses(resumed.history) == _losses(full.history)
    assert resumed.dtype == full.dtype


@pytest.mark.parametrize("name", ["adam", "multiadam", "lbfgs", "bfgs"])
def test_non_finite_loss_rolls_back_and_continues(name: str) -> None:
    class Poison(FixedWeights):
        hits = 0

        def __call__(self, step, residuals, batches, params):
            out = super().__call__(step, residuals, batches, params)
            if step == 3 and Poison.hits == 0:
                Poison.hits += 1
                out = {k: v * float("nan") for k, v in out.items()}
            return out

    res = _solve(SPECS[name], 6, weighting=Poison())
    events = [r for r in res.history if "event" in r and "non-finite" in r["event"]]
    assert len(events) == 1 and events[0]["step"] == 3
    assert all(math.isfinite(v) for _, v in _losses(res.history))
    assert [s for s, _ in _losses(res.history)] == list(range(1, 7))


def test_chain_switches_to_float64_for_bfgs_stage() -> None:
    spec = {"name": "chain", "stages": [{"name": "adam", "lr": 1e-2, "steps": 3},
                                        {"name": "bfgs", "update": "bfgs", "steps": 3}]}
    res = _solve(spec, 6)
    events = [r for r in res.history if r.get("event", "").startswith("switched")]
    assert events == [{"step": 3, "event": "switched to float64"}]
    assert res.dtype == torch.float64
    assert all(p.dtype == torch.float64 for p in res.model.parameters())
    assert res.config["optimizer"]["steps"] == [3, 3]
    chain = cfg.build("optimizer", spec)
    assert chain.stage_boundaries == [3] and chain.total_steps == 6
    assert chain.dtype_for(0) is None and chain.dtype_for(3) == "float64"


def test_chain_from_cli_style_settings() -> None:
    settings = cfg.apply_overrides({"optimizer": "adam+lbfgs+bfgs"},
                                   ["optimizer.bfgs_steps=7", "optimizer.update=ssbfgs"])
    chain = cfg.build("optimizer", settings["optimizer"])
    assert chain.steps == [10000, 1000, 7] and chain.stages[2].update == "ssbfgs"
    assert chain.stage_boundaries == [10000, 11000]
    with pytest.raises(ConfigError):
        cfg.build("optimizer", {"name": "chain", "stages": [{"name": "adam"}], "steps": [1, 2]}).setup([])


def test_chain_length_mismatch_warns() -> None:
    spec = {"name": "adam+lbfgs", "adam_steps": 3, "lbfgs_steps": 3, "lr": 1e-2}
    with pytest.warns(UserWarning, match=r"steps=2\) is shorter .*adam 3 \+ lbfgs 3 = 6 steps\): "
                                         r"stage\(s\) lbfgs never run"):
        _solve(spec, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _solve(spec, 5)  # the last stage cut short: an ordinary budget, no warning
    with pytest.warns(UserWarning, match=r"steps=8\) is longer .*last stage \(lbfgs\) runs 2 more"):
        res = _solve(spec, 8)
    assert [r["step"] for r in res.history if "loss" in r][-1] <= 8


def test_bfgs_refuses_above_memory_limit_at_setup() -> None:
    with pytest.raises(ConfigError, match="max_memory_bytes"):
        _solve({"name": "bfgs", "max_memory_bytes": 10_000}, 2)


def test_lbfgs_reuses_the_accepted_evaluation() -> None:
    counts = {}
    hist = {}
    for reuse in (True, False):
        opt = cfg.build("optimizer", {"name": "lbfgs", "reuse_eval": reuse})
        res = _solve(opt, 8)
        counts[reuse], hist[reuse] = opt.evaluations, _losses(res.history)
    assert hist[True] == hist[False]
    assert counts[False] - counts[True] == 7  # one evaluation saved per step after the first


def test_multiadam_group_order_and_custom_partition() -> None:
    a, b, c = (torch.tensor(v, requires_grad=True) for v in (1.0, 2.0, 3.0))
    ev = LossEval(a + b + c, {"bc": b, "pde0": a, "obs": c},
                  {"data": c, "constraint": b, "pde": a}, {})
    names, losses = MultiAdam().partition(ev)
    assert names == ["pde", "constraint", "data"] and [float(v.detach()) for v in losses] == [1.0, 2.0, 3.0]
    names, losses = MultiAdam(groups={"obs": "pde", "bc": "boundary", "pde0": "pde"}).partition(ev)
    assert names == ["pde", "boundary"] and [float(v.detach()) for v in losses] == [4.0, 2.0]
    names, _ = MultiAdam(groups={"bc": "boundary"}).partition(
        ev, {"bc": "constraint", "pde0": "pde", "obs": "data"})
    assert names == ["pde", "data", "boundary"]
    with pytest.raises(ConfigError):
        MultiAdam(groups={"nope": "x"}).partition(ev)


# --------------------------------------------------------------------------- weightings
def _fake_problem():
    term = lambda g: SimpleNamespace(group=g, weight=1.0, block=g)  # noqa: E731
    return SimpleNamespace(terms={"pde0": term("pde"), "bc": term("constraint")})


def _residuals(theta, scale_bc=1e-3):
    xs = torch.linspace(-1, 1, 40, dtype=torch.float64)
    return {"pde0": theta[0] * xs + theta[1] * xs ** 2 - 1.0,
            "bc": scale_bc * (theta[0] + theta[1] * xs - 0.5)}


@pytest.mark.parametrize("name", ["lra", "gradnorm", "ntk"])
def test_weighting_is_registered_finite_positive_and_round_trips(name: str) -> None:
    assert name in all_weightings()
    w = cfg.build("weighting", {"name": name, "update_every": 2, "warmup": 1})
    w.setup(_fake_problem())
    theta = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    w.bind([theta])
    w0 = dict(w.current)
    w(0, _residuals(theta), {}, None)
    assert w.current == w0  # warm-up: no update yet
    for step in range(1, 6):
        out = w(step, _residuals(theta), {}, None)
        sum(out.values()).backward()
        with torch.no_grad():
            theta -= 0.01 * theta.grad
        theta.grad = None
    assert w.updates == 3  # steps 1, 3, 5
    assert all(math.isfinite(v) and v > 0 for v in w.current.values())
    assert set(w.log()) == {"w_pde0", "w_bc"}
    w2 = cfg.build("weighting", {"name": name, "update_every": 2, "warmup": 1})
    w2.setup(_fake_problem())
    w2.load_state_dict(copy.deepcopy(w.state_dict()))
    assert w2.current == w.current and w2.last_update == w.last_update


def test_weighting_updates_once_per_step() -> None:
    w = cfg.build("weighting", {"name": "lra", "update_every": 1, "alpha": 0.5})
    w.setup(_fake_problem())
    theta = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    w.bind([theta])
    w(0, _residuals(theta), {}, None)
    after = dict(w.current)
    w(0, _residuals(theta), {}, None)  # a line search evaluating step 0 again
    assert w.current == after and w.updates == 1


def test_lra_raises_the_weight_of_a_term_with_small_gradients() -> None:
    final = {}
    for scale in (1e-3, 1.0):
        w = cfg.build("weighting", {"name": "lra", "update_every": 1, "alpha": 0.5})
        w.setup(_fake_problem())
        theta = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
        w.bind([theta])
        for step in range(4):
            w(step, _residuals(theta, scale), {}, None)
        final[scale] = w.current["bc"]
    assert final[1e-3] > 100 * final[1.0] and final[1e-3] > 1.0
    assert w.current["pde0"] == 1.0  # PDE terms keep their declared weight


def test_weighting_without_bind_finds_network_parameters() -> None:
    res = _solve({"name": "adam", "lr": 1e-2}, 4, weighting={"name": "gradnorm", "update_every": 2})
    ws = [r["w_pde0"] for r in res.history if "w_pde0" in r]
    assert len(ws) == 4 and ws[0] != 1.0 and all(math.isfinite(v) and v > 0 for v in ws)


def test_lra_resume_is_identical(tmp_path: Path) -> None:
    wgt = {"name": "lra", "update_every": 2}
    spec = {"name": "adam", "lr": 1e-2}
    full = _solve(spec, 6, weighting=wgt)
    _solve(spec, 3, weighting=wgt, out=tmp_path / "r")
    resumed = _solve(spec, 6, weighting=wgt, out=tmp_path / "r", resume=True)
    assert _losses(resumed.history) == _losses(full.history)


def test_lbfgs_iters_per_step() -> None:
    one = cfg.build("optimizer", {"name": "lbfgs"})
    three = cfg.build("optimizer", {"name": "lbfgs", "iters_per_step": 3})
    r1, r3 = _solve(one, 6), _solve(three, 2)
    assert one.opt.n_iter == 6 and three.opt.n_iter == 6
    # the same six iterations, grouped differently (a row shows the loss at the start of its step)
    rows1 = {r["step"]: r["loss"] for r in r1.history if "loss" in r}
    rows3 = {r["step"]: r["loss"] for r in r3.history if "loss" in r}
    assert rows3[2] == pytest.approx(rows1[4], rel=1e-4)
    for p1, p3 in zip(r1.model.parameters(), r3.model.parameters()):
        torch.testing.assert_close(p1, p3, rtol=1e-3, atol=1e-4)
    with pytest.raises(ConfigError):
        _solve({"name": "lbfgs", "iters_per_step": 0}, 1)


@pytest.mark.parametrize("spec,culprit", [
    ({"name": "adam", "weight_decay": -1.0}, "weight_decay"),
    ({"name": "multiadam", "weight_decay": -1.0}, "weight_decay"),
    ({"name": "adam", "schedule": "step", "decay_rate": -1.0, "decay_steps": 1}, "decay_rate"),
    ({"name": "adam", "schedule": "exponential", "decay_rate": 0.0}, "decay_rate"),
    ({"name": "adam", "schedule": "cosine", "min_lr": 1.0}, "min_lr"),
    ({"name": "adam", "schedule": "cosine", "min_lr": -1e-3}, "min_lr"),
    ({"name": "adam", "warmup": -3}, "warmup"),
    ({"name": "lbfgs", "max_eval": 0}, "max_eval"),
    ({"name": "lbfgs", "history_size": 0}, "history_size"),
    ({"name": "lbfgs", "tolerance_grad": -1.0}, "tolerance_grad"),
    ({"name": "lbfgs", "dtype": "float16"}, "dtype"),
])
def test_bad_optimizer_settings_are_refused_by_name(spec, culprit) -> None:
    """Settings that would make the learning rate negative or grow, or that only fail deep in torch or
    in the underlying optimizer, are refused at setup naming the strategy's own setting."""
    opt = cfg.build("optimizer", spec)
    with pytest.raises(ConfigError, match=f"optimizer {spec['name']}: {culprit}"):
        opt.setup([torch.nn.Parameter(torch.zeros(3))])


def test_chain_stages_from_the_command_line() -> None:
    """--set gives strings: stage names separated by commas are stages; anything else is refused
    with a message, not iterated character by character ("unknown optimizer '['")."""
    settings = cfg.apply_overrides({}, ["optimizer=chain", "optimizer.stages=[adam, bfgs]", "optimizer.steps=4,2"])
    chain = cfg.build("optimizer", settings["optimizer"])
    assert [s.name for s in chain.stages] == ["adam", "bfgs"] and chain.steps == [4, 2]
    bad = cfg.apply_overrides({}, ["optimizer=chain", 'optimizer.stages=[{"name": "adam", "steps": 3}]'])
    with pytest.raises(ConfigError, match="stage names separated by commas"):
        cfg.build("optimizer", bad["optimizer"])
    with pytest.raises(ConfigError, match="stages must be a list"):
        cfg.build("optimizer", {"name": "chain", "stages": {"name": "adam"}, "steps": [3]})


def _stages(res) -> list:
    opt = res.config["optimizer"]
    return [(st["name"], n) for st, n in zip(opt["stages"], opt["steps"])]


def test_auto_is_the_default_and_splits_the_run() -> None:
    """solve's default optimizer: Adam, then L-BFGS for the last half of the steps (lbfgs_fraction)."""
    res = solve(PROBLEM, model=MLP(width=6, depth=2), sampler=SAMPLER, steps=8, device="cpu",
                progress=False, report=False)
    assert res.config["optimizer"]["name"] == "auto" and _stages(res) == [("adam", 4), ("lbfgs", 4)]
    quarter = _solve({"name": "auto", "lbfgs_fraction": 0.25}, 8)
    assert _stages(quarter) == [("adam", 6), ("lbfgs", 2)]
    assert "optimizer_note" not in quarter.metrics
    # the same steps as the explicit chain
    chain = _solve({"name": "chain", "stages": [{"name": "adam", "steps": 6}, {"name": "lbfgs", "steps": 2}]}, 8)
    assert _losses(quarter.history) == _losses(chain.history)
    with pytest.raises(ConfigError, match="^optimizer 'auto': lbfgs_fraction must lie in"):
        _solve({"name": "auto", "lbfgs_fraction": 1.5}, 8)
    with pytest.raises(ConfigError, match="set up by solve"):
        cfg.build("optimizer", "auto").setup([torch.nn.Parameter(torch.zeros(2))])


@pytest.mark.parametrize("setting,why", [
    (dict(sampler={**SAMPLER, "resample_every": 2}), "the uniform sampler moves the points"),
    (dict(sampler={**SAMPLER, "name": "r3"}), "the r3 sampler moves the points"),
    (dict(weighting="causal"), "the causal weighting changes the loss"),
])
def test_auto_runs_adam_alone_when_the_loss_moves(setting, why) -> None:
    """L-BFGS needs the same loss from step to step: with moving points or weights auto is Adam."""
    res = _solve("auto", 6, **setting)
    assert _stages(res) == [("adam", 6)]
    assert why in res.metrics["optimizer_note"] and "L-BFGS needs a fixed loss" in res.metrics["optimizer_note"]
    from pinnlab.report.run import summary_rows
    assert ("optimizer", res.metrics["optimizer_note"]) in summary_rows(res)  # the report says it too


def test_auto_uses_lbfgs_when_points_and_weights_stay() -> None:
    """Resampling only after the run's last step, or a FixedWeights subclass that keeps the fixed
    rule (here: other default weights), leave the loss fixed: L-BFGS runs."""
    class Heavier(FixedWeights):
        def __init__(self):
            super().__init__(weights={"pde": 2.0})
    for setting in (dict(sampler={**SAMPLER, "resample_every": 6}), dict(weighting=Heavier())):
        res = _solve("auto", 6, **setting)
        assert _stages(res) == [("adam", 3), ("lbfgs", 3)] and "optimizer_note" not in res.metrics


def test_auto_resumed_with_more_steps_keeps_its_split(tmp_path: Path) -> None:
    """A resumed run keeps the split it started with: more steps run the L-BFGS stage on."""
    _solve("auto", 6, out=tmp_path / "r")
    longer = _solve("auto", 10, out=tmp_path / "r", resume=True)
    assert _stages(longer) == [("adam", 3), ("lbfgs", 3)]
    assert json.loads((tmp_path / "r" / "config.json").read_text())["optimizer"]["steps"] == [3, 3]
    assert [s for s, _ in _losses(longer.history)] == list(range(1, 11))


def test_lbfgs_stopped_on_the_same_loss_stops_evaluating(tmp_path: Path) -> None:
    """After L-BFGS stops (here: its parameter-change tolerance), a step on the same points would
    stop the same way; it costs no evaluation and leaves the parameters, also after a resume."""
    spec = {"name": "lbfgs", "tolerance_change": 1.0}
    once = cfg.build("optimizer", spec)
    r1 = _solve(once, 1)
    assert "change in parameters below tolerance" in once.stop_reason
    many = cfg.build("optimizer", spec)
    r8 = _solve(many, 8)
    assert many.evaluations == once.evaluations and many.stop_reason == once.stop_reason
    for a, b in zip(r1.model.parameters(), r8.model.parameters()):
        assert torch.equal(a, b)
    rows = _losses(r8.history)
    assert len({v for _, v in rows[1:]}) == 1  # steps 2..8 all start from the stopped point
    # without the stop rule each step would move on: one more step of a fresh optimizer does
    moved = _solve(spec, 2, out=tmp_path / "fresh")
    assert _losses(moved.history)[1][1] == rows[1][1]
    # resumed mid-way, the run stays stopped exactly as the uninterrupted one
    _solve(spec, 4, out=tmp_path / "r")
    resumed = _solve(spec, 8, out=tmp_path / "r", resume=True)
    assert _losses(resumed.history) == rows
    for a, b in zip(resumed.model.parameters(), r8.model.parameters()):
        assert torch.equal(a, b)
    # other points: the optimizer starts again
    other = _solve(spec, 8, sampler={**SAMPLER, "resample_every": 3})
    assert len({v for _, v in _losses(other.history)[1:]}) > 1


def test_default_optimizer_solves_poisson_where_adam_alone_has_not_started() -> None:
    """The solver against the exact solution: -u'' = pi^2 sin(pi x), u(0) = u(1) = 0, 300 steps of a
    small MLP. Adam alone (lr 1e-3) is still far off; auto's L-BFGS half converges."""
    xx = sp.Symbol("x")
    v = sp.Function("u")(xx)
    problem = Problem([sp.Eq(-v.diff(xx, 2), sp.pi ** 2 * sp.sin(sp.pi * xx))], [Dirichlet(v, 0)],
                      domain=Interval(0, 1), reference=sp.sin(sp.pi * xx), name="poisson1d")
    kw = dict(steps=300, model=MLP(width=16, depth=2), sampler={"n_interior": 64}, device="cpu",
              progress=False, report=False)
    auto, adam = solve(problem, **kw), solve(problem, optimizer="adam", **kw)
    assert auto.metrics["l2re"] < 2e-3 and adam.metrics["l2re"] > 0.1


def test_lbfgs_goes_on_after_rolling_back_from_a_non_finite_trial_point() -> None:
    """A roll-back from a non-finite line-search trial is not a stop to repeat: the next step
    starts along steepest descent (it had frozen L-BFGS for the rest of the run)."""
    from optimizers.strategies import _repeats
    x0, x1 = torch.zeros(3), torch.ones(3)
    assert not _repeats("non-finite loss; rolled back to best state", x0, x0)
    assert not _repeats("evaluation budget max_eval=25 used up", x0, x1)
    assert _repeats("line search failed (bracket collapsed) even along steepest descent; rolled back to "
                    "best state", x0, x0)
    assert not _repeats("line search failed (bracket collapsed) even along steepest descent; rolled back "
                        "to best state", x0, x1)  # it had moved within the step: start again from there
    assert _repeats("gradient tolerance reached", x0, x1)
    assert _repeats("change in parameters below tolerance", x0, x1)


def test_auto_and_adam_lbfgs_refuse_stage_settings_they_would_ignore() -> None:
    for spec in ({"name": "auto", "stages": ["adam"], "steps": [5]}, {"name": "auto", "steps": [10, 10]},
                 {"name": "adam+lbfgs", "stages": ["adam", "bfgs"]}):
        with pytest.raises(ConfigError, match=f"^optimizer {re.escape(repr(spec['name']))}: its stages are fixed"):
            cfg.build("optimizer", spec)
    odd = _solve("auto", 5)
    assert _stages(odd) == [("adam", 2), ("lbfgs", 3)]  # half up
    # auto's own settings are named as auto's, not as its L-BFGS stage's
    with pytest.raises(ConfigError, match="^optimizer 'auto': history_size .* must be >= 1, got 0"):
        cfg.build("optimizer", {"name": "auto", "history_size": 0})
    with pytest.raises(ConfigError, match="lbfgs_fraction: expected a number, got True"):
        cfg.build("optimizer", {"name": "auto", "lbfgs_fraction": True})


def test_auto_resumed_with_fewer_steps_than_its_adam_half_warns(tmp_path: Path) -> None:
    class Stop(Exception):
        pass

    def stop(state):
        if state.step == 3:
            raise Stop
    with pytest.raises(Stop):
        _solve("auto", 20, out=tmp_path / "r", callbacks=[stop])
    with pytest.warns(UserWarning, match=r"steps=6\) is shorter than the optimizer chain 'auto' \(adam 10 "
                                         r"\+ lbfgs 10 = 20 steps\): stage\(s\) lbfgs never run"):
        _solve("auto", 6, out=tmp_path / "r", resume=True)


def test_auto_resumes_an_adam_only_plan_as_adam_only(tmp_path: Path) -> None:
    """A run planned Adam-only (here by hand, as torchrun does) resumes in one process as Adam-only
    (the checkpoint's one stage had been refused as 'chain has 2 stages, state has 1')."""
    opt = cfg.build("optimizer", "auto")
    opt.plan(steps=6, distributed=True)
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt.setup(params)
    state = copy.deepcopy(opt.state_dict())
    fresh = cfg.build("optimizer", "auto")
    fresh.plan(steps=6)
    fresh.setup([torch.nn.Parameter(torch.zeros(3))])
    fresh.load_state_dict(state)
    assert [s.name for s in fresh.stages] == ["adam"] and fresh.steps == [6]
    assert "as in the run this resumes" in fresh.plan_note


def test_a_model_with_nothing_to_train_is_refused_clearly() -> None:
    class Frozen(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)
            self.lin.requires_grad_(False)

        def forward(self, z):
            return self.lin(z)
    with pytest.raises(ConfigError, match="nothing to train: the model Frozen has no trainable parameter"):
        solve(PROBLEM, model=Frozen(), steps=2, device="cpu", progress=False, report=False)
