"""Samplers (uniform, R3, causal R3, RAD, RAR-G, RAR-D) and the causal weighting."""

import io
import math

import numpy as np
import pytest
import sympy as sp
import torch

from pinnlab import (ConfigError, Dirichlet, Disk, Initial, Interval, MLP, Periodic, Problem, Rectangle,
                     TimeInterval, solve)
from pinnlab import config as cfg
from pinnlab.compiler import Batch
from pinnlab.samplers import SAMPLERS, WEIGHTINGS, CausalR3Sampler, CausalWeights

x, y, t = sp.symbols("x y t")
u = sp.Function("u")(x, t)
v = sp.Function("v")(x, y)

SMALL = dict(n_interior=300, n_boundary=40, n_initial=40, n_periodic=30)
EXTRA = {"rad": dict(every=2, n_candidates=400), "rar_g": dict(every=2, n_candidates=400, n_add=10),
         "rar_d": dict(every=2, n_candidates=400, n_add=10), "resample": dict(resample_every=2)}
CAUSAL = {"causal_r3"}


@pytest.fixture(autouse=True)
def one_thread():
    """Small problems run faster single-threaded on a shared machine; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def convection(speed=5.0):
    dom = Interval(0, 2 * np.pi) * TimeInterval(0, 1)
    return Problem(equations=[sp.Eq(u.diff(t) + speed * u.diff(x), 0)],
                   conditions=[Initial(u, sp.sin(x), weight=100.0), Periodic(u, x, weight=100.0)],
                   domain=dom, reference=lambda p: np.sin(p[:, 0] - speed * p[:, 1]), name="conv")


def poisson_csg():
    dom = Rectangle((0, 0), (1, 1)) - Disk((0.5, 0.5), 0.2)
    return Problem(equations=[sp.Eq(v.diff(x, 2) + v.diff(y, 2), 1)],
                   conditions=[Dirichlet(v, 0, on=dom.boundary)], domain=dom, name="poisson_csg")


def fake_residuals(cp, batches, field=lambda p: torch.sin(3 * p[:, 0]) + p[:, -1] ** 2):
    """Deterministic residual vectors of the right length for every term."""
    out = {}
    for bname, block in cp.blocks.items():
        pts = batches[bname].points
        if block.kind == "periodic":
            pts = pts[: pts.shape[0] // 2]
        for term in block.terms:
            out[term] = field(pts)
    return out


def make(name, problem, seed=0, **kw):
    smp = cfg.build("sampler", {"name": name, **SMALL, **EXTRA.get(name, {}), **kw})
    smp.setup(problem.compile() if isinstance(problem, Problem) else problem, np.random.default_rng(seed))
    return smp


def run(smp, start, stop, field=None):
    seen = []
    for step in range(start, stop):
        b = smp.batches(step)
        seen.append({k: (v.points.clone(), None if v.weights is None else v.weights.clone())
                     for k, v in b.items()})
        res = fake_residuals(smp.problem, b) if field is None else fake_residuals(smp.problem, b, field)
        smp.observe(step, res)
    return seen


def same(a, b):
    assert len(a) == len(b)
    for sa, sb in zip(a, b):
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k][0], sb[k][0])
            assert (sa[k][1] is None) == (sb[k][1] is None)
            if sa[k][1] is not None:
                assert torch.equal(sa[k][1], sb[k][1])


def problems_for(name):
    return [convection()] if name in CAUSAL else [convection(), poisson_csg()]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_contract(name, tmp_path):
    for problem in problems_for(name):
        smp = make(name, problem)
        initial = {k: b.points.shape[0] for k, b in smp.current.items()}
        steps = 7
        run(smp, 0, steps)
        grows = name in ("rar_g", "rar_d")
        for k, b in smp.current.items():
            extra = 10 * len(range(2, steps, 2)) if grows and k == "interior" else 0
            assert b.points.shape[0] == initial[k] + extra, (name, k)
        # points inside the domain, on every block, at every step
        for step, batch in enumerate(run(smp, steps, steps + 4)):
            for k, (pts, w) in batch.items():
                assert np.all(problem.domain.contains(pts.numpy(), tol=1e-6)), (name, k, step)
                if w is not None:
                    assert w.shape[0] == pts.shape[0] and torch.all(w >= 0)
        # checkpoint round trip (weights_only) continues identically
        buf = io.BytesIO()
        torch.save(smp.state_dict(), buf)
        buf.seek(0)
        state = torch.load(buf, weights_only=True)
        other = make(name, problem, seed=99)
        other.load_state_dict(state)
        same(run(smp, 11, 17), run(other, 11, 17))
        # determinism under a seed
        same(run(make(name, problem, seed=3), 0, 6), run(make(name, problem, seed=3), 0, 6))
        if getattr(smp, "adaptive", False):
            assert "interior" in smp.describe() and isinstance(smp.describe()["interior"], torch.Tensor)


def test_registry_and_weighting_names():
    assert {"uniform", "fixed", "resample", "r3", "causal_r3", "rad", "rar_g", "rar_d"} <= set(SAMPLERS)
    assert WEIGHTINGS["causal"] is CausalWeights
    assert "causal" in cfg.registry("weighting")
    out = cfg.apply_overrides({}, ["sampler=causal_r3", "sampler.alpha=10", "weighting=causal",
                                   "weighting.n_chunks=16"])
    assert cfg.build("sampler", out["sampler"]).alpha == 10.0
    assert cfg.build("weighting", out["weighting"]).n_chunks == 16
    with pytest.raises(ConfigError):
        cfg.apply_overrides({}, ["sampler=r3", "sampler.alpha=10"])  # not an R3 setting


def test_causal_weighting_step_cap():
    cp = convection().compile()
    wgt = CausalWeights(n_chunks=4, max_steps_per_eps=3)
    wgt.setup(cp)
    pts = torch.as_tensor(cp.blocks["interior"].region.sample(100, np.random.default_rng(0)).points)
    batches = {"interior": Batch(pts)}
    for step in range(7):  # large residual: the weights never open, the cap moves eps on
        wgt(step, {"pde0": 100 * torch.ones(100)}, batches, [])
    assert wgt.log()["causal_eps"] == pytest.approx(1.0)


def test_r3_concentrates_where_residual_is_large():
    """A residual bump at x = pi: the retained population gathers there."""
    smp = make("r3", convection(), n_interior=2000)
    bump = lambda p: torch.exp(-((p[:, 0] - math.pi) ** 2) / 0.05)
    run(smp, 0, 40, field=bump)
    pts = smp.current["interior"].points
    near = ((pts[:, 0] - math.pi).abs() < 0.3).double().mean().item()
    assert near > 0.5, near  # uniform: 0.6 / 2 pi ~ 0.1
    assert 0.0 < smp.log()["r3_retained"] < 1.0


def test_r3_retains_above_mean_only():
    smp = make("r3", convection())
    before = smp.current["interior"].points.clone()
    f = torch.rand(before.shape[0], generator=torch.Generator().manual_seed(0))
    smp.observe(0, {"pde0": f})
    after = smp.current["interior"].points
    keep = f > f.mean()
    assert torch.equal(after[keep], before[keep])
    assert not torch.any(torch.all(after[~keep] == before[~keep], dim=1))


def test_causal_r3_gate_and_advance():
    smp = make("causal_r3", convection())
    assert smp.beta == -0.5
    b = smp.batches(0)["interior"]
    g = b.weights
    assert torch.all((g >= 0) & (g <= 1))
    order = torch.argsort(b.points[:, 1])
    assert torch.all(torch.diff(g[order]) <= 1e-7)  # non-increasing in time
    # the gate advances, and faster as the residual falls
    betas = [smp.beta]
    for step, scale in enumerate([10.0, 1.0, 0.1, 0.01, 0.0]):
        smp.batches(step)
        n = smp.current["interior"].points.shape[0]
        smp.observe(step, {"pde0": torch.full((n,), scale), "initial0": torch.zeros(40),
                           "periodic_x": torch.zeros(30)})
        betas.append(smp.beta)
    steps = np.diff(betas)
    assert np.all(steps >= 0) and np.all(np.diff(steps) >= 0) and steps[-1] > 0
    assert steps[-1] == pytest.approx(1e-3 * 0.1)  # eta_g * clip at zero residual
    assert smp.log()["causal_beta"] == pytest.approx(betas[-1])


def test_causal_weighting_weights_and_annealing():
    cp = convection().compile()
    wgt = CausalWeights(n_chunks=8)
    wgt.setup(cp)
    rng = np.random.default_rng(0)
    pts = torch.as_tensor(cp.blocks["interior"].region.sample(800, rng).points)
    batches = {"interior": Batch(pts), "initial": Batch(pts[:10]), "periodic_x": Batch(pts[:20])}
    r = (1 + pts[:, 1]).requires_grad_()
    out = wgt(0, {"pde0": r, "initial0": torch.ones(10), "periodic_x": torch.zeros(10)}, batches, [])
    w = torch.tensor(wgt.log()["causal_weights"], dtype=torch.float64)
    assert torch.all((w >= 0) & (w <= 1)) and torch.all(torch.diff(w) <= 0) and w[0] == 1
    # the PDE loss is mean_i(w_i L_i) with L_i the slice mean squared residual
    idx = (pts[:, 1] * 8).floor().long().clamp(0, 7)
    L = torch.stack([(r[idx == i] ** 2).mean() for i in range(8)])
    assert float(out["pde0"].detach()) == pytest.approx(float((w * L.detach()).mean()), rel=1e-10)
    assert float(out["initial0"]) == pytest.approx(100.0)
    out["pde0"].backward()  # weights are detached: gradient is exactly d mean(w L)
    assert r.grad is not None
    # a further evaluation within the same step (an L-BFGS line search) keeps the step's weights
    wgt(0, {"pde0": 10 * torch.ones(800), "initial0": torch.ones(10), "periodic_x": torch.zeros(10)},
        batches, [])
    assert torch.allclose(torch.tensor(wgt.log()["causal_weights"], dtype=torch.float64), w, rtol=1e-6)
    # as the residual falls the weights open and eps is annealed
    eps = [wgt.log()["causal_eps"]]
    for step, scale in enumerate([1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6], start=1):
        wgt(step, {"pde0": scale * torch.ones(800), "initial0": torch.ones(10),
                   "periodic_x": torch.zeros(10)}, batches, [])
        eps.append(wgt.log()["causal_eps"])
    assert eps == sorted(eps) and eps[-1] > eps[0]
    assert wgt.log()["causal_min_weight"] > 0.99
    # state round trip
    other = CausalWeights(n_chunks=8)
    other.setup(cp)
    other.load_state_dict(wgt.state_dict())
    assert other.log() == wgt.log()


def test_causal_variants_need_time():
    cp = poisson_csg().compile()
    with pytest.raises(ConfigError, match="time"):
        CausalR3Sampler().setup(cp, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="time"):
        CausalWeights().setup(cp)
    with pytest.raises(ConfigError, match="time"):
        solve(poisson_csg(), sampler="causal_r3", steps=1, progress=False, report=False, device="cpu")


def test_refinement_probe_keeps_the_loss():
    """Candidates ride along with zero weight; the weighted loss equals the population's."""
    from pinnlab.weighting import mean_square
    smp = make("rad", convection())
    b = smp.batches(2)["interior"]
    n = smp.current["interior"].points.shape[0]
    assert b.points.shape[0] == n + 400
    r = torch.randn(b.points.shape[0], dtype=torch.float64)
    assert float(mean_square(r, b.weights)) == pytest.approx(float((r[:n] ** 2).mean()), rel=1e-6)


