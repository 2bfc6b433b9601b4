"""Interfaces between PI-HC-MoE experts: coupling rows for a joint linear solve, and the
jump of the fields across the cuts (a diagnostic of the mixture; Chalapathi et al., ICLR 2024)."""

from __future__ import annotations

import numpy as np
import torch

from ..jets import Jet
from .moe_solve import ridge_lstsq


class ExpertInterfaces:
    """Mixin of :class:`~pinnlab.models.moe.HCMoENet`: points on the cuts between experts,
    the coupled solve, and :meth:`interface_jump`."""

    def _interfaces(self, n: int, rng) -> None:
        """Points on the cuts between experts and the experts on either side (for coupling rows)."""
        d = len(self.lo)
        pts, axis, left, right = [], [], [], []
        geometry = self.compiled.problem.domain
        for i, s in enumerate(self.splits):
            for j in range(1, s if n > 0 else 1):
                pos = self.lo[i] + (self.hi[i] - self.lo[i]) * j / s
                P = rng.uniform(self.lo, self.hi, size=(8 * n, d))
                P[:, i] = pos
                P = P[geometry.contains(P)][:n]
                eps = 1e-9 * (self.hi[i] - self.lo[i])
                lo_, hi_ = P.copy(), P.copy()
                lo_[:, i] -= eps
                hi_[:, i] += eps
                pts.append(P)
                axis.append(np.full(len(P), i))
                left.append(self.expert_index(torch.as_tensor(lo_)).numpy())
                right.append(self.expert_index(torch.as_tensor(hi_)).numpy())
        self.coupled = bool(pts) and sum(len(p) for p in pts) > 0
        cat = (lambda a, dt: torch.as_tensor(np.concatenate(a), dtype=dt)) if self.coupled else \
            (lambda a, dt: torch.zeros(0, dtype=dt))
        self.register_buffer("iface_points", cat(pts, torch.float32).reshape(-1, d))
        self.register_buffer("iface_axis", cat(axis, torch.long))
        self.register_buffer("iface_left", cat(left, torch.long))
        self.register_buffer("iface_right", cat(right, torch.long))

    def _coupled_solve(self, A, y):
        """One ridge solve over all K x F N coefficients with continuity rows at the cuts."""
        K, R, n = A.shape
        big = torch.block_diag(*A.unbind(0))                                 # (K R, K n)
        x = self.iface_points.to(A.dtype)
        d = x.shape[-1]
        first = tuple(tuple(int(a == i) for a in range(d)) for i in range(d))
        jet = self.basis.forward_jet(Jet.input(x, ((0,) * d,) + first))
        b = jet.value                                                        # (P, F N)
        db = torch.stack([jet.component(a) for a in first], 1)               # (P, d, F N)
        dn = db[torch.arange(x.shape[0], device=x.device), self.iface_axis]  # normal derivative
        onehot = (torch.nn.functional.one_hot(self.iface_left, K)
                  - torch.nn.functional.one_hot(self.iface_right, K)).to(b)   # (P, K)
        scale = (self.interface_weight / x.shape[0]) ** 0.5
        field = torch.arange(n, device=x.device) // self.N                   # column -> field
        rows = []
        for f in range(self.F):
            keep = (field == f).to(b)
            rows += [(onehot[:, :, None] * (v * keep)[:, None, :]).reshape(x.shape[0], K * n) * scale
                     for v in (b, dn)]
        A_all = torch.cat([big] + rows)[None]
        y_all = torch.cat([y.reshape(-1), y.new_zeros(2 * self.F * x.shape[0])])[None]
        return ridge_lstsq(A_all, y_all, self.ridge)[0].view(K, n)

    @torch.no_grad()
    def interface_jump(self, n: int = 200, seed: int = 0) -> dict:
        """Max and RMS jump of the fields across the experts' interfaces, each relative to the
        field's RMS over the domain (largest over fields)."""
        rng = np.random.default_rng(seed)
        omega = self.coefficients()
        jumps = []
        geometry = self.compiled.problem.domain
        for i, s in enumerate(self.splits):
            for j in range(1, s):
                pos = self.lo[i] + (self.hi[i] - self.lo[i]) * j / s
                P = rng.uniform(self.lo, self.hi, size=(4 * n, len(self.lo)))
                P[:, i] = pos
                P = P[geometry.contains(P)][:n]
                if not len(P):
                    continue
                x = torch.as_tensor(P, dtype=self.points.dtype, device=self.points.device)
                b = self.basis(x)
                eps = 1e-9 * (self.hi[i] - self.lo[i])
                left, right = x.clone(), x.clone()
                left[:, i] -= eps
                right[:, i] += eps
                ul = self._combine(b, omega[self.expert_index(left)])
                ur = self._combine(b, omega[self.expert_index(right)])
                jumps.append((ul - ur).abs())
        if not jumps:
            return {"max": 0.0, "rms": 0.0}
        jmp = torch.cat(jumps)                                               # (P, F)
        inside = torch.as_tensor(geometry.sample_interior(n, rng), dtype=self.points.dtype,
                                 device=self.points.device)
        ui = self._combine(self.basis(inside), omega[self.expert_index(inside)])
        ref = ui.pow(2).mean(0).sqrt().clamp_min(1e-300)                     # per field
        rel = jmp / ref
        return {"max": float(rel.max()), "rms": float(rel.pow(2).mean().sqrt())}
