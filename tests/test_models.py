"""Models of issue 6: Fourier features, periodic embedding, modified MLP, PIG, exact constraints."""

import itertools

import numpy as np
import pytest
import sympy as sp
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from pinnlab import Dirichlet, Disk, Initial, Interval, Periodic, Problem, Rectangle, TimeInterval, config, solve
from pinnlab.engines import AutogradEngine, JetEngine
from pinnlab.errors import ConfigError
from pinnlab.models import (MODELS, MLP, PIG, Fourier, FourierMultiscale, FourierST, Hard, ModelContext,
                            ModifiedMLP, PeriodicMLP)
from pinnlab.solve import _build_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny matmuls on a shared machine: OpenMP threads only add contention."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def multi_indices(dim: int, max_order: int):
    return [a for a in itertools.product(range(max_order + 1), repeat=dim) if 0 < sum(a) <= max_order]


def ctx_for(dim: int, out: int = 2, time: bool = True) -> ModelContext:
    names = ("x", "y", "z")[:dim - 1] + ("t",) if time else ("x", "y", "z")[:dim]
    return ModelContext(dim, out, np.full(dim, -1.0), np.full(dim, 1.0), names, ("u", "v")[:out],
                        dim - 1 if time else None)


SPECS = {
    "fourier": Fourier(features=4, sigma=1.5, width=5, depth=2),
    "fourier_trainable": Fourier(features=3, sigma=1.0, trainable=True, width=4, depth=1),
    "fourier_multiscale": FourierMultiscale(features=3, sigmas=(1.0, 3.0), width=4, depth=2),
    "fourier_st": FourierST(features=3, sigmas_x=(1.0, 2.0), sigmas_t=(1.0,), width=4, depth=2),
    "periodic_mlp": PeriodicMLP(periods={"x": 2.0}, harmonics=2, width=5, depth=2),
    "periodic_fourier": PeriodicMLP(periods={"x": 2.0}, harmonics=1, width=5, depth=2, fourier_features=3,
                                    fourier_sigma=1.5),
    "modified_mlp": ModifiedMLP(width=5, depth=2),
    "pig": PIG(gaussians=6, sigma=0.8),
    "pig_full": PIG(gaussians=6, sigma=0.8, full_covariance=True),
    "pig_nearest": PIG(gaussians=6, sigma=0.8, nearest=3),
}


def built(key: str, dim: int):
    torch.manual_seed(1)
    net = SPECS[key].build(ctx_for(dim)).double()
    feats = getattr(net, "features", None)
    if feats is not None:  # make the Gaussian part visible in the output (paper init: w ~ 0.01)
        with torch.no_grad():
            feats.w.normal_()
            if feats.full:
                feats.A.add_(0.3 * torch.randn_like(feats.A))
    return net


def assert_engines_agree(net, x, alphas, tol=1e-9):
    needs = {k: set(alphas) for k in range(net(x[:1]).shape[-1])}
    a = AutogradEngine()(net, x, needs)
    j = JetEngine()(net, x, needs)
    for key in a:
        want, got = a[key].detach(), j[key].detach()
        assert torch.allclose(got, want, rtol=tol, atol=tol * (1 + want.abs().max())), key


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("key", list(SPECS))
def test_jet_engine_matches_autograd_up_to_order_4(key, dim):
    net = built(key, dim)
    x = torch.rand(6, dim, dtype=torch.float64) * 2 - 1
    assert_engines_agree(net, x, multi_indices(dim, 4))


def test_every_new_model_is_registered():
    assert {"fourier", "fourier_multiscale", "fourier_st", "periodic_mlp", "modified_mlp", "pig",
            "hard"} <= set(MODELS)
    for name in MODELS:
        if name != "mlp":
            assert MODELS[name].name == name


