"""Derivative engines against analytic derivatives, each other and finite differences."""

import itertools

import numpy as np
import pytest
import sympy as sp
import torch

from pinnlab.engines import AutogradEngine, JetEngine, make_engine
from pinnlab.errors import ConfigError
from pinnlab.expr import to_torch
from pinnlab.jets import Jet, downward_closure, faa_di_bruno, leibniz
from pinnlab.models import ACTIVATIONS, MLP, ModelContext

ENGINES = [AutogradEngine(), JetEngine()]
ACTS = [a for a in ACTIVATIONS if a != "identity"]


def small_net(act: str, dim: int = 2, out: int = 2, width: int = 5, depth: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    ctx = ModelContext(dim, out, np.full(dim, -1.0), np.full(dim, 1.0))
    return MLP(width=width, depth=depth, activation=act).build(ctx).double()


def sympy_net(net, coords):
    """The same network as a SymPy expression (exact derivatives by SymPy)."""
    layers = list(net.net)
    h = [c for c in coords]
    norm = layers[0]
    h = [(v - float(norm.center[i])) * float(norm.scale[i]) for i, v in enumerate(h)]
    for layer in layers[1:]:
        if isinstance(layer, torch.nn.Linear):
            W, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
            h = [sum(float(W[o, i]) * h[i] for i in range(len(h))) + float(b[o]) for o in range(W.shape[0])]
        else:
            z = sp.Symbol("z")
            h = [layer.expr.subs(z, v) for v in h]
    return h


def multi_indices(dim: int, max_order: int):
    return [a for a in itertools.product(range(max_order + 1), repeat=dim) if 0 < sum(a) <= max_order]


_EXACT: dict = {}


def exact_derivatives(act: str):
    """Points and SymPy-exact derivatives (all orders <= 4) of a small network, cached per activation."""
    if act not in _EXACT:
        coords = sp.symbols("x y")
        net = small_net(act, width=3, depth=1)
        exprs = sympy_net(net, coords)
        x = torch.rand(7, 2, dtype=torch.float64) * 2 - 1
        values = {}
        for k, alpha in itertools.product(range(2), multi_indices(2, 4)):
            d = sp.diff(exprs[k], *[(c, n) for c, n in zip(coords, alpha) if n])
            f = sp.lambdify(coords, d, modules=[{"erf": __import__("scipy.special").special.erf}, "numpy"])
            values[(k, alpha)] = torch.as_tensor(np.broadcast_to(f(x[:, 0].numpy(), x[:, 1].numpy()), (7,)).copy())
        _EXACT[act] = (net, x, values)
    return _EXACT[act]


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
@pytest.mark.parametrize("act", ACTS)
def test_engine_matches_sympy_derivatives_up_to_order_4(engine, act):
    net, x, exact = exact_derivatives(act)
    derivs = engine(net, x, {k: set(multi_indices(2, 4)) for k in range(2)})
    for key, want in exact.items():
        got = derivs[key]
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-9 * (1 + want.abs().max())), key


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dim", [1, 3, 5])
def test_engines_agree_in_many_dimensions(act, dim):
    net = small_net(act, dim=dim, out=1, width=6, depth=3)
    x = torch.rand(11, dim, dtype=torch.float64)
    alphas = set(multi_indices(dim, 2 if dim > 3 else 4))
    a = AutogradEngine()(net, x, {0: alphas})
    j = JetEngine()(net, x, {0: alphas})
    for key in a:
        assert torch.allclose(a[key], j[key], rtol=1e-10, atol=1e-10), key


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_engine_matches_finite_differences(engine):
    net = small_net("tanh", width=8, depth=3)
    x = torch.rand(5, 2, dtype=torch.float64) * 0.5
    h = 1e-3
    e = [torch.tensor([h, 0.0], dtype=torch.float64), torch.tensor([0.0, h], dtype=torch.float64)]
    f = lambda p: net(p)[:, 0]  # noqa: E731
    fd = {
        (1, 0): (f(x + e[0]) - f(x - e[0])) / (2 * h),
        (0, 1): (f(x + e[1]) - f(x - e[1])) / (2 * h),
        (2, 0): (f(x + e[0]) - 2 * f(x) + f(x - e[0])) / h ** 2,
        (1, 1): (f(x + e[0] + e[1]) - f(x + e[0] - e[1]) - f(x - e[0] + e[1]) + f(x - e[0] - e[1])) / (4 * h * h),
        (4, 0): (f(x + 2 * e[0] * 10) - 4 * f(x + e[0] * 10) + 6 * f(x) - 4 * f(x - e[0] * 10)
                 + f(x - 2 * e[0] * 10)) / (10 * h) ** 4,
    }
    d = engine(net, x, {0: set(fd)})
    for alpha, approx in fd.items():
        tol = 1e-2 if sum(alpha) == 4 else 1e-5
        assert torch.allclose(d[(0, alpha)], approx, rtol=tol, atol=tol), alpha


