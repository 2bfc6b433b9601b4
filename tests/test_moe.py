"""PI-HC-MoE: the expert solves (linear and Levenberg-Marquardt), their implicit gradients,
several fields, interface remedies and placement of experts on devices."""

import copy

import numpy as np
import pytest
import sympy as sp
import torch

from pinnlab import Dirichlet, Problem, Rectangle, config, solve
from pinnlab.errors import ConfigError
from pinnlab.jets import Jet
from pinnlab.models import HCMoE
from pinnlab.models.features import sincos_jets
from pinnlab.models.moe import HCMoENet, LMSolve, RidgeLstsq
from pinnlab.solve import _build_model

from test_models import PROBLEMS, _one_thread, assert_engines_agree, multi_indices  # noqa: F401 (fixture)


def _assert_gradient_matches_central_differences(net, params, h=1e-6, rtol=1e-6):
    """d/dtheta of sum(u^2) at 9 points, first and last entry of each parameter, by central differences."""
    torch.manual_seed(3)
    x = torch.rand(9, 2, dtype=torch.float64) * 2 - 1
    loss = lambda: (net(x) ** 2).sum()  # noqa: E731
    grads = torch.autograd.grad(loss(), params)
    for p, g in zip(params, grads):
        for idx in [(0,) * p.ndim, tuple(s - 1 for s in p.shape)]:
            with torch.no_grad():
                p[idx] += h
                up = float(loss())
                p[idx] -= 2 * h
                down = float(loss())
                p[idx] += h
            fd = (up - down) / (2 * h)
            assert abs(fd - float(g[idx])) <= rtol * (1 + abs(fd)), (idx, fd, float(g[idx]))


class _KnownBasis(torch.nn.Module):
    """[sin(pi x) sin(pi y), x, y, 1, x y]: contains the exact solution of the test problem."""

    def forward(self, x):
        s = torch.sin(np.pi * x[:, 0:1]) * torch.sin(np.pi * x[:, 1:2])
        return torch.cat([s, x, torch.ones_like(x[:, :1]), x[:, :1] * x[:, 1:]], 1)

    def forward_jet(self, jet):
        from pinnlab.jets import Jet
        _, s = sincos_jets(jet.linear(torch.eye(2, dtype=jet.value.dtype) * np.pi))
        one = Jet(jet.indices, {jet.indices[0]: torch.ones_like(jet.value[:, :1])})
        return Jet.cat([s.select([0]) * s.select([1]), jet, one, jet.select([0]) * jet.select([1])])


def _poisson():
    x, y = sp.symbols("x y")
    u = sp.Function("u")(x, y)
    rect = Rectangle([-1, -1], [1, 1])
    ex = sp.sin(sp.pi * x) * sp.sin(sp.pi * y)
    return Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2), sp.diff(ex, x, 2) + sp.diff(ex, y, 2))],
                   [Dirichlet(u, 0, on=rect.boundary)], domain=rect)


def test_moe_solve_recovers_the_known_solution_and_is_the_least_squares_optimum():
    pb = _poisson()
    net = HCMoENet(_KnownBasis(), pb, [-1, -1], [1, 1], (2, 2), 32, 8, 1e-12, 0).double()
    omega = net.coefficients()
    want = torch.zeros(4, 5, dtype=torch.float64)
    want[:, 0] = 1
    assert torch.allclose(omega, want, atol=1e-9)
    assert net.interface_jump()["max"] < 1e-9
    # a trained-style basis: omega is the ridge least-squares optimum of the assembled system
    torch.manual_seed(0)
    net = _build_model(HCMoE(basis=6, width=8, depth=1, experts=(2, 1), points=20, boundary_points=6,
                             ridge=1e-3), pb).double()
    A, y = net.system()
    omega = net.coefficients()
    for k in range(A.shape[0]):
        Ak = torch.cat([A[k], np.sqrt(1e-3) * torch.eye(6, dtype=torch.float64)])
        yk = torch.cat([y[k], torch.zeros(6, dtype=torch.float64)])
        ref = torch.linalg.lstsq(Ak, yk[:, None]).solution[:, 0]
        assert torch.allclose(omega[k].detach(), ref, rtol=1e-9, atol=1e-11)