def test_fourier_trainable_flag():
    net = Fourier(features=3, trainable=True).build(ctx_for(2))
    assert any(p is net.embed.B for p in net.parameters())
    net = Fourier(features=3, trainable=False).build(ctx_for(2))
    assert all(p is not net.embed.B for p in net.parameters())
    assert net.embed(torch.zeros(5, 2)).shape == (5, 6)


def test_fourier_st_needs_time():
    with pytest.raises(ConfigError, match="time"):
        FourierST().build(ctx_for(2, time=False))


# ------------------------------------------------------------------ periodic
@pytest.mark.parametrize("key", ["periodic_mlp", "periodic_fourier"])
def test_periodic_embedding_values_and_derivatives_match_across_faces(key):
    net = built(key, 2)  # periodic in x (axis 0), period 2 = domain extent
    y = torch.rand(8, dtype=torch.float64) * 2 - 1
    left = torch.stack([torch.full_like(y, -1.0), y], 1)
    right = torch.stack([torch.full_like(y, 1.0), y], 1)
    alphas = [(0, 0)] + multi_indices(2, 4)
    for engine in (AutogradEngine(), JetEngine()):
        a = engine(net, left, {0: set(alphas), 1: set(alphas)})
        b = engine(net, right, {0: set(alphas), 1: set(alphas)})
        for key in a:
            assert torch.allclose(a[key], b[key], rtol=1e-12, atol=1e-11), key


def test_periodic_detects_periods_and_exact_terms():
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    dom = Interval(0, 3) * TimeInterval(0, 1)
    pb = Problem([sp.Eq(u.diff(t) + u.diff(x), 0)], [Initial(u, sp.sin(2 * sp.pi * x / 3)), Periodic(u, x)],
                 domain=dom)
    net = _build_model({"name": "periodic_mlp", "width": 4, "depth": 1}, pb).double()
    assert net.exact_terms == {"periodic_x"}
    t_ = torch.rand(5, 1, dtype=torch.float64)
    with torch.no_grad():
        a, b = net(torch.cat([torch.zeros_like(t_), t_], 1)), net(torch.cat([torch.full_like(t_, 3.0), t_], 1))
    assert torch.allclose(a, b, atol=1e-13)
    with pytest.raises(ConfigError, match="periodic"):
        PeriodicMLP().build(ctx_for(2))
    with pytest.raises(ConfigError, match="fourier_features needs a non-periodic coordinate"):
        PeriodicMLP(periods={"x": 2.0, "y": 2.0}, fourier_features=4).build(ctx_for(2, time=False))
    # Fourier features of the non-periodic coordinates: 2 x 4 more inputs to the first layer
    net = PeriodicMLP(periods={"x": 2.0}, fourier_features=4, width=3, depth=1).build(ctx_for(2))
    assert net.body[0].weight.shape[1] == net.embed.out_dim + 8


# ----------------------------------------------------------------------- PIG
def test_pig_shapes_and_paper_initialisation():
    torch.manual_seed(0)
    net = PIG(gaussians=200, channels=4, sigma=0.2).build(ctx_for(2, out=1))
    f = net.features
    assert f.mu.shape == (200, 2) and f.w.shape == (200, 4)
    assert float(f.mu.detach().min()) >= -1 and float(f.mu.detach().max()) <= 1  # uniform over the box
    assert torch.allclose(f.log_sigma.exp(), torch.full((200, 2), 0.2))
    assert 0.005 < float(f.w.detach().std()) < 0.02
    assert net(torch.rand(17, 2)).shape == (17, 1)
    assert f(torch.rand(17, 2)).shape == (17, 4)


class _CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("nearest", [0, 4])
def test_pig_evaluation_is_vectorised(nearest):
    """The number of tensor operations does not grow with the number of points."""
    net = PIG(gaussians=32, nearest=nearest).build(ctx_for(2, out=1)).double()
    counts = []
    for n in (3, 300):
        x = torch.rand(n, 2, dtype=torch.float64)
        with _CountOps() as ops:
            net(x)
            JetEngine()(net, x, {0: {(2, 0), (0, 2), (1, 1)}})
        counts.append(ops.count)
    assert counts[0] == counts[1]