@pytest.mark.parametrize("sampler,weighting",
                         [("r3", "fixed"), ("causal_r3", "fixed"), ("resample", "causal")])
def test_solve_end_to_end(sampler, weighting, tmp_path):
    spec = {"name": sampler, "n_interior": 200, "n_initial": 50, "n_periodic": 50}
    res = solve(convection(), model=MLP(width=16, depth=2), sampler=spec, weighting=weighting, steps=20,
                progress=False, report=False, device="cpu", out=tmp_path / "run", log_every=10)
    assert np.isfinite(res.metrics["final_loss"]) and "l2re" in res.metrics
    row = res.history[-1]
    if sampler == "causal_r3":
        assert row["causal_beta"] > -0.5
    if weighting == "causal":
        assert "causal_eps" in row and 0 <= row["causal_min_weight"] <= 1
    if sampler != "resample":
        assert list((tmp_path / "run" / "population").glob("*.npz"))


def test_resume_continues_identically(tmp_path):
    spec = {"name": "causal_r3", "n_interior": 100, "n_initial": 20, "n_periodic": 20}
    kw = dict(model=MLP(width=8, depth=2), sampler=spec, progress=False, report=False, device="cpu",
              dtype="float64", log_every=1)
    full = solve(convection(), steps=12, out=tmp_path / "a", **kw)
    solve(convection(), steps=6, out=tmp_path / "b", **kw)
    resumed = solve(convection(), steps=12, out=tmp_path / "b", resume=True, **kw)
    for pa, pb in zip(full.model.parameters(), resumed.model.parameters()):
        assert torch.equal(pa, pb)
    assert full.history[-1]["causal_beta"] == resumed.history[-1]["causal_beta"]


@pytest.mark.parametrize("count", [0, -5, "many", 2.5])
def test_counts_must_be_positive_integers(count):
    """A bad per-block count is refused naming the block, not by torch or the geometry."""
    smp = cfg.build("sampler", {"name": "uniform", "counts": {"interior": count}})
    with pytest.raises(ConfigError, match=r"counts\['interior'\] must be a positive integer"):
        smp.setup(poisson_csg().compile(), np.random.default_rng(0))


@pytest.mark.parametrize("setting", [{"tol": 1.0}, {"tol": 2}, {"tol": -0.1}, {"max_steps_per_eps": -1}])
def test_causal_weighting_refuses_settings_that_never_anneal(setting):
    """min_i w_i <= w_0 = 1, so tol >= 1 would keep the first eps for ever; a negative cap is a typo."""
    wgt = cfg.build("weighting", {"name": "causal", **setting})
    with pytest.raises(ConfigError, match=f"weighting causal: {next(iter(setting))}"):
        wgt.setup(convection().compile())
