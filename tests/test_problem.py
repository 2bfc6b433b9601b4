"""Declarations compile to residuals that vanish on exact solutions, and bad ones fail clearly."""

import numpy as np
import pytest
import sympy as sp
import torch

from pinnlab import (MLP, Condition, Data, DataError, DeclarationError, Dirichlet, Disk, Hypercube,
                     Initial, Interval, Neumann, Periodic, Problem, Rectangle, Robin, TimeInterval, dn, solve)
from pinnlab.compiler import Batch
from pinnlab.engines import AutogradEngine, JetEngine
from pinnlab.expr import to_torch

ENGINES = [AutogradEngine(), JetEngine()]


class Exact(torch.nn.Module):
    """A 'network' that returns given SymPy functions of the coordinates (for the autograd engine)."""

    def __init__(self, coords, exprs):
        super().__init__()
        self.coords, self.run = coords, to_torch(exprs, coords)

    def forward(self, x):
        env = {c: x[:, i] for i, c in enumerate(self.coords)}
        cols = [torch.as_tensor(v, dtype=x.dtype).expand(x.shape[0]) for v in self.run(env)]
        return torch.stack(cols, dim=1)


def residuals(problem, model, n=64, seed=0, params=None):
    cp = problem.compile()
    rng = np.random.default_rng(seed)
    batches = {}
    for name, block in cp.blocks.items():
        s = block.region.sample(n, rng)
        batches[name] = Batch(torch.as_tensor(s.points), None if s.normals is None else torch.as_tensor(s.normals))
    env = {s: torch.tensor(v, dtype=torch.float64) for s, v in (params or cp.parameters).items()}
    return cp, cp.residuals(model, AutogradEngine(), batches, env)


def test_burgers_declaration_from_the_issue():
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    domain = Interval(-1, 1) * TimeInterval(0, 1)
    problem = Problem(equations=[sp.Eq(u.diff(t) + u * u.diff(x), 0.01 / sp.pi * u.diff(x, 2))],
                      conditions=[Initial(u, -sp.sin(sp.pi * x)), Dirichlet(u, 0, on=domain.boundary)],
                      domain=domain)
    cp = problem.compile()
    assert set(cp.blocks) == {"interior", "initial", "dirichlet1"}
    assert cp.blocks["interior"].needs == {0: {(0, 1), (1, 0), (2, 0), (0, 0)}}


def test_heat_residual_vanishes_on_exact_solution():
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    exact = sp.exp(-sp.pi ** 2 * t) * sp.sin(sp.pi * x)
    domain = Interval(0, 1) * TimeInterval(0, 1)
    problem = Problem([sp.Eq(u.diff(t), u.diff(x, 2))],
                      [Initial(u, sp.sin(sp.pi * x)), Dirichlet(u, 0)], domain=domain)
    _, r = residuals(problem, Exact((x, t), [exact]))
    for name, v in r.items():
        assert v.abs().max() < 1e-10, name


def test_navier_stokes_system_of_three_fields_vanishes_on_kovasznay():
    x, y = sp.symbols("x y")
    u, v, p = [sp.Function(n)(x, y) for n in "uvp"]
    re = 20
    lam = re / 2 - sp.sqrt(re ** 2 / 4 + 4 * sp.pi ** 2)
    ue = 1 - sp.exp(lam * x) * sp.cos(2 * sp.pi * y)
    ve = lam / (2 * sp.pi) * sp.exp(lam * x) * sp.sin(2 * sp.pi * y)
    pe = (1 - sp.exp(2 * lam * x)) / 2
    nu = sp.Rational(1, re)
    eqs = [u * u.diff(x) + v * u.diff(y) + p.diff(x) - nu * (u.diff(x, 2) + u.diff(y, 2)),
           u * v.diff(x) + v * v.diff(y) + p.diff(y) - nu * (v.diff(x, 2) + v.diff(y, 2)),
           u.diff(x) + v.diff(y)]
    domain = Rectangle((-0.5, -0.5), (1, 1.5))
    problem = Problem(eqs, [Dirichlet(u, ue), Dirichlet(v, ve)], domain=domain)
    assert problem.field_names == ("u", "v", "p")
    _, r = residuals(problem, Exact((x, y), [ue, ve, pe]))
    for name, val in r.items():
        assert val.abs().max() < 1e-9, name