def test_moe_implicit_gradient_matches_finite_differences():
    torch.manual_seed(0)
    A = torch.randn(3, 7, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: RidgeLstsq.apply(a, b, 1e-4), (A, y))
    # through the whole layer: d/dtheta of a loss on u, against central differences
    net = _build_model(HCMoE(basis=5, width=6, depth=1, experts=(2,), points=16, boundary_points=4),
                       _poisson()).double()
    _assert_gradient_matches_central_differences(net, params=list(net.basis.parameters())[:2])


@pytest.mark.parametrize("dim", [2, 3])
def test_moe_engines_agree(dim):
    names = sp.symbols("x y z")[:dim]
    u = sp.Function("u")(*names)
    box = Rectangle([-1, -1], [1, 1]) if dim == 2 else __import__("pinnlab").Box([-1] * 3, [1] * 3)
    pb = Problem([sp.Eq(sum(u.diff(c, 2) for c in names), 1)], [Dirichlet(u, names[0])], domain=box)
    torch.manual_seed(0)
    net = _build_model(HCMoE(basis=4, width=5, depth=1, experts=(2,), points=12, boundary_points=4), pb).double()
    assert net.K == 2 ** dim
    x = torch.rand(6, dim, dtype=torch.float64) * 2 - 1
    assert_engines_agree(net, x, multi_indices(dim, 4 if dim == 2 else 3))


def test_moe_trains():
    res = solve(PROBLEMS["dirichlet_rect"][0], model=config.build("model", {"name": "hc_moe", "basis": 8,
                "width": 8, "depth": 1, "points": 32, "boundary_points": 8}), steps=20, progress=False,
                report=False, device="cpu", sampler=dict(name="uniform", n_interior=128, n_boundary=32))
    assert np.isfinite(res.metrics["final_loss"])
    jump = res.model.interface_jump()
    assert np.isfinite(jump["max"]) and np.isfinite(jump["rms"])


def test_moe_interface_coupling():
    pb = _poisson()
    net = HCMoENet(_KnownBasis(), pb, [-1, -1], [1, 1], (2, 2), 32, 8, 1e-12, 0, interface_points=16).double()
    assert net.coupled and net.iface_points.shape == (2 * 16, 2)  # one cut per axis
    want = torch.zeros(4, 5, dtype=torch.float64)
    want[:, 0] = 1
    assert torch.allclose(net.coefficients(), want, atol=1e-8)
    torch.manual_seed(0)
    net = _build_model(HCMoE(basis=4, width=5, depth=1, experts=(2,), points=12, boundary_points=4,
                             interface_points=6), pb).double()
    x = torch.rand(6, 2, dtype=torch.float64) * 2 - 1
    assert_engines_agree(net, x, multi_indices(2, 3))
    _assert_gradient_matches_central_differences(net, params=[next(net.basis.parameters())])


# --------------------------------------------------- nonlinear problems: Levenberg-Marquardt
def _poisson_cubic():
    """u_xx + u_yy + u^3 = f with exact u = sin(pi x) sin(pi y) (in _KnownBasis's span)."""
    x, y = sp.symbols("x y")
    u = sp.Function("u")(x, y)
    rect = Rectangle([-1, -1], [1, 1])
    ex = sp.sin(sp.pi * x) * sp.sin(sp.pi * y)
    return Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2) + u ** 3, sp.diff(ex, x, 2) + sp.diff(ex, y, 2) + ex ** 3)],
                   [Dirichlet(u, 0, on=rect.boundary)], domain=rect)


def test_moe_lm_recovers_the_known_solution_of_a_nonlinear_problem():
    net = HCMoENet(_KnownBasis(), _poisson_cubic(), [-1, -1], [1, 1], (2, 2), 32, 8, 1e-12, 0).double()
    assert net.solver == "lm"
    omega = net.coefficients()
    want = torch.zeros(4, 5, dtype=torch.float64)
    want[:, 0] = 1
    assert torch.allclose(omega, want, atol=1e-9)
    assert net.lm_report.converged and net.lm_report.gradient < 1e-10
    # the model's calls share one solve while the parameters are unchanged and no backward pass
    # has consumed it
    assert net.coefficients() is omega
    # warm start: the next solve begins at the optimum and stops within a few steps
    net._cache = None
    net.coefficients()
    assert net.lm_report.iterations <= 3


