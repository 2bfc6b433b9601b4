"""Feature embeddings with jet rules: random Fourier features, the exact periodic
embedding and the modified MLP.

* :class:`Fourier`, :class:`FourierMultiscale`, :class:`FourierST` -- random
  Fourier features gamma(x) = [cos(2 pi B x), sin(2 pi B x)], B ~ N(0, sigma^2)
  (Tancik et al., "Fourier features let networks learn high frequency
  functions in low dimensional domains", NeurIPS 2020; multi-scale and
  spatio-temporal variants from Wang, Wang & Perdikaris, "On the eigenvector
  bias of Fourier feature networks", CMAME 2021).
* :class:`PeriodicMLP` -- exact periodic embedding [cos(2 pi k x / P),
  sin(2 pi k x / P)], k = 1..K, so periodic conditions (values and every
  derivative) hold by construction (Dong & Ni, JCP 2021; as used in jaxpi).
* :class:`ModifiedMLP` -- the gated MLP of Wang, Teng & Perdikaris,
  "Understanding and mitigating gradient flow pathologies in physics-informed
  neural networks", SIAM J. Sci. Comput. 2021.

Every module has ``forward`` and ``forward_jet``; sin/cos jets use the closed
derivative cycle (sin, cos, -sin, -cos) through :meth:`Jet.compose`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..jets import Jet
from .layers import Activation, Linear, Normalize, Sequential, init_linear
from .mlp import ModelContext


# ------------------------------------------------------------------ helpers
def sincos_jets(z: Jet) -> tuple[Jet, Jet]:
    """Jets of cos(z) and sin(z) from one evaluation of sin and cos."""
    s, c = torch.sin(z.value), torch.cos(z.value)
    cyc_sin = [s, c, -s, -c]
    cyc_cos = [c, -s, -c, s]
    k = z.max_order
    return (z.compose([cyc_cos[i % 4] for i in range(k + 1)]),
            z.compose([cyc_sin[i % 4] for i in range(k + 1)]))


def hidden_stack(in_dim: int, width: int, depth: int, activation: str, init: str) -> Sequential:
    """(Linear -> activation) x depth (no output layer)."""
    layers: list[nn.Module] = []
    sizes = [in_dim] + [width] * depth
    for a, b in zip(sizes[:-1], sizes[1:]):
        lin = Linear(a, b)
        init_linear(lin, init)
        layers += [lin, Activation(activation)]
    return Sequential(*layers)


def head(in_dim: int, out_dim: int, init: str) -> Linear:
    lin = Linear(in_dim, out_dim)
    init_linear(lin, init)
    return lin


def _check_width_depth(spec, allow_zero_depth: bool = False) -> None:
    lo = 0 if allow_zero_depth else 1
    if spec.width < 1 or spec.depth < lo:
        raise ConfigError(f"{spec.name}: needs width >= 1 and depth >= {lo}, "
                          f"got width={spec.width}, depth={spec.depth}")


# ----------------------------------------------------------- Fourier features
class FourierEmbedding(nn.Module):
    """gamma(x) = [cos(2 pi B x), sin(2 pi B x)] with B (features x in_dim) ~ N(0, sigma^2).

    Tancik et al. 2020. ``trainable=True`` makes B a parameter (as in jaxpi),
    otherwise it is a fixed buffer. Output width ``2 * features``.
    """

    def __init__(self, in_dim: int, features: int, sigma: float, trainable: bool = False):
        super().__init__()
        if features < 1:
            raise ConfigError(f"Fourier features: features must be >= 1, got {features}")
        if not sigma > 0:
            raise ConfigError(f"Fourier features: sigma must be > 0, got {sigma}")
        B = torch.randn(features, in_dim) * float(sigma)
        if trainable:
            self.B = nn.Parameter(B)
        else:
            self.register_buffer("B", B)
        self.sigma = float(sigma)
        self.out_dim = 2 * features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = 2 * math.pi * (x @ self.B.T)
        return torch.cat([torch.cos(z), torch.sin(z)], dim=-1)

    def forward_jet(self, jet: Jet) -> Jet:
        cos_j, sin_j = sincos_jets(jet.linear(2 * math.pi * self.B))
        return Jet.cat([cos_j, sin_j])

    def extra_repr(self) -> str:
        return f"B={tuple(self.B.shape)}, sigma={self.sigma}, trainable={isinstance(self.B, nn.Parameter)}"


class FourierNet(nn.Module):
    """Normalize -> Fourier embedding -> MLP -> Linear."""

    def __init__(self, ctx: ModelContext, features: int, sigma: float, trainable: bool,
                 width: int, depth: int, activation: str, init: str):
        super().__init__()
        self.norm = Normalize(ctx.lo, ctx.hi)
        self.embed = FourierEmbedding(ctx.in_dim, features, sigma, trainable)
        self.body = hidden_stack(self.embed.out_dim, width, depth, activation, init)
        self.head = head(width if depth else self.embed.out_dim, ctx.out_dim, init)

    def forward(self, x):
        return self.head(self.body(self.embed(self.norm(x))))

    def forward_jet(self, jet: Jet) -> Jet:
        return self.head.forward_jet(self.body.forward_jet(self.embed.forward_jet(self.norm.forward_jet(jet))))


@dataclass
class Fourier:
    """Random Fourier feature network (Tancik et al. 2020; Wang, Wang & Perdikaris 2021).

    Coordinates are mapped onto [-1, 1]^d first; B ~ N(0, sigma^2) acts on the
    normalised coordinates. ``features`` frequencies give 2 * features inputs.
    """

    name = "fourier"
    features: int = 64
    sigma: float = 1.0
    trainable: bool = False
    width: int = 64
    depth: int = 3
    activation: str = "tanh"
    init: str = "xavier_normal"

    def build(self, ctx: ModelContext) -> nn.Module:
        _check_width_depth(self, allow_zero_depth=True)
        return FourierNet(ctx, self.features, self.sigma, self.trainable, self.width, self.depth,
                          self.activation, self.init)


class MultiscaleFourierNet(nn.Module):
    """Several Fourier embeddings (one per sigma) through one shared MLP; outputs
    concatenated before the final linear layer (Wang, Wang & Perdikaris 2021)."""

    def __init__(self, ctx: ModelContext, features: int, sigmas, trainable: bool, width: int,
                 depth: int, activation: str, init: str):
        super().__init__()
        if not sigmas:
            raise ConfigError("fourier_multiscale: give at least one sigma")
        self.norm = Normalize(ctx.lo, ctx.hi)
        self.embeds = nn.ModuleList(FourierEmbedding(ctx.in_dim, features, s, trainable) for s in sigmas)
        self.body = hidden_stack(2 * features, width, depth, activation, init)
        self.head = head(width * len(sigmas), ctx.out_dim, init)

    def forward(self, x):
        z = self.norm(x)
        return self.head(torch.cat([self.body(e(z)) for e in self.embeds], dim=-1))

    def forward_jet(self, jet: Jet) -> Jet:
        z = self.norm.forward_jet(jet)
        return self.head.forward_jet(Jet.cat([self.body.forward_jet(e.forward_jet(z)) for e in self.embeds]))


@dataclass
class FourierMultiscale:
    """Multi-scale Fourier features: one embedding per sigma, shared MLP weights,
    outputs concatenated (Wang, Wang & Perdikaris, CMAME 2021)."""

    name = "fourier_multiscale"
    features: int = 64
    sigmas: tuple[float, ...] = (1.0, 10.0)
    trainable: bool = False
    width: int = 64
    depth: int = 3
    activation: str = "tanh"
    init: str = "xavier_normal"

    def build(self, ctx: ModelContext) -> nn.Module:
        _check_width_depth(self)
        return MultiscaleFourierNet(ctx, self.features, tuple(self.sigmas), self.trainable, self.width,
                                    self.depth, self.activation, self.init)


class SpatioTemporalFourierNet(nn.Module):
    """Separate Fourier embeddings of space and of time, both through one shared
    MLP; every (space sigma, time sigma) pair of outputs is multiplied
    elementwise, the products concatenated before the final linear layer
    (ST-MFF of Wang, Wang & Perdikaris 2021)."""

    def __init__(self, ctx: ModelContext, features: int, sigmas_x, sigmas_t, trainable: bool,
                 width: int, depth: int, activation: str, init: str):
        super().__init__()
        if ctx.time_axis is None:
            raise ConfigError("fourier_st needs a time-dependent problem (domain = space * TimeInterval); "
                              "use fourier or fourier_multiscale otherwise")
        if not sigmas_x or not sigmas_t:
            raise ConfigError("fourier_st: give at least one sigma for space and one for time")
        d = ctx.in_dim
        self.t_axis = int(ctx.time_axis)
        self.x_cols = [i for i in range(d) if i != self.t_axis]
        self.norm = Normalize(ctx.lo, ctx.hi)
        self.embeds_x = nn.ModuleList(FourierEmbedding(d - 1, features, s, trainable) for s in sigmas_x)
        self.embeds_t = nn.ModuleList(FourierEmbedding(1, features, s, trainable) for s in sigmas_t)
        self.body = hidden_stack(2 * features, width, depth, activation, init)
        self.head = head(width * len(sigmas_x) * len(sigmas_t), ctx.out_dim, init)

    def forward(self, x):
        z = self.norm(x)
        zx, zt = z[:, self.x_cols], z[:, self.t_axis:self.t_axis + 1]
        hx = [self.body(e(zx)) for e in self.embeds_x]
        ht = [self.body(e(zt)) for e in self.embeds_t]
        return self.head(torch.cat([a * b for a in hx for b in ht], dim=-1))

    def forward_jet(self, jet: Jet) -> Jet:
        z = self.norm.forward_jet(jet)
        zx, zt = z.select(self.x_cols), z.select(slice(self.t_axis, self.t_axis + 1))
        hx = [self.body.forward_jet(e.forward_jet(zx)) for e in self.embeds_x]
        ht = [self.body.forward_jet(e.forward_jet(zt)) for e in self.embeds_t]
        return self.head.forward_jet(Jet.cat([a * b for a in hx for b in ht]))


@dataclass
class FourierST:
    """Spatio-temporal Fourier features: separate embeddings for space and time,
    outputs multiplied (Wang, Wang & Perdikaris, CMAME 2021)."""

    name = "fourier_st"
    features: int = 64
    sigmas_x: tuple[float, ...] = (1.0,)
    sigmas_t: tuple[float, ...] = (1.0,)
    trainable: bool = False
    width: int = 64
    depth: int = 3
    activation: str = "tanh"
    init: str = "xavier_normal"

    def build(self, ctx: ModelContext) -> nn.Module:
        _check_width_depth(self)
        return SpatioTemporalFourierNet(ctx, self.features, tuple(self.sigmas_x), tuple(self.sigmas_t),
                                        self.trainable, self.width, self.depth, self.activation, self.init)


# ------------------------------------------------------------------ modified MLP
class ModifiedMLPNet(nn.Module):
    """U = act(W1 x + b1), V = act(W2 x + b2), H1 = act(Wz1 x + bz1);
    Z_k = act(W_k H_k + b_k), H_{k+1} = (1 - Z_k) U + Z_k V; out = W H + b
    (Wang, Teng & Perdikaris, SIAM J. Sci. Comput. 2021)."""

    def __init__(self, ctx: ModelContext, width: int, depth: int, activation: str, init: str):
        super().__init__()
        self.norm = Normalize(ctx.lo, ctx.hi)
        self.U = Linear(ctx.in_dim, width)
        self.V = Linear(ctx.in_dim, width)
        self.first = Linear(ctx.in_dim, width)
        self.gates = nn.ModuleList(Linear(width, width) for _ in range(depth))
        for lin in [self.U, self.V, self.first, *self.gates]:
            init_linear(lin, init)
        self.act = Activation(activation)
        self.head = head(width, ctx.out_dim, init)

    def forward(self, x):
        z = self.norm(x)
        u, v = self.act(self.U(z)), self.act(self.V(z))
        h = self.act(self.first(z))
        for g in self.gates:
            zk = self.act(g(h))
            h = u + zk * (v - u)
        return self.head(h)

    def forward_jet(self, jet: Jet) -> Jet:
        z = self.norm.forward_jet(jet)
        u = self.act.forward_jet(self.U.forward_jet(z))
        v = self.act.forward_jet(self.V.forward_jet(z))
        vu = v - u
        h = self.act.forward_jet(self.first.forward_jet(z))
        for g in self.gates:
            h = u + self.act.forward_jet(g.forward_jet(h)) * vu
        return self.head.forward_jet(h)


@dataclass
class ModifiedMLP:
    """Modified MLP of Wang, Teng & Perdikaris (SIAM J. Sci. Comput. 2021): two
    encoders U, V and ``depth`` gated layers H = (1 - Z) U + Z V."""

    name = "modified_mlp"
    width: int = 50
    depth: int = 4
    activation: str = "tanh"
    init: str = "xavier_normal"

    def build(self, ctx: ModelContext) -> nn.Module:
        _check_width_depth(self)
        return ModifiedMLPNet(ctx, self.width, self.depth, self.activation, self.init)


__all__ = ["FourierEmbedding", "FourierNet", "Fourier", "MultiscaleFourierNet", "FourierMultiscale",
           "SpatioTemporalFourierNet", "FourierST", "PeriodicEmbedding", "PeriodicNet", "PeriodicMLP",
           "ModifiedMLPNet", "ModifiedMLP", "sincos_jets", "detect_periods"]