def test_fourth_order_mixed_and_five_dimensions():
    xs = sp.symbols("x1:6")
    u = sp.Function("u")(*xs)
    exact = sp.sin(xs[0]) * sp.exp(xs[1] / 2) * sp.cos(xs[2]) + xs[3] * xs[4] ** 2
    lap = sum(u.diff(c, 2) for c in xs)
    f = sum(sp.diff(exact, c, 2) for c in xs)
    kdv_like = u.diff(xs[0], 4) + u.diff(xs[0], xs[1]) - sp.diff(exact, xs[0], 4) - sp.diff(exact, xs[0], xs[1])
    problem = Problem([sp.Eq(lap, f), kdv_like], [Dirichlet(u, exact)], domain=Hypercube([0] * 5, [1] * 5))
    _, r = residuals(problem, Exact(xs, [exact]))
    for name, val in r.items():
        assert val.abs().max() < 1e-9, name


def test_sympy_functions_of_fields_and_coordinates():
    x, y = sp.symbols("x y")
    u = sp.Function("u")(x, y)
    exact = x ** 2 + y
    expr = (sp.tanh(u) + sp.sqrt(1 + u ** 2) + sp.Abs(x - 0.5) + sp.Heaviside(x - 0.5)
            + sp.Piecewise((u, x < 0.5), (2 * u, True)) + sp.exp(-y) * sp.sin(u))
    target = expr.subs(u, exact)
    problem = Problem([sp.Eq(expr, target)], [], domain=Rectangle((0, 0), (1, 1)), fields=[u])
    _, r = residuals(problem, Exact((x, y), [exact]))
    assert r["pde0"].abs().max() < 1e-10


def test_neumann_robin_and_custom_conditions_use_outward_normals():
    x, y = sp.symbols("x y")
    u = sp.Function("u")(x, y)
    exact = x ** 2 + 3 * y
    grad = [sp.diff(exact, x), sp.diff(exact, y)]
    domain = Disk((0, 0), 1)
    # on the unit circle the outward normal is (x, y): du/dn = 2x^2 + 3y
    problem = Problem([sp.Eq(u.diff(x, 2) + u.diff(y, 2), 2)],
                      [Neumann(u, x * grad[0] + y * grad[1], name="n"),
                       Robin(u, 2, 3, 2 * exact + 3 * (x * grad[0] + y * grad[1]), name="r"),
                       Condition(dn(u) ** 2 - (x * grad[0] + y * grad[1]) ** 2, name="c")],
                      domain=domain)
    _, r = residuals(problem, Exact((x, y), [exact]))
    for name, val in r.items():
        assert val.abs().max() < 1e-9, name


def test_initial_time_derivative_and_periodic_condition():
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    exact = sp.sin(x - t) + sp.cos(2 * x) * t
    domain = Interval(0, 2 * sp.pi) * TimeInterval(0, 1)
    problem = Problem([u.diff(t, 2) - u.diff(x, 2) - sp.diff(exact, t, 2) + sp.diff(exact, x, 2)],
                      [Initial(u, sp.sin(x)), Initial(u.diff(t), -sp.cos(x) + sp.cos(2 * x), name="ut0"),
                       Periodic(u, x, derivatives=2)], domain=domain)
    cp, r = residuals(problem, Exact((x, t), [exact]))
    assert r["periodic_x"].shape[0] == 3 * 64
    for name, val in r.items():
        assert val.abs().max() < 1e-9, name