def test_moe_lm_reaches_a_stationary_minimum_with_a_random_basis():
    torch.manual_seed(0)
    net = _build_model(HCMoE(basis=5, width=6, depth=1, experts=(2,), points=16, boundary_points=4,
                             lm_tol=1e-14, lm_iterations=200), _poisson_cubic()).double()
    omega = net.coefficients().detach()
    rep = net.lm_report
    assert rep.converged and rep.objective > 1.0 and rep.gradient < 1e-9   # a large-residual optimum
    es = net.expert_system()
    inputs = es.basis_inputs(net.basis)

    def phi(om):
        r = es.rows(om, inputs)
        return 0.5 * (r * r).sum(-1) + 0.5 * net.ridge * (om * om).sum(-1)

    base = phi(omega)
    gen = torch.Generator().manual_seed(1)
    for _ in range(10):   # a local minimum: random perturbations raise Phi of every expert
        assert (phi(omega + 1e-3 * torch.randn(omega.shape, generator=gen, dtype=omega.dtype)) > base).all()


def test_moe_lm_implicit_gradient_matches_finite_differences():
    class Toy:        # r = A w - y + 0.3 (A w)^2: a nonlinear least-squares problem per expert
        ridge, lm_iterations, lm_tol, lm_hessian, lm_report = 1e-3, 200, 1e-15, "exact", None

        def rows(self, om, inputs, jacobian=False):
            A, y = inputs
            z = torch.einsum("krn,kn->kr", A, om)
            return z - y + 0.3 * z ** 2

    torch.manual_seed(0)
    A = torch.randn(3, 7, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    zero = torch.zeros(3, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b: LMSolve.apply(Toy(), zero, a, b), (A, y))
    # through the whole layer on a nonlinear PDE, against central differences
    net = _build_model(HCMoE(basis=5, width=6, depth=1, experts=(2,), points=16, boundary_points=4,
                             ridge=1e-2, lm_tol=1e-15, lm_iterations=200), _poisson_cubic()).double()
    _assert_gradient_matches_central_differences(net, params=list(net.basis.parameters()))
    assert net.lm_report.converged


@pytest.mark.parametrize("hessian", ["exact", "gauss_newton"])
def test_moe_lm_equals_the_linear_solve_on_a_linear_problem(hessian):
    torch.manual_seed(0)
    spec = dict(basis=6, width=8, depth=1, experts=(2, 1), points=20, boundary_points=6, ridge=1e-3)
    lin = _build_model(HCMoE(**spec), _poisson()).double()
    torch.manual_seed(0)
    lm = _build_model(HCMoE(**spec, solver="lm", lm_tol=1e-14, lm_hessian=hessian), _poisson()).double()
    assert lin.solver == "lstsq" and lm.solver == "lm"
    x = torch.rand(7, 2, dtype=torch.float64) * 2 - 1
    a, b = lin(x), lm(x)
    assert torch.allclose(a, b, rtol=1e-9, atol=1e-10)
    ga = torch.autograd.grad(a.pow(2).sum(), list(lin.basis.parameters()))
    gb = torch.autograd.grad(b.pow(2).sum(), list(lm.basis.parameters()))
    for p, q in zip(ga, gb):
        assert torch.allclose(p, q, rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------ several fields
def _two_fields(nonlinear: bool):
    """u_xx + u_yy = v (+ u v), v = 1 + x on [-1, 1]^2, u = 0 on the boundary."""
    x, y = sp.symbols("x y")
    u, v = sp.Function("u")(x, y), sp.Function("v")(x, y)
    rect = Rectangle([-1, -1], [1, 1])
    extra = u * v if nonlinear else 0
    return Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2), v + extra), sp.Eq(v, 1 + x)],
                   [Dirichlet(u, 0, on=rect.boundary)], domain=rect)


class _TwiceKnownBasis(_KnownBasis):
    def forward(self, x):
        b = super().forward(x)
        return torch.cat([b, b], 1)

    def forward_jet(self, jet):
        from pinnlab.jets import Jet
        b = super().forward_jet(jet)
        return Jet.cat([b, b])


def _two_fields_exact():
    x, y = sp.symbols("x y")
    u, v = sp.Function("u")(x, y), sp.Function("v")(x, y)
    rect = Rectangle([-1, -1], [1, 1])
    ex = sp.sin(sp.pi * x) * sp.sin(sp.pi * y)
    return Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2), sp.diff(ex, x, 2) + sp.diff(ex, y, 2)),
                    sp.Eq(v, 1 + x + u)], [Dirichlet(u, 0, on=rect.boundary)], domain=rect)


