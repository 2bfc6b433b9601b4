"""Layers that propagate derivative jets as well as values.

Every pinnlab layer is a ``torch.nn.Module`` with the usual ``forward(x)`` and a
``forward_jet(jet)`` that maps a :class:`~pinnlab.jets.Jet` to a jet. A model
whose every layer has a jet rule can use the fast derivative engine; any other
pointwise module still works through the autograd engine.
"""

from __future__ import annotations


from functools import lru_cache

import sympy as sp
import torch
from torch import nn

from ..errors import ConfigError
from ..jets import Jet, derivative_stack

_z = sp.Symbol("z")

#: Activation name -> (torch function, SymPy expression in ``z`` for its jet rule).
ACTIVATIONS: dict[str, tuple] = {
    "tanh": (torch.tanh, sp.tanh(_z)),
    "sin": (torch.sin, sp.sin(_z)),
    "cos": (torch.cos, sp.cos(_z)),
    "sigmoid": (torch.sigmoid, 1 / (1 + sp.exp(-_z))),
    "softplus": (nn.functional.softplus, sp.log(1 + sp.exp(_z))),
    "silu": (nn.functional.silu, _z / (1 + sp.exp(-_z))),
    "gelu": (nn.functional.gelu, _z / 2 * (1 + sp.erf(_z / sp.sqrt(2)))),
    "exp": (torch.exp, sp.exp(_z)),
    "identity": (lambda v: v, _z),
}


def _tanh(z: torch.Tensor) -> torch.Tensor:
    """tanh; in compiled code as expm1(2z) / (expm1(2z) + 2), which fuses into the
    surrounding kernel and runs ~2.5x faster than the vectorised tanh on CPU
    (within 2 ulp of it; |z| <= 20 already gives tanh = +-1 in float64)."""
    if torch.compiler.is_compiling():
        e = torch.expm1(2 * z.clamp(-20.0, 20.0))
        return e / (e + 2)
    return torch.tanh(z)


def _tanh_stack(kmax: int):
    """tanh and its derivatives as polynomials in t = tanh(z) (cheaper than SymPy's form)."""
    polys = [[0.0, 1.0]]  # coefficients of p_k(t), lowest degree first
    for _ in range(kmax):
        p = polys[-1]
        dp = [i * p[i] for i in range(1, len(p))] or [0.0]
        # p_{k+1} = p_k'(t) * (1 - t^2)
        nxt = [0.0] * (len(dp) + 2)
        for i, c in enumerate(dp):
            nxt[i] += c
            nxt[i + 2] -= c
        polys.append(nxt)

    def stack(z: torch.Tensor, rows: int | None = None) -> list:
        t = _tanh(z)
        out = [t]
        if rows is not None and rows < t.shape[0]:
            t = t[:rows]  # the derivatives only for the points that carry derivatives
        if kmax >= 1:
            s = 1 - t * t
            out.append(s)
        if kmax >= 2:
            out.append(-2 * t * s)
        if kmax >= 3:
            out.append(s * (6 * t * t - 2))
        for p in polys[4:kmax + 1]:
            acc = torch.zeros_like(t)
            for c in reversed(p):
                acc = acc * t + c
            out.append(acc)
        return out
    return stack


@lru_cache(maxsize=None)
def _activation_stack(name: str, kmax: int):
    """Derivative stack of a named activation up to order ``kmax`` (cached per process)."""
    return _tanh_stack(kmax) if name == "tanh" else derivative_stack(ACTIVATIONS[name][1], kmax)


class Activation(nn.Module):
    """Elementwise activation by name (see :data:`ACTIVATIONS`)."""

    def __init__(self, name: str = "tanh"):
        super().__init__()
        if name not in ACTIVATIONS:
            from ..config import suggest
            raise ConfigError(f"unknown activation {name!r}{suggest(str(name), ACTIVATIONS)}; choose one "
                              f"of {sorted(ACTIVATIONS)}")
        self.name = name
        self.fn, self.expr = ACTIVATIONS[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def forward_jet(self, jet: Jet) -> Jet:
        return jet.compose(_activation_stack(self.name, jet.max_order)(jet.value, jet.derivative_rows()))

    def extra_repr(self) -> str:
        return self.name


class Linear(nn.Linear):
    """``torch.nn.Linear`` with a jet rule."""

    def forward_jet(self, jet: Jet) -> Jet:
        return jet.linear(self.weight, self.bias)


class Normalize(nn.Module):
    """Affine map of the domain's bounding box onto [-1, 1]^d."""

    def __init__(self, lo, hi):
        super().__init__()
        lo = torch.as_tensor(lo, dtype=torch.float64)
        hi = torch.as_tensor(hi, dtype=torch.float64)
        span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        self.register_buffer("center", ((lo + hi) / 2).float())
        self.register_buffer("scale", (2 / span).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.center) * self.scale

    def forward_jet(self, jet: Jet) -> Jet:
        out = {a: v * self.scale for a, v in jet.c.items()}
        zero = jet.indices[0]
        out[zero] = (jet.c[zero] - self.center) * self.scale
        return Jet(jet.indices, out, jet.rows)


class Sequential(nn.Sequential):
    """``nn.Sequential`` whose jet rule chains its layers' jet rules."""

    def forward_jet(self, jet: Jet) -> Jet:
        for layer in self:
            jet = layer.forward_jet(jet)
        return jet


def supports_jets(module: nn.Module) -> bool:
    """True when ``module`` has a jet rule (its own ``forward_jet``)."""
    return callable(getattr(module, "forward_jet", None))


def init_linear(layer: nn.Linear, scheme: str, gain: float = 1.0) -> None:
    """Initialise a linear layer: ``xavier_normal``, ``xavier_uniform``, ``kaiming`` or ``default``."""
    if scheme == "xavier_normal":
        nn.init.xavier_normal_(layer.weight, gain=gain)
    elif scheme == "xavier_uniform":
        nn.init.xavier_uniform_(layer.weight, gain=gain)
    elif scheme == "kaiming":
        nn.init.kaiming_normal_(layer.weight, nonlinearity="linear")
    elif scheme == "default":
        return
    else:
        raise ConfigError(f"unknown init {scheme!r}; choose xavier_normal, xavier_uniform, kaiming, default")
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


__all__ = ["ACTIVATIONS", "Activation", "Linear", "Normalize", "Sequential", "supports_jets",
           "init_linear"]