def test_periodic_conditions_on_two_fields_get_distinct_names():
    x, t = sp.symbols("x t")
    u, v = sp.Function("u")(x, t), sp.Function("v")(x, t)
    domain = Interval(0, 2 * sp.pi) * TimeInterval(0, 1)
    problem = Problem([u.diff(t) - v.diff(x), v.diff(t) - u.diff(x)],
                      [Periodic(u, x, derivatives=1), Periodic(v, x, derivatives=1)], domain=domain,
                      fields=[u, v])
    cp, r = residuals(problem, Exact((x, t), [sp.sin(x - t), sp.sin(x - t)]))
    assert {"periodic_x", "periodic_x_v"} <= set(cp.terms)
    assert r["periodic_x_v"].abs().max() < 1e-9 and r["periodic_x"].abs().max() < 1e-9
    with pytest.raises(DeclarationError, match="two terms are named 'p'"):
        Problem([u.diff(t)], [Periodic(u, x, name="p"), Dirichlet(u, 0, on="initial", name="p")],
                domain=domain).compile()


def test_named_boundary_parts():
    x, y = sp.symbols("x y")
    u = sp.Function("u")(x, y)
    square = Rectangle((-1, -1), (1, 1))
    hole = Disk((0, 0), 0.3)
    domain = square - hole
    problem = Problem([u.diff(x, 2) + u.diff(y, 2)],
                      [Dirichlet(u, 1, on=domain.boundary_of(square), name="outer"),
                       Dirichlet(u, 0, on=domain.boundary_of(hole), name="inner"),
                       Dirichlet(u, 5, on=domain.boundary.where(lambda x, y: x > 0.99), name="right")],
                      domain=domain)
    cp, r = residuals(problem, Exact((x, y), [sp.Integer(1) + 0 * x]))
    assert r["outer"].abs().max() < 1e-12
    assert torch.allclose(r["inner"], torch.ones_like(r["inner"]))
    pts = cp.blocks["right"].region.sample(50, np.random.default_rng(1)).points
    assert np.all(pts[:, 0] > 0.99)


def test_learnable_parameter_and_observation_data():
    x, t = sp.symbols("x t")
    u, a = sp.Function("u")(x, t), sp.Function("a")(x, t)
    k = sp.Symbol("k")
    exact = sp.exp(-t) * sp.sin(x)
    domain = Interval(0, 3) * TimeInterval(0, 1)
    pts = np.random.default_rng(0).uniform([0, 0], [3, 1], size=(30, 2))
    vals = np.exp(-pts[:, 1]) * np.sin(pts[:, 0])
    problem = Problem([sp.Eq(u.diff(t), k * a * u.diff(x, 2))], [Data(u, pts, vals)], domain=domain,
                      fields=[u, a], parameters={k: 0.5})
    model = Exact((x, t), [exact, sp.Integer(2) + 0 * x])
    _, r = residuals(problem, model)
    assert r["data0"].abs().max() < 1e-12
    _, r1 = residuals(problem, model, params={k: 0.5})
    assert r1["pde0"].abs().max() < 1e-10  # k * a = 1 makes u_t = u_xx exact