def test_moe_several_fields_linear_and_nonlinear():
    torch.manual_seed(0)
    spec = dict(basis=6, width=8, depth=2, experts=(2, 1), points=24, boundary_points=8, ridge=1e-6)
    lin = _build_model(HCMoE(**spec), _two_fields(False)).double()
    torch.manual_seed(0)
    lm = _build_model(HCMoE(**spec, solver="lm", lm_tol=1e-14), _two_fields(False)).double()
    assert lin.F == 2 and lin.N == 6 and lin.omega_warm.shape == (2, 12)
    x = torch.rand(7, 2, dtype=torch.float64) * 2 - 1
    a, b = lin(x), lm(x)
    assert a.shape == (7, 2)
    assert torch.allclose(a, b, rtol=1e-8, atol=1e-9)        # rows + Jacobian == assembled A, y
    # the fields' columns follow problem.fields; with a basis that spans the exact solution
    # (u = sin(pi x) sin(pi y), v = 1 + x + u) both linear and LM solves recover it exactly
    pb = _two_fields_exact()
    names = [str(f.func) for f in pb.fields]
    exact = {"u": torch.sin(np.pi * x[:, 0]) * torch.sin(np.pi * x[:, 1])}
    exact["v"] = 1 + x[:, 0] + exact["u"]
    for solver in ("lstsq", "lm"):
        # split along x only: each expert's boundary (three sides) pins u's linear part
        net = HCMoENet(_TwiceKnownBasis(), pb, [-1, -1], [1, 1], (2, 1), 32, 8, 1e-12, 0,
                       solver=solver).double()
        out = net(x)
        for i, name in enumerate(names):
            assert torch.allclose(out[:, i], exact[name], atol=1e-8), (solver, name)
    torch.manual_seed(0)
    nl = _build_model(HCMoE(**spec, lm_tol=1e-12), _two_fields(True)).double()
    assert nl.solver == "lm"
    assert_engines_agree(nl, x, multi_indices(2, 2))
    assert nl.lm_report.converged and nl.lm_report.gradient < 1e-8


def test_moe_devices_split_the_expert_solves():
    x = torch.rand(7, 2, dtype=torch.float64) * 2 - 1
    for pb, extra in [(_poisson(), {}), (_poisson_cubic(), {"lm_tol": 1e-13})]:
        outs = []
        for devices in [(), ("cpu", "cpu"), ("cpu", "cpu", "cpu")]:
            torch.manual_seed(0)
            net = _build_model(HCMoE(basis=5, width=6, depth=1, experts=(2, 2), points=16, boundary_points=4,
                                     devices=devices, **extra), pb).double()
            assert len(net._chunks()) == max(len(devices), 1)
            outs.append(net(x))
        for o in outs[1:]:
            assert torch.allclose(o, outs[0], rtol=1e-9, atol=1e-11)


def test_moe_solve_is_shared_within_a_step_and_redone_after_it():
    torch.manual_seed(0)
    net = _build_model(HCMoE(basis=5, width=6, depth=1, experts=(2,), points=16, boundary_points=4),
                       _poisson_cubic()).double()
    x = torch.rand(5, 2, dtype=torch.float64)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, fused=True)   # fused: no version bump
    for _ in range(3):
        first = net.coefficients()
        assert net.coefficients() is first
        loss = net(x).pow(2).sum() + net.forward_jet(Jet.input(x, ((0, 0),))).value.sum()
        opt.zero_grad()
        loss.backward()                       # a second backward would fail if the graph were reused
        opt.step()
        again = net.coefficients()
        assert again is not first and not torch.equal(again, first)
    with torch.no_grad():
        a = net.coefficients()
    assert not a.requires_grad and net.coefficients() is not a
    twin = copy.deepcopy(net)              # the cache holds a graph; copies leave it behind
    assert twin._cache is None and torch.allclose(twin(x), net(x))