@pytest.mark.parametrize("act", ACTS)
def test_ragged_multi_block_pass_matches_per_block_derivatives(act):
    """One ragged jet pass over blocks that need different derivatives (an interior block up
    to 3rd order, a Neumann-like block of first derivatives, a value-only block) gives each
    block exactly the derivatives the autograd engine gives it separately."""
    net = small_net(act, width=6, depth=3)
    torch.manual_seed(1)
    blocks = [(torch.rand(n, 2, dtype=torch.float64) * 2 - 1, needs) for n, needs in (
        (9, {0: {(0, 0)}}),
        (11, {0: {(3, 0), (1, 1)}, 1: {(0, 2), (0, 0)}}),
        (5, {0: {(1, 0)}, 1: {(0, 1), (0, 0)}}))]
    fused = JetEngine().multi(net, blocks)
    assert fused is not None
    for (x, needs), got in zip(blocks, fused):
        want = AutogradEngine()(net, x, needs)
        assert set(got) == set(want)
        for key in want:
            assert got[key].shape == want[key].shape == (x.shape[0],)
            assert torch.allclose(got[key], want[key], rtol=1e-9, atol=1e-10), (act, key)


def test_faa_di_bruno_counts_match_bell_numbers():
    # number of set partitions of n distinct directions: 1, 2, 5, 15
    for n, bell in [(1, 1), (2, 2), (3, 5), (4, 15)]:
        alpha = tuple([1] * n)
        assert sum(c for c, _, _ in faa_di_bruno(alpha)) == bell
    # d^2 f(z) / dx^2 = f'' z_x^2 + f' z_xx
    terms = faa_di_bruno((2,))
    assert sorted((c, k) for c, k, _ in terms) == [(1, 1), (1, 2)]


def test_leibniz_and_closure():
    assert sum(c for c, _, _ in leibniz((2, 1))) == 2 ** 3
    assert downward_closure([(2, 1)], 2) == ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (2, 1))


def test_jet_product_rule_matches_analytic():
    x = torch.rand(6, 2, dtype=torch.float64)
    idx = downward_closure([(2, 1), (0, 3)], 2)
    jx = Jet.input(x, idx)
    # f = x * y^2 through products of input jets
    xs, ys = jx.select(slice(0, 1)), jx.select(slice(1, 2))
    f = xs * ys * ys
    assert torch.allclose(f.component((0, 2))[:, 0], 2 * x[:, 0])
    assert torch.allclose(f.component((1, 1))[:, 0], 2 * x[:, 1])
    assert torch.allclose(f.component((2, 1))[:, 0], torch.zeros(6, dtype=torch.float64))
    assert f.get((0, 3)) is None or torch.allclose(f.component((0, 3)), torch.zeros(6, 1, dtype=torch.float64))


def test_make_engine_auto_and_errors():
    net = small_net("tanh")
    assert make_engine("auto", net).name == "jet"
    plain = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()
    assert make_engine("auto", plain).name == "autograd"
    with pytest.raises(ConfigError, match="jet rule"):
        JetEngine()(plain, torch.rand(3, 2, dtype=torch.float64), {0: {(1, 0)}})
    with pytest.raises(ConfigError, match="unknown derivative engine"):
        make_engine("magic", net)


def test_autograd_engine_on_any_module_matches_analytic():
    class SinExp(torch.nn.Module):
        def forward(self, x):
            return (torch.sin(x[:, 0]) * torch.exp(2 * x[:, 1]))[:, None]

    x = torch.rand(9, 2, dtype=torch.float64)
    d = AutogradEngine()(SinExp(), x, {0: {(2, 0), (1, 1), (0, 4), (3, 1)}})
    s, c, e = torch.sin(x[:, 0]), torch.cos(x[:, 0]), torch.exp(2 * x[:, 1])
    assert torch.allclose(d[(0, (2, 0))], -s * e)
    assert torch.allclose(d[(0, (1, 1))], 2 * c * e)
    assert torch.allclose(d[(0, (0, 4))], 16 * s * e)
    assert torch.allclose(d[(0, (3, 1))], -2 * c * e)