@pytest.mark.parametrize("make, match", [
    (lambda x, t, u: Problem([u.diff(t) - sp.Symbol("D") * u.diff(x, 2)], [], domain=Interval(0, 1) * TimeInterval(0, 1)),
     "unknown symbol D"),
    (lambda x, t, u: Problem([u.diff(t) - u.subs(t, 0)], [], domain=Interval(0, 1) * TimeInterval(0, 1)),
     "called with"),
    (lambda x, t, u: Problem([u.diff(t) - sp.Derivative(u, sp.Symbol("s"))], [], domain=Interval(0, 1) * TimeInterval(0, 1)),
     "not a coordinate|derivative"),
    (lambda x, t, u: Problem([u.diff(t)], [Dirichlet(u, 0, on=Rectangle((5, 5), (6, 6)).boundary)],
                             domain=Interval(0, 1) * TimeInterval(0, 1)), "outside the domain"),
    (lambda x, t, u: Problem([u.diff(t)], [], domain=Rectangle((0, 0), (1, 1)) * TimeInterval(0, 1)),
     "dimensions"),
    (lambda x, t, u: Problem([u.diff(t)], [Initial(u, 0)], domain=Rectangle((0, 0), (1, 1)), coordinates=(x, t)),
     "no initial region|time-dependent"),
    (lambda x, t, u: Problem([u.diff(t) + sp.Function("f")(x, t)], [], domain=Interval(0, 1) * TimeInterval(0, 1),
                             fields=[u]), "not a declared field"),
    (lambda x, t, u: Problem(["u_t - u_xx"], [], domain=Interval(0, 1) * TimeInterval(0, 1), fields=[u]),
     "not strings"),
    (lambda x, t, u: Problem([u.diff(t) - sp.Symbol("c") * u], [], domain=Interval(0, 1) * TimeInterval(0, 1),
                             constants={sp.Symbol("c"): float("nan")}), "not finite"),
    (lambda x, t, u: Problem([u.diff(t)], [Neumann(u, 0, on="initial")], domain=Interval(0, 1) * TimeInterval(0, 1)),
     "no normals"),
    (lambda x, t, u: Problem([u.diff(t)], [Dirichlet(x, 0)], domain=Interval(0, 1) * TimeInterval(0, 1)),
     r"'dirichlet0': its residual x involves no field .* coordinate where a field belongs"),
    (lambda x, t, u: Problem([0], [Initial(u, 0)], domain=Interval(0, 1) * TimeInterval(0, 1), fields=[u]),
     r"equation 'pde0': its residual 0 involves no field \[u\(x, t\)\]"),
    (lambda x, t, u: Problem([u.diff(t), x], [], domain=Interval(0, 1) * TimeInterval(0, 1)),
     r"equation 'pde1': its residual x involves no field"),
    (lambda x, t, u: Problem(sp.Eq(u.diff(t), 0), [], domain=Interval(0, 1) * TimeInterval(0, 1)),
     r"equations must be a list, got Eq\(.*write equations=\[...\]"),
    (lambda x, t, u: Problem([u.diff(t)], Dirichlet(u, 0), domain=Interval(0, 1) * TimeInterval(0, 1)),
     r"conditions must be a list"),
    (lambda x, t, u: Problem([sp.Eq(u.diff(x) - sp.Function("v")(x, t), 0), sp.Function("v")(x, t).diff(t)],
                             [], domain=Interval(0, 1) * TimeInterval(0, 1), reference=lambda p: p),
     r"the reference gives columns, but the field order \(v, u\) was inferred .* declare fields="),
])
def test_bad_declarations_raise_clear_errors(make, match):
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    with pytest.raises(DeclarationError, match=match):
        make(x, t, u).compile()


@pytest.mark.parametrize("points, values, match", [
    (np.zeros((5, 3)), np.zeros(5), "shape"),
    (np.zeros((5, 2)), np.zeros(4), "values must have shape"),
    (np.array([[0.1, 0.1], [np.nan, 0.2]]), np.zeros(2), "NaN"),
    (np.zeros((2, 2)), np.array([0.0, np.inf]), "NaN or Inf"),
])
def test_bad_observation_data(points, values, match):
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    with pytest.raises(DataError, match=match):
        Problem([u.diff(t)], [Data(u, points, values)], domain=Interval(0, 1) * TimeInterval(0, 1)).compile()