def test_moe_trains_on_a_nonlinear_time_dependent_problem():
    res = solve(PROBLEMS["burgers_both"][0], model={"name": "hc_moe", "basis": 8, "width": 8, "depth": 1,
                "points": 32, "boundary_points": 8, "experts": (2, 1)}, steps=15, progress=False,
                report=False, device="cpu", dtype="float64",
                sampler=dict(name="uniform", n_interior=64, n_boundary=16, n_initial=16))
    assert np.isfinite(res.metrics["final_loss"])
    assert res.model.lm_report.iterations >= 1


def test_moe_rejects_settings_it_cannot_honour():
    burgers = PROBLEMS["burgers_both"][0]
    with pytest.raises(ConfigError, match=r"w\(x, t\)\*Derivative.*not linear in the fields.*solver=.lm"):
        _build_model(HCMoE(solver="lstsq", basis=4, width=4, depth=1), burgers)
    with pytest.raises(ConfigError, match="interface_points"):
        _build_model(HCMoE(interface_points=4, basis=4, width=4, depth=1), burgers)
    with pytest.raises(ConfigError, match="solver"):
        _build_model(HCMoE(solver="newton", basis=4, width=4, depth=1), burgers)
    with pytest.raises(ConfigError, match="not a torch device"):
        _build_model(HCMoE(devices=("gpu0",), basis=4, width=4, depth=1), burgers)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'cuda:0' is not available here"):
            _build_model(HCMoE(devices=("cuda:0", "cuda:1"), basis=4, width=4, depth=1, experts=(2, 1)),
                         burgers)
    with pytest.raises(ConfigError, match="devices for 2 experts"):
        _build_model(HCMoE(devices=("cpu",) * 3, basis=4, width=4, depth=1, experts=(2, 1)), burgers)


def test_moe_warns_when_experts_own_no_condition_point():
    """Split along time, the later experts of an evolution problem get no initial data: without
    coupling nothing but the PDE determines them (a small loss, a wrong answer)."""
    import warnings
    from pinnlab import Initial, Interval, TimeInterval
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    heat = Problem([sp.Eq(u.diff(t), 0.1 * u.diff(x, 2))], [Initial(u, sp.sin(sp.pi * x))],
                   domain=Interval(0, 1) * TimeInterval(0, 1))
    small = dict(basis=4, width=4, depth=1, points=16, boundary_points=8)
    with pytest.warns(UserWarning, match=r"2 of 4 experts \(split \(2, 2\)\) own no boundary or initial "
                                         r"point.*interface_points=64"):
        _build_model(HCMoE(**small), heat)
    with pytest.warns(UserWarning, match="interface_weight has no effect without interface_points"):
        _build_model(HCMoE(**small, experts=(2, 1), interface_weight=10.0), heat)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _build_model(HCMoE(**small, experts=(2, 1)), heat)          # time kept whole
        _build_model(HCMoE(**small, interface_points=16), heat)     # coupled


def test_moe_evaluations_do_not_move_the_warm_start():
    """Only training (grad-enabled) solves update the Levenberg-Marquardt warm start, so evaluating
    or predicting between steps (eval_every, callbacks, the score before the final checkpoint)
    leaves the training, and a run resumed from that checkpoint, as it would have been."""
    torch.manual_seed(0)
    net = _build_model(HCMoE(basis=5, width=6, depth=1, experts=(2,), points=16, boundary_points=4),
                       _poisson_cubic())
    net.coefficients()
    warm = net.omega_warm.clone()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1)
        net(torch.rand(5, 2))
    assert torch.equal(net.omega_warm, warm)
    spec = {"name": "hc_moe", "basis": 6, "width": 6, "depth": 1, "experts": (2,), "overlap": 0.25,
            "points": 16, "boundary_points": 4}
    kw = dict(model=spec, sampler=dict(name="uniform", n_interior=32, n_boundary=8), steps=8, log_every=1,
              optimizer={"name": "adam", "lr": 1e-2}, progress=False, report=False, device="cpu")
    cubic = _poisson_cubic()
    problem = Problem(cubic.equations, cubic.conditions, domain=cubic.domain,
                      reference=lambda p: np.sin(np.pi * p[:, 0]) * np.sin(np.pi * p[:, 1]))
    plain = [r["loss"] for r in solve(problem, **kw).history if "loss" in r]
    scored = solve(problem, eval_every=2, **kw).history
    assert "l2re" in scored[-1] and plain == [r["loss"] for r in scored if "loss" in r]
