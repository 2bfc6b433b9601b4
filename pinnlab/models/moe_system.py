"""The constraint rows of PI-HC-MoE experts, assembled from a compiled problem.

Expert k owns constraint points per sampled block (interior points for the PDE,
boundary / initial points for the conditions). With the fields written as
u_f(x) = b_f(x) . omega_{k,f} (a basis of N functions per field), every term's
residual at the expert's points, weighted by sqrt(weight / points of the expert),
is one row of r(omega). :class:`ExpertSystem` evaluates those rows (and their
Jacobian) for the nonlinear solve, or assembles r = A omega - y directly when the
problem is linear in its fields.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..expr import broadcast
from ..jets import Jet


@dataclass
class ExpertBlock:
    """One sampled block's points, stacked per expert: x, normals (K, m, d); mask (K, m)."""

    name: str
    needs: dict            # field index -> set of multi-indices the block's terms read
    closure: tuple         # multi-indices of the basis jet (downward closed)
    terms: list
    x: torch.Tensor
    normals: torch.Tensor
    mask: torch.Tensor

    def subset(self, sl: slice, device) -> "ExpertBlock":
        return replace(self, x=self.x[sl].to(device), normals=self.normals[sl].to(device),
                       mask=self.mask[sl].to(device))


class ExpertSystem:
    """Rows r(omega) of every expert's least-squares problem (see the module docstring).

    ``inputs`` (the tensors that carry the network parameters) are the basis jets:
    one (K, m, F, N) tensor per block and multi-index of its closure, in order, from
    :meth:`basis_inputs`.
    """

    def __init__(self, compiled, blocks: list[ExpertBlock], fields: int, basis: int, ridge: float,
                 lm_iterations: int = 50, lm_tol: float = 1e-9, lm_hessian: str = "exact"):
        self.compiled = compiled
        self.blocks = blocks
        self.F, self.N = int(fields), int(basis)
        self.K = int(blocks[0].x.shape[0])
        self.ridge = float(ridge)
        self.lm_iterations = int(lm_iterations)
        self.lm_tol = float(lm_tol)
        self.lm_hessian = lm_hessian
        self.lm_report = None

    def subset(self, sl: slice, device) -> "ExpertSystem":
        """The system of experts ``sl`` with its data on ``device``."""
        return ExpertSystem(self.compiled, [b.subset(sl, device) for b in self.blocks], self.F, self.N,
                            self.ridge, self.lm_iterations, self.lm_tol, self.lm_hessian)

    # --------------------------------------------------------------- inputs
    def basis_inputs(self, basis) -> list[torch.Tensor]:
        out = []
        for blk in self.blocks:
            K, m, d = blk.x.shape
            jet = basis.forward_jet(Jet.input(blk.x.reshape(-1, d), blk.closure))
            out += [jet.component(a).reshape(K, m, self.F, self.N) for a in blk.closure]
        return out

    def _split(self, inputs):
        it = iter(inputs)
        return [{a: next(it) for a in blk.closure} for blk in self.blocks]

    def _scale(self, blk: ExpertBlock, term) -> torch.Tensor:
        count = blk.mask.sum(-1, keepdim=True).clamp_min(1.0)
        return (blk.mask * term.weight / count).sqrt()                      # (K, m)

    def _env(self, blk: ExpertBlock, column: bool) -> dict:
        comp = self.compiled
        d = blk.x.shape[-1]
        x, nrm = blk.x.reshape(-1, d), blk.normals.reshape(-1, d)
        cut = (lambda a, i: a[:, i:i + 1]) if column else (lambda a, i: a[:, i])
        env = {c: cut(x, i) for i, c in enumerate(comp.coordinates)}
        env.update({s: cut(nrm, i) for i, s in enumerate(comp.normals)})
        return env

    def _dummies(self, blk: ExpertBlock):
        for key, dummy in self.compiled._dummies.items():
            if key[1] in blk.needs.get(key[0], ()):
                yield key, dummy

    # ----------------------------------------------------------------- rows
    def rows(self, omega: torch.Tensor, inputs, jacobian: bool = False):
        """r (K, R) at omega (K, F N); with ``jacobian`` also J = dr/domega (K, R, F N)."""
        K, F, N = self.K, self.F, self.N
        om = omega.view(K, 1, F, N)
        rs, Js = [], []
        for blk, comps in zip(self.blocks, self._split(inputs)):
            m = blk.x.shape[1]
            env = self._env(blk, column=False)
            values = {}
            for (f, alpha), dummy in self._dummies(blk):
                values[(f, alpha)] = env[dummy] = (comps[alpha][:, :, f] * om[:, :, f]).sum(-1).reshape(-1)
            like = blk.x[..., 0].reshape(-1)
            for tname in blk.terms:
                term = self.compiled.terms[tname]
                r = broadcast(term.fn(env)[0], like).reshape(K, m) * self._scale(blk, term)
                rs.append(r)
                if not jacobian:
                    continue
                J = r.new_zeros(K, m, F, N)
                keys = [k for k in term.reads if k in values]
                if keys and r.requires_grad:
                    grads = torch.autograd.grad(r.sum(), [values[k] for k in keys], retain_graph=True,
                                                allow_unused=True)
                    for (f, alpha), gD in zip(keys, grads):
                        if gD is not None:
                            J[:, :, f] += gD.view(K, m, 1) * comps[alpha][:, :, f]
                Js.append(J.reshape(K, m, F * N))
        r = torch.cat(rs, dim=1)
        return (r, torch.cat(Js, dim=1)) if jacobian else r

    def linear_system(self, inputs):
        """A (K, R, F N), y (K, R) with r(omega) = A omega - y, for problems linear in the fields.

        Column (f, j) is the residual of u_f = b_{f,j} (other fields 0) minus the residual of u = 0.
        """
        K, F, N = self.K, self.F, self.N
        rows_A, rows_y = [], []
        for blk, comps in zip(self.blocks, self._split(inputs)):
            m = blk.x.shape[1]
            env0 = self._env(blk, column=True)
            zero = torch.zeros_like(env0[self.compiled.coordinates[0]])
            dummies = list(self._dummies(blk))
            for _, dummy in dummies:
                env0[dummy] = zero
            for tname in blk.terms:
                term = self.compiled.terms[tname]
                scale = self._scale(blk, term).reshape(-1, 1)
                r0 = _as_col(term.fn(env0)[0], zero)
                cols = []
                for f in range(F):
                    env1 = dict(env0)
                    for (g, alpha), dummy in dummies:
                        if g == f:
                            env1[dummy] = comps[alpha][:, :, f].reshape(K * m, N)
                    r1 = _as_full(term.fn(env1)[0], zero.expand(K * m, N))
                    cols.append(((r1 - r0) * scale).view(K, m, N))
                rows_A.append(torch.cat(cols, dim=-1))
                rows_y.append((-r0 * scale).view(K, m))
        return torch.cat(rows_A, dim=1), torch.cat(rows_y, dim=1)


def _as_col(v, like):
    if not isinstance(v, torch.Tensor):
        return torch.full_like(like, float(v))
    v = v if v.ndim == 2 else v.reshape(-1, 1)
    return v.expand(like.shape[0], 1) if v.shape[0] != like.shape[0] else v


def _as_full(v, like):
    if not isinstance(v, torch.Tensor):
        return torch.full_like(like, float(v))
    if v.ndim == 1:
        v = v.reshape(-1, 1)
    return v.expand_as(like)


__all__ = ["ExpertBlock", "ExpertSystem"]