def test_data_outside_domain_warns():
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    with pytest.warns(UserWarning, match="outside the domain"):
        Problem([u.diff(t)], [Data(u, np.array([[5.0, 0.5]]), [1.0])],
                domain=Interval(0, 1) * TimeInterval(0, 1)).compile()


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_compiled_residuals_identical_between_engines(engine):
    from pinnlab.models import MLP, ModelContext
    x, t = sp.symbols("x t")
    u = sp.Function("u")(x, t)
    domain = Interval(-1, 1) * TimeInterval(0, 1)
    problem = Problem([u.diff(t) + u * u.diff(x) - 0.01 * u.diff(x, 2) + u.diff(x, 4)],
                      [Initial(u, -sp.sin(sp.pi * x)), Periodic(u, x, 1)], domain=domain)
    cp = problem.compile()
    torch.manual_seed(0)
    net = MLP(8, 2).build(ModelContext(2, 1, np.array([-1.0, 0]), np.array([1.0, 1]))).double()
    rng = np.random.default_rng(0)
    batches = {n: Batch(torch.as_tensor(b.region.sample(20, rng).points)) for n, b in cp.blocks.items()}
    ref = cp.residuals(net, AutogradEngine(), batches, {})
    got = cp.residuals(net, engine, batches, {})
    for k in ref:
        assert torch.allclose(ref[k], got[k], rtol=1e-10, atol=1e-10)


def test_piecewise_without_otherwise_branch_is_undefined_outside_its_conditions():
    """As in SymPy, a Piecewise is NaN where none of its conditions holds; a residual that is
    undefined at the first evaluation is a declaration error naming the term and a point."""
    x = sp.Symbol("x")
    pw = sp.Piecewise((1, x < 0.5), (2, x < 0.8))
    values = to_torch([pw], [x])({x: torch.tensor([0.2, 0.6, 0.9], dtype=torch.float64)})[0]
    assert values[:2].tolist() == [1.0, 2.0] and torch.isnan(values[2])
    full = to_torch([sp.Piecewise((1, x < 0.5), (2, True))], [x])({x: torch.tensor([0.9])})[0]
    assert full.tolist() == [2.0]
    u = sp.Function("u")(x)
    problem = Problem([u.diff(x, 2) - pw], [Dirichlet(u, 0)], domain=Interval(0, 1))
    with pytest.raises(DeclarationError, match=r"undefined there: equation 'pde0': \d+ of 64 points "
                                               r"\(e.g. at x=0\.[89]\d*\).*Piecewise with no otherwise"):
        solve(problem, model=MLP(width=4, depth=1), sampler=dict(n_interior=64, n_boundary=2), steps=3,
              progress=False, report=False)


@pytest.mark.parametrize("make, match", [
    (lambda u: Dirichlet(u, "sin(x)"), r"Dirichlet: the value 'sin\(x\)' \(str\) is not an expression; "
                                       "write a SymPy expression"),
    (lambda u: Dirichlet(u, lambda x: x), r"\(function\) is not an expression; .*not a Python function"),
    (lambda u: Neumann(u, None), r"Neumann: the value None \(NoneType\)"),
    (lambda u: Initial(u, np.zeros(3)), r"Initial: the value .* \(ndarray\) .* use Data\(field, points, values\)"),
    (lambda u: Robin(u, "a", 1, 0), r"Robin: the coefficient a 'a' \(str\)"),
    (lambda u: Robin(u, 0, 0, 1), "Robin: the coefficients a and b are both zero"),
    (lambda u: Dirichlet(u, u), r"Dirichlet: u\(x, t\) = u\(x, t\) holds always"),
])
def test_condition_helpers_name_operands_that_are_not_expressions(make, match):
    x, t = sp.symbols("x t")
    with pytest.raises(DeclarationError, match=match):
        make(sp.Function("u")(x, t))


def test_declaration_errors_speak_the_users_terms():
    """Unsupported functions are shown with the user's derivatives (not internal placeholders);
    a symbol unknown only because of different assumptions says so."""
    x, y = sp.symbols("x y", real=True)
    u = sp.Function("u")(x, y)
    square = Rectangle((0, 0), (1, 1))
    with pytest.raises(DeclarationError, match=r"cannot compile the term besselj\(0, Derivative\(u\(x, y\), x\)\)"):
        Problem([sp.besselj(0, u.diff(x)) + u], [Dirichlet(u, 0)], domain=square).compile()
    with pytest.raises(DeclarationError, match=r"unknown symbol x .*the known symbol named x is a different "
                                               r"SymPy symbol: it was created with real=True, this one with no "
                                               "assumptions"):
        Problem([u.diff(x, 2) + sp.Symbol("x")], [Dirichlet(u, 0)], domain=square).compile()