@pytest.mark.parametrize("full", [False, True])
def test_pig_nearest_with_all_gaussians_equals_full_evaluation(full):
    torch.manual_seed(3)
    full_net = PIG(gaussians=12, sigma=0.5, full_covariance=full).build(ctx_for(2, out=1)).double()
    near_net = PIG(gaussians=12, sigma=0.5, full_covariance=full, nearest=12).build(ctx_for(2, out=1)).double()
    near_net.load_state_dict(full_net.state_dict())
    x = torch.rand(20, 2, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(full_net(x), near_net(x), rtol=1e-12, atol=1e-14)
    al = {(1, 0), (0, 2), (2, 1), (2, 2)}
    a, b = JetEngine()(full_net, x, {0: al}), JetEngine()(near_net, x, {0: al})
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-10, atol=1e-12), key


def test_pig_nearest_k_approximates_full_for_narrow_gaussians():
    torch.manual_seed(0)
    full_net = PIG(gaussians=400, sigma=0.05).build(ctx_for(2, out=1)).double()
    near_net = PIG(gaussians=400, sigma=0.05, nearest=40).build(ctx_for(2, out=1)).double()
    near_net.load_state_dict(full_net.state_dict())
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        fa, fb = full_net.features(full_net.norm(x)), near_net.features(near_net.norm(x))
    assert torch.allclose(fa, fb, atol=1e-6 * float(fa.abs().max()) + 1e-12)


# ------------------------------------------------------------- exact constraints
def _problems():
    x, y, t = sp.symbols("x y t")
    out = {}
    u = sp.Function("u")(x, y)
    rect = Rectangle([-1, -1], [1, 1])
    out["dirichlet_rect"] = (Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2), 1)],
                                     [Dirichlet(u, sp.sin(x) + y ** 2, on=rect.boundary)], domain=rect),
                             lambda p: np.sin(p[:, 0]) + p[:, 1] ** 2, None)
    csg = Rectangle([-1, -1], [1, 1]) - Disk([0.2, 0.1], 0.4)
    out["dirichlet_csg"] = (Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2), 0)],
                                    [Dirichlet(u, x * y + 1)], domain=csg),
                            lambda p: p[:, 0] * p[:, 1] + 1, None)
    w = sp.Function("w")(x, t)
    st = Interval(-1, 1) * TimeInterval(0, 1)
    out["burgers_both"] = (Problem([sp.Eq(w.diff(t) + w * w.diff(x), 0.01 * w.diff(x, 2))],
                                   [Initial(w, 1 - sp.sin(sp.pi * x) + x ** 2 - 1),
                                    Dirichlet(w, 1 + t * (1 - x ** 2), on=st.boundary)], domain=st),
                           lambda p: 1 + p[:, 1] * (1 - p[:, 0] ** 2),
                           lambda p: 1 - np.sin(np.pi * p[:, 0]) + p[:, 0] ** 2 - 1)
    out["initial_only"] = (Problem([sp.Eq(w.diff(t) + w.diff(x), 0)], [Initial(w, sp.cos(sp.pi * x)), Periodic(w, x)],
                                   domain=st), None, lambda p: np.cos(np.pi * p[:, 0]))
    return out


PROBLEMS = _problems()


