"""Physics-Informed Gaussians (PIG).

Kang, Park, Lee, Park & Park, "PIG: Physics-Informed Gaussians as Adaptive
Parametric Mesh Representations", ICLR 2025 (code:
NamGyuKang/Physics-Informed-Gaussians).

N learnable Gaussians G_i(x) = exp(-1/2 ||A_i (x - mu_i)||^2) (A_i = diag(1/sigma_i),
or a learnable lower-triangular factor of the precision for full covariances),
each with a learnable feature vector w_i in R^K; the feature embedding
FE(x) = sum_i w_i G_i(x) feeds a tiny MLP (K -> 16 tanh -> outputs).
Initialisation as in the paper: mu uniform over the domain box, sigma constant,
w ~ N(0, 0.01^2). The Gaussians live in the normalised box [-1, 1]^d.

Evaluation is one batched tensor expression of cost O(points x Gaussians x d)
(no Python loop over points). With ``nearest = k > 0`` each point uses only its
k Gaussians of largest G_i(x) (found without gradients, in chunks), so the
differentiable part costs O(points x k).

Jet rule: the exponent q(x) = -1/2 sum_e r_e(x)^2 with r = A (x - mu) affine in
x is a quadratic whose jet follows from Leibniz products; G = exp(q) by Faa di
Bruno with exp's derivative stack (every derivative of exp is exp(q)).
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


class GaussianFeatures(nn.Module):
    """FE(z) = sum_i w_i exp(-1/2 ||A_i (z - mu_i)||^2), z in [-1, 1]^d; output (n, channels)."""

    def __init__(self, in_dim: int, gaussians: int, channels: int, sigma: float,
                 full_covariance: bool = False, nearest: int = 0, chunk: int = 4096):
        super().__init__()
        if gaussians < 1 or channels < 1:
            raise ConfigError(f"pig: gaussians and channels must be >= 1, got {gaussians}, {channels}")
        if not sigma > 0:
            raise ConfigError(f"pig: sigma must be > 0, got {sigma}")
        if nearest < 0:
            raise ConfigError(f"pig: nearest must be >= 0 (0 = every Gaussian), got {nearest}")
        d = in_dim
        self.dim, self.n, self.full = d, gaussians, bool(full_covariance)
        self.nearest = min(int(nearest), gaussians)
        self.chunk = int(chunk)
        self.mu = nn.Parameter(torch.rand(gaussians, d) * 2 - 1)
        if self.full:
            self.A = nn.Parameter(torch.eye(d).repeat(gaussians, 1, 1) / sigma)
        else:
            self.log_sigma = nn.Parameter(torch.full((gaussians, d), math.log(sigma)))
        self.w = nn.Parameter(torch.randn(gaussians, channels) * 0.01)

    # ---------------------------------------------------------- parameters
    def precision_factor(self) -> torch.Tensor:
        """(N, d, d) lower-triangular A_i (diagonal 1/sigma_i when not full)."""
        if self.full:
            return torch.tril(self.A)
        return torch.diag_embed(torch.exp(-self.log_sigma))

    def _params(self, z: torch.Tensor):
        """Per-point (B, M, ...) views: B = 1 and M = N for the full evaluation,
        B = n and M = k for the nearest-k evaluation."""
        coef = torch.tril(self.A) if self.full else torch.exp(-self.log_sigma)
        if not self.nearest:
            return self.mu[None], coef[None], self.w[None], None
        idx = self._nearest_index(z.detach())
        return self.mu[idx], coef[idx], self.w[idx], idx

    @torch.no_grad()
    def _nearest_index(self, z: torch.Tensor) -> torch.Tensor:
        """For each point, the indices of its ``nearest`` Gaussians of largest exponent."""
        out = []
        mu = self.mu.detach()
        if self.full:
            A = torch.tril(self.A.detach())
        else:
            a = torch.exp(-2 * self.log_sigma.detach())          # 1/sigma^2, (N, d)
            c = (mu * mu * a).sum(-1)
        for s in range(0, z.shape[0], self.chunk):
            zc = z[s:s + self.chunk]
            if self.full:
                r = torch.einsum("med,nmd->nme", A, zc[:, None, :] - mu[None])
                q = -0.5 * (r * r).sum(-1)
            else:
                q = -0.5 * ((zc * zc) @ a.T - 2 * zc @ (mu * a).T + c)
            out.append(torch.topk(q, self.nearest, dim=-1).indices)
        return torch.cat(out)

    # ------------------------------------------------------------- forward
    def gaussians(self, z: torch.Tensor):
        """G (n, M) and the per-point weights (B, M, K)."""
        mu, coef, w, _ = self._params(z)
        diff = z[:, None, :] - mu                                   # (n, M, d)
        if self.full:
            r = (coef * diff[:, :, None, :]).sum(-1)                 # (n, M, d)
        else:
            r = diff * coef
        return torch.exp(-0.5 * (r * r).sum(-1)), w

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        G, w = self.gaussians(z)
        if w.shape[0] == 1:
            return G @ w[0]
        return torch.einsum("nm,nmk->nk", G, w)

    @staticmethod
    def _diagonal_input_scales(jet: Jet):
        """Per-axis scales c when the jet is z_e = c_e x_e + b_e (e.g. Normalize of the coordinates)."""
        dim = jet.value.shape[-1]
        if len(jet.indices[0]) != dim or torch.compiler.is_compiling():
            return None  # reading the scales is data-dependent: a graph break under compile
        scales = [0.0] * dim
        for alpha, v in jet.c.items():
            k = sum(alpha)
            if k == 0:
                continue
            if k > 1 or v.shape[0] != 1:
                return None
            i = alpha.index(1)
            row = v[0].detach().tolist()
            if any(val != 0 for j, val in enumerate(row) if j != i):
                return None
            scales[i] = row[i]
        return scales

    def _hermite_jet(self, jet: Jet, scales, mu, coef, w) -> Jet:
        """Closed form for diagonal Gaussians of a diagonal affine input:
        d^alpha G = G prod_e (-c_e / s_e)^alpha_e He_alpha_e(r_e), r = (z - mu) / s
        (probabilists' Hermite polynomials He_{k+1} = r He_k - k He_{k-1})."""
        z = jet.value
        r = (z[:, None, :] - mu) * coef                               # (n, M, d)
        G = torch.exp(-0.5 * (r * r).sum(-1))
        kmax = jet.max_order
        factors = []
        for e in range(self.dim):
            re = r[..., e]
            he = [None, re]
            for k in range(1, kmax):
                he.append(re * he[k] - (k * he[k - 1] if k > 1 else 1.0))
            step = -scales[e] * coef[..., e]
            pw = [None, step]
            for k in range(2, kmax + 1):
                pw.append(pw[-1] * step)
            factors.append([None] + [he[k] * pw[k] for k in range(1, kmax + 1)])
        out = {}
        for alpha in jet.indices:
            if any(a and scales[e] == 0 for e, a in enumerate(alpha)):
                continue
            comp = G
            for e, a in enumerate(alpha):
                if a:
                    comp = comp * factors[e][a]
            out[alpha] = comp @ w[0] if w.shape[0] == 1 else torch.einsum("nm,nmk->nk", comp, w)
        return Jet(jet.indices, out)

    def forward_jet(self, jet: Jet) -> Jet:
        z = jet.value
        mu, coef, w, _ = self._params(z)
        if not self.full:
            scales = self._diagonal_input_scales(jet)
            if scales is not None:
                return self._hermite_jet(jet, scales, mu, coef, w)
        return self._generic_jet(jet, mu, coef, w)

    def _generic_jet(self, jet: Jet, mu, coef, w) -> Jet:
        """Any input jet: r = A (z - mu) by linear maps, q = -1/2 |r|^2 by Leibniz, G = exp(q)."""
        zero = jet.indices[0]
        r_jets = []
        for e in range(self.dim):
            comps = {}
            for alpha, v in jet.c.items():
                if self.full:
                    a = coef[..., e, :]                               # (B, M, d)
                    if alpha == zero:
                        comps[alpha] = ((v[:, None, :] - mu) * a).sum(-1)
                    else:
                        comps[alpha] = (v[:, None, :] * a).sum(-1)
                else:
                    a = coef[..., e]                                  # (B, M)
                    if alpha == zero:
                        comps[alpha] = (v[:, e:e + 1] - mu[..., e]) * a
                    else:
                        comps[alpha] = v[:, e:e + 1] * a
            r_jets.append(Jet(jet.indices, comps))
        q = r_jets[0] * r_jets[0]
        for r in r_jets[1:]:
            q = q + r * r
        q = q * (-0.5)
        g = torch.exp(q.value)
        G = q.compose([g] * (jet.max_order + 1))
        out = {}
        for alpha, v in G.c.items():
            if w.shape[0] == 1:
                out[alpha] = v @ w[0]
            else:
                out[alpha] = torch.einsum("nm,nmk->nk", v.expand(w.shape[0], -1), w)
        return Jet(jet.indices, out)

    def extra_repr(self) -> str:
        return (f"gaussians={self.n}, dim={self.dim}, channels={self.w.shape[1]}, full={self.full}, "
                f"nearest={self.nearest or 'all'}")


class PIGNet(nn.Module):
    """Normalize -> Gaussian features -> (Linear -> act) x depth -> Linear."""

    def __init__(self, ctx: ModelContext, gaussians: int, channels: int, sigma: float, full: bool,
                 nearest: int, hidden: int, depth: int, activation: str):
        super().__init__()
        self.norm = Normalize(ctx.lo, ctx.hi)
        self.features = GaussianFeatures(ctx.in_dim, gaussians, channels, sigma, full, nearest)
        layers: list[nn.Module] = []
        sizes = [channels] + [hidden] * depth
        for a, b in zip(sizes[:-1], sizes[1:]):
            lin = Linear(a, b)
            init_linear(lin, "xavier_normal")
            layers += [lin, Activation(activation)]
        out = Linear(sizes[-1], ctx.out_dim)
        init_linear(out, "xavier_normal")
        layers.append(out)
        self.mlp = Sequential(*layers)

    def forward(self, x):
        return self.mlp(self.features(self.norm(x)))

    def forward_jet(self, jet: Jet) -> Jet:
        return self.mlp.forward_jet(self.features.forward_jet(self.norm.forward_jet(jet)))


@dataclass
class PIG:
    """Physics-Informed Gaussians (Kang et al., ICLR 2025).

    ``gaussians`` N, ``channels`` K (feature size of each Gaussian), initial
    ``sigma`` in normalised coordinates ([-1, 1]^d), ``full_covariance`` for a
    learnable lower-triangular precision factor, ``nearest`` k > 0 to evaluate
    only each point's k most significant Gaussians; the MLP has ``depth``
    hidden layers of ``hidden`` units.
    """

    name = "pig"
    gaussians: int = 400
    channels: int = 4
    sigma: float = 0.1
    full_covariance: bool = False
    nearest: int = 0
    hidden: int = 16
    depth: int = 1
    activation: str = "tanh"

    def build(self, ctx: ModelContext) -> nn.Module:
        if self.hidden < 1 or self.depth < 0:
            raise ConfigError(f"pig: hidden must be >= 1 and depth >= 0, got {self.hidden}, {self.depth}")
        return PIGNet(ctx, self.gaussians, self.channels, self.sigma, self.full_covariance, self.nearest,
                      self.hidden, self.depth, self.activation)


__all__ = ["GaussianFeatures", "PIGNet", "PIG"]