def test_more_declaration_mistakes():
    x, y, k = sp.symbols("x y k")
    u = sp.Function("u")(x, y)
    square = Rectangle((0, 0), (1, 1))
    pts = np.random.default_rng(0).random((5, 2))
    with pytest.raises(DataError, match="'data1': values are complex numbers"):
        Problem([u.diff(x, 2)], [Dirichlet(u, 0), Data(u, pts, np.zeros(5) + 1j)], domain=square).compile()
    with pytest.raises(DataError, match="'data1': points must be a numeric array"):  # ragged
        Problem([u.diff(x, 2)], [Dirichlet(u, 0), Data(u, [[0, 0], [0]], [1, 2])], domain=square).compile()
    # a tensor that requires grad (e.g. another model's output) is taken as data
    torch_pts = torch.as_tensor(pts).requires_grad_()
    Problem([u.diff(x, 2)], [Dirichlet(u, 0), Data(u, torch_pts, torch_pts.sum(1))], domain=square).compile()
    with pytest.raises(DeclarationError, match=r"'data1': its residual x \+ y involves no field"):
        Problem([u.diff(x, 2)], [Dirichlet(u, 0), Data(x + y, pts, np.zeros(5))], domain=square).compile()
    with pytest.raises(DeclarationError, match="is not a geometry but a region of one"):
        Problem([u.diff(x, 2)], [Dirichlet(u, 0)], domain=square.boundary)
    with pytest.warns(UserWarning, match=r"learnable parameter\(s\) k appear in no equation or condition"):
        Problem([u.diff(x, 2)], [Dirichlet(u, 0)], domain=square, parameters={k: 1.0}).compile()


def test_derivatives_of_abs_treat_fields_as_real():
    """sp.diff(Abs(u), x), the p-Laplacian d/dx(|u_x| u_x) and sp.real_root(x, 3): SymPy writes
    them with re() and im() of the (complex by default) field or coordinate; pinnlab's are real,
    so they compile to sign(u) u_x, 2 |u_x| u_xx and the real cube root (autograd on an exact
    function; the jet engine agrees on a net)."""
    from pinnlab.models import ModelContext
    x, y = sp.symbols("x y")
    u = sp.Function("u")(x, y)
    f = sp.sin(x + 2 * y) + x * y
    exact = [sp.sign(f) * f.diff(x), 2 * sp.Abs(f.diff(x)) * f.diff(x, 2)]
    square = Rectangle((0, 0), (1, 1))
    equations = [sp.diff(sp.Abs(u), x), sp.diff(sp.Abs(u.diff(x)) * u.diff(x), x),
                 u - sp.real_root(x - 0.5, 3)]  # a real cube root: a branch on Eq(im(x), 0)
    exact.append(f - sp.sign(x - 0.5) * sp.Abs(x - 0.5) ** sp.Rational(1, 3))
    assert all(e.has(sp.im) for e in equations)  # the form SymPy gives
    cp = Problem(equations, [Dirichlet(u, 0)], domain=square).compile()
    batch = {"interior": Batch(torch.as_tensor(square.sample_interior(32, np.random.default_rng(1))))}
    res = cp.residuals(Exact((x, y), [f]), AutogradEngine(), batch, {})
    pts = batch["interior"].points.numpy()
    for i, e in enumerate(exact):
        want = sp.lambdify((x, y), e)(pts[:, 0], pts[:, 1])
        assert np.allclose(res[f"pde{i}"].detach().numpy(), want, atol=1e-12)
    torch.manual_seed(0)
    net = MLP(width=6, depth=2).build(ModelContext(2, 1, np.zeros(2), np.ones(2))).double()
    by_jet = cp.residuals(net, JetEngine(), batch, {})
    by_autograd = cp.residuals(net, AutogradEngine(), batch, {})
    for name in ("pde0", "pde1", "pde2"):
        assert torch.allclose(by_jet[name], by_autograd[name], atol=1e-12)