@pytest.mark.parametrize("case", list(PROBLEMS))
def test_hard_constraints_hold_to_machine_precision(case):
    pb, g, u0 = PROBLEMS[case]
    torch.manual_seed(0)
    net = _build_model(Hard(model=MLP(width=8, depth=2)), pb).double()
    rng = np.random.default_rng(0)
    checks = []
    if g is not None:
        checks.append((pb.domain.boundary.sample(200, rng).points, g))
    if u0 is not None:
        checks.append((pb.domain.initial.sample(200, rng).points, u0))
    for pts, fn in checks:
        with torch.no_grad():
            got = net(torch.as_tensor(pts))[:, 0].numpy()
        assert np.max(np.abs(got - fn(pts))) < 1e-12
    # the transform is not trivial inside and its jet agrees with autograd
    x = torch.as_tensor(pb.domain.sample_interior(6, rng))
    assert_engines_agree(net, x, multi_indices(2, 4), tol=1e-8)


@pytest.mark.parametrize("with_dirichlet", [True, False])
def test_hard_constraints_impose_initial_velocity_for_second_order_in_time(with_dirichlet):
    """Wave-type problem: u(x, 0), u_t(x, 0) and (optionally) u on the boundary hold exactly."""
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    st = Interval(0, 1) * TimeInterval(0.5, 1.5)
    g = sp.sin(sp.pi * x) * (1 + (t - 0.5) * 0.3) + x * t
    conds = [Initial(u, g.subs(t, 0.5)), Initial(u.diff(t), 2 * sp.diff(g, t).subs(t, 0.5) / 2, name="vel")]
    if with_dirichlet:
        conds.append(Dirichlet(u, g))
    pb = Problem([sp.Eq(u.diff(t, 2), 4 * u.diff(x, 2))], conds, domain=st)
    torch.manual_seed(0)
    net = _build_model(Hard(model=MLP(width=8, depth=2)), pb).double()
    assert "vel" in net.exact_terms and "initial0" in net.exact_terms
    rng = np.random.default_rng(1)
    f = sp.lambdify((x, t), g, "numpy")
    ft = sp.lambdify((x, t), sp.diff(g, t), "numpy")
    p0 = torch.as_tensor(pb.domain.initial.sample(50, rng).points)
    from pinnlab.engines import AutogradEngine
    d = AutogradEngine()(net, p0, {0: {(0, 0), (0, 1)}})
    assert np.max(np.abs(d[(0, (0, 0))].detach().numpy() - f(p0[:, 0].numpy(), p0[:, 1].numpy()))) < 1e-12
    assert np.max(np.abs(d[(0, (0, 1))].detach().numpy() - ft(p0[:, 0].numpy(), p0[:, 1].numpy()))) < 1e-12
    if with_dirichlet:
        pb_ = torch.as_tensor(pb.domain.boundary.sample(50, rng).points)
        with torch.no_grad():
            got = net(pb_)[:, 0].numpy()
        assert np.max(np.abs(got - f(pb_[:, 0].numpy(), pb_[:, 1].numpy()))) < 1e-12
    # not trivial inside, and the jet rule agrees with autograd
    xi = torch.as_tensor(pb.domain.sample_interior(6, rng))
    assert_engines_agree(net, xi, multi_indices(2, 3), tol=1e-8)


def test_hard_constraints_interpolate_data_given_part_by_part():
    """A plate with holes: u = 1 + x on the outer square, u = y^2 on one hole, 0 on the other."""
    x, y = sp.symbols("x y")
    u = sp.Function("u")(x, y)
    square = Rectangle([-1, -1], [1, 1])
    h1, h2 = Disk([0.4, 0.3], 0.2), Disk([-0.4, -0.3], 0.25)
    dom = square - h1 - h2
    data = {square: 1 + x, h1: y ** 2, h2: sp.Integer(0)}
    conds = [Dirichlet(u, g, on=dom.boundary_of(prim), name=f"part{i}") for i, (prim, g) in enumerate(data.items())]
    pb = Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2), 0)], conds, domain=dom)
    torch.manual_seed(0)
    net = _build_model(Hard(model=MLP(width=8, depth=2)), pb).double()
    assert net.exact_terms == {"part0", "part1", "part2"}
    rng = np.random.default_rng(0)
    for prim, g in data.items():
        pts = dom.boundary_of(prim).sample(100, rng).points
        f = sp.lambdify((x, y), g, "numpy")
        with torch.no_grad():
            got = net(torch.as_tensor(pts))[:, 0].numpy()
        assert np.max(np.abs(got - np.broadcast_to(f(pts[:, 0], pts[:, 1]), got.shape))) < 1e-12
    xi = torch.as_tensor(dom.sample_interior(6, rng))
    assert_engines_agree(net, xi, multi_indices(2, 3), tol=1e-8)
    # parts that do not tile the boundary stay in the loss
    part = Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2), 0)], conds[:2], domain=dom)
    with pytest.raises(ConfigError, match="no Dirichlet"):
        _build_model("hard", part)