def test_fields_away_from_the_coordinates_are_refused_clearly():
    """u(2x, y), u_x(0, y) and a derivative of symbolic order: a clear error in the user's terms
    (not SymPy's internal dummy _xi_1 named as a coordinate, nor a raw TypeError)."""
    x, y, k = sp.symbols("x y k")
    u = sp.Function("u")(x, y)
    square = Rectangle((0, 0), (1, 1))
    for fields in (None, [u]):
        with pytest.raises(DeclarationError, match=r"'pde0': .*u\(x, y\).* at \(2\*x, y\)") as info:
            Problem([u.subs(x, 2 * x).diff(x) + u], [Dirichlet(u, 0)], domain=square, fields=fields).compile()
        assert "xi" not in str(info.value)
    with pytest.raises(DeclarationError, match=r"'pde0': .*at \(0, y\).*condition"):
        Problem([u.diff(x).subs(x, 0) + u], [Dirichlet(u, 0)], domain=square).compile()
    with pytest.raises(DeclarationError, match=r"'pde0': .*the order k; .*whole number"):
        Problem([sp.Derivative(u, (x, k)) + u], [Dirichlet(u, 0)], domain=square,
                parameters={k: 1.0}).compile()


def test_normal_derivative_on_a_holes_own_boundary_is_refused():
    """Neumann on hole.boundary (not domain.boundary_of(hole)) would use the hole's outward
    normals, which point into the domain: refused with the fix named; boundary_of and an
    interface circle inside the domain keep working."""
    x, y = sp.symbols("x y")
    u = sp.Function("u")(x, y)
    square, hole = Rectangle((0, 0), (2, 2)), Disk((1, 1), 0.5)
    domain = square - hole

    def compile_on(region):
        return Problem([u.diff(x, 2) + u.diff(y, 2)], [Neumann(u, 1, on=region), Dirichlet(u, 0)],
                       domain=domain).compile()
    for region in (hole.boundary, hole.boundary.where(lambda x, y: x < 1)):
        with pytest.raises(DeclarationError, match=r"'neumann0'.*point into the domain.*boundary_of"):
            compile_on(region)
    cp = compile_on(domain.boundary_of(hole))
    s = cp.blocks["neumann0"].region.sample(16, np.random.default_rng(0))
    assert np.allclose(s.normals, -(s.points - 1) / 0.5)  # out of the domain: into the hole
    compile_on(square.boundary)  # the same normals as the domain's there
    compile_on(Disk((1, 1), 0.8).boundary)  # an interface inside the domain: its own normals


def test_matrix_equations_and_overflowing_constants_are_named():
    x, y = sp.symbols("x y")
    u = sp.Function("u")(x, y)
    square = Rectangle((0, 0), (1, 1))
    with pytest.raises(DeclarationError, match=r"equation 0: .* is a matrix \(a system\); give one equation per"):
        Problem([sp.Matrix([u.diff(x), u.diff(y)])], [Dirichlet(u, 0)], domain=square)
    with pytest.raises(DeclarationError, match=r"the constant -1\.0+E\+400 is outside the float64 range"):
        Problem([u - sp.Integer(10) ** 400], [Dirichlet(u, 0)], domain=square).compile()
    with pytest.raises(DeclarationError, match=r"equation 0: .*the condition True \(SymPy evaluates an Eq"):
        Problem([sp.Eq(u.diff(x), u.diff(x))], [Dirichlet(u, 0)], domain=square)