def test_hard_exact_terms_and_errors():
    pb = PROBLEMS["burgers_both"][0]
    net = _build_model({"name": "hard", "model": {"name": "fourier", "width": 4, "depth": 1}}, pb)
    assert net.exact_terms == {"initial0", "dirichlet1"}
    assert set(net.exact_terms) <= set(pb.compile().terms)
    x, y = sp.symbols("x y")
    u = sp.Function("u")(x, y)
    rect = Rectangle([0, 0], [1, 1])
    part = Problem([sp.Eq(u.diff(x, 2), 0)], [Dirichlet(u, 0, on=rect.boundary.where(lambda x, y: x < 1e-9))],
                   domain=rect)
    with pytest.raises(ConfigError, match="no Dirichlet"):
        _build_model("hard", part)


# ------------------------------------------------------------------ training
TRAIN = [
    ("dirichlet_rect", {"name": "fourier", "features": 8, "width": 8, "depth": 1}),
    ("dirichlet_rect", {"name": "fourier_multiscale", "features": 8, "width": 8, "depth": 1}),
    ("burgers_both", {"name": "fourier_st", "features": 8, "width": 8, "depth": 1}),
    ("initial_only", {"name": "periodic_mlp", "width": 8, "depth": 1}),
    ("dirichlet_rect", {"name": "modified_mlp", "width": 8, "depth": 2}),
    ("dirichlet_rect", {"name": "pig", "gaussians": 30}),
    ("dirichlet_rect", {"name": "pig", "gaussians": 30, "nearest": 5, "full_covariance": True}),
    ("burgers_both", {"name": "hard", "model": {"name": "mlp", "width": 8, "depth": 1}}),
    ("dirichlet_csg", {"name": "hard", "model": {"name": "pig", "gaussians": 20}}),
]


@pytest.mark.parametrize("case,spec", TRAIN, ids=[s["name"] + "-" + c for c, s in TRAIN])
def test_builds_from_config_and_trains(case, spec):
    model = config.build("model", spec)
    assert type(model) is MODELS[spec["name"]]
    res = solve(PROBLEMS[case][0], model=model, steps=20, progress=False, report=False, device="cpu",
                sampler=dict(name="uniform", n_interior=128, n_boundary=32, n_initial=32, n_periodic=32))
    assert np.isfinite(res.metrics["final_loss"])
    assert res.metrics["engine"] == "jet"


def test_pig_closed_form_jet_matches_generic_jet():
    torch.manual_seed(2)
    net = PIG(gaussians=9, sigma=0.6).build(ctx_for(3, out=1)).double()
    x = torch.rand(7, 3, dtype=torch.float64) * 2 - 1
    from pinnlab.jets import Jet, downward_closure
    jet = net.norm.forward_jet(Jet.input(x, downward_closure(multi_indices(3, 4), 3)))
    f = net.features
    mu, coef, w, _ = f._params(jet.value)
    fast = f._hermite_jet(jet, f._diagonal_input_scales(jet), mu, coef, w)
    slow = f._generic_jet(jet, mu, coef, w)
    for alpha in jet.indices:
        assert torch.allclose(fast.component(alpha), slow.component(alpha), rtol=1e-11, atol=1e-14), alpha
