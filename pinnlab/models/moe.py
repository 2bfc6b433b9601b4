"""Physics-informed hard-constraint mixture of experts (PI-HC-MoE).

Chalapathi, Du & Krishnapriyan, "Scaling physics-informed hard constraints with
mixture-of-experts", ICLR 2024.

A basis network b(x) in R^(F N) (N functions per field) is shared by K experts
(a grid over the domain's bounding box). Expert k owns constraint points in its
box (interior points for the PDE, boundary / initial points for the conditions)
and its coefficients

    omega_k = argmin_w  sum_terms  weight / m_k |r_term,k(w)|^2 + ridge |w|^2,

where r_term,k(w) is the term's residual of u_f = b_f . w_f at the expert's
points; u(x) = b(x) . omega_{k(x)}. When every equation and condition is affine in
the fields (checked symbolically) r = A w - y and all experts are solved in one
batched QR solve; otherwise by a bounded Levenberg-Marquardt iteration per
expert, batched over experts and warm-started from the previous solution.
Gradients flow through either solve by the implicit function theorem
(:mod:`pinnlab.models.moe_solve`), not by unrolling iterations.

Scope: periodic and data terms are not part of the expert solve (they stay in
the loss); learnable problem parameters are not supported. Without coupling, an
elliptic problem split into experts is ill-posed per expert (nothing ties the
pieces together at the cuts); ``interface_points`` adds continuity rows and
solves all experts of a linear problem jointly, ``overlap`` shares constraint
points between neighbours (both remedies beyond the paper; ``interface_jump()``
measures the jump). The constraint points are drawn once at build time (seeded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import sympy as sp
import torch
from sympy.core.function import AppliedUndef
from torch import nn

from ..errors import ConfigError, warn
from ..jets import Jet, downward_closure
from .mlp import MLPNet, ModelContext
from .moe_solve import LMReport, LMSolve, RidgeLstsq, levenberg_marquardt, ridge_lstsq  # noqa: F401
from .moe_interfaces import ExpertInterfaces
from .moe_system import ExpertBlock, ExpertSystem


def _nonlinear_term(problem) -> str | None:
    """The first equation or condition (as text) that is not affine in the fields, or None."""
    from ..conditions import Condition
    exprs = [e.residual("equation") for e in problem.equations]
    exprs += [c.residual("condition") for c in problem.conditions if isinstance(c, Condition)]
    for e in exprs:
        e = e.subs(problem.constants).doit()
        atoms = list(e.atoms(sp.Derivative)) + [f for f in e.atoms(AppliedUndef)]
        dummies = {a: sp.Dummy() for a in atoms}
        red = e.xreplace({a: dummies[a] for a in atoms if isinstance(a, sp.Derivative)})
        red = red.xreplace({a: dummies[a] for a in atoms if not isinstance(a, sp.Derivative)})
        ds = set(dummies.values())
        if any(sp.diff(red, d).free_symbols & ds for d in ds):
            return str(e)
    return None


class HCMoENet(ExpertInterfaces, nn.Module):
    """u_f(x) = b_f(x) . omega_{k(x), f} with omega solved per expert (see the module docstring)."""

    #: the expert solves are autograd.Functions with their own backward (implicit function
    #: theorem), which torch.func transforms refuse: solve(compile=True) compiles the residuals
    fusable = False

    def __init__(self, basis: nn.Module, problem, lo, hi, experts, points: int, boundary_points: int,
                 ridge: float, seed: int, overlap: float = 0.0, interface_points: int = 0,
                 interface_weight: float = 100.0, solver: str = "auto", lm_iterations: int = 50,
                 lm_tol: float | None = None, devices: tuple = (), lm_hessian: str = "exact"):
        super().__init__()
        compiled = problem.compile()
        if compiled.parameters:
            raise ConfigError("hc_moe: problems with learnable parameters are not supported")
        nonlinear = _nonlinear_term(problem)
        if solver not in ("auto", "lstsq", "lm"):
            raise ConfigError(f"hc_moe: solver must be 'auto', 'lstsq' or 'lm', got {solver!r}")
        if solver == "lstsq" and nonlinear:
            raise ConfigError(f"hc_moe: {nonlinear} = 0 is not linear in the fields; the 'lstsq' solver "
                              "needs a linear problem (use solver='lm' or 'auto')")
        self.solver = "lm" if solver == "lm" or (solver == "auto" and nonlinear) else "lstsq"
        if lm_iterations < 1:
            raise ConfigError(f"hc_moe: lm_iterations must be >= 1, got {lm_iterations}")
        self.lm_iterations = int(lm_iterations)
        if lm_hessian not in ("exact", "gauss_newton"):
            raise ConfigError(f"hc_moe: lm_hessian must be 'exact' or 'gauss_newton', got {lm_hessian!r}")
        self.lm_hessian = lm_hessian
        self.lm_tol = lm_tol
        self.lm_report = None
        self.devices = tuple(str(dv) for dv in devices)
        for dv in self.devices:
            try:
                dev = torch.device(dv)
            except RuntimeError as exc:
                raise ConfigError(f"hc_moe: devices: {dv!r} is not a torch device ({exc})") from None
            if dev.type == "cuda" and (not torch.cuda.is_available()
                                       or (dev.index or 0) >= torch.cuda.device_count()):
                raise ConfigError(f"hc_moe: devices: {dv!r} is not available here "
                                  f"({torch.cuda.device_count()} CUDA devices); use () or 'cpu'")
        self.basis = basis
        self.compiled = compiled
        self.F = len(problem.fields)
        self.ridge = float(ridge)
        d = len(problem.coordinates)
        experts = tuple(int(e) for e in experts)
        if len(experts) == 1:
            experts = experts * d
        if len(experts) != d or min(experts) < 1:
            raise ConfigError(f"hc_moe: experts must give a count >= 1 per axis ({d} axes), got {experts}")
        self.splits = experts
        if overlap < 0:
            raise ConfigError(f"hc_moe: overlap must be >= 0, got {overlap}")
        self.overlap = float(overlap)
        self.interface_weight = float(interface_weight)
        self.K = int(np.prod(experts))
        if self.devices and len(self.devices) > self.K:
            raise ConfigError(f"hc_moe: {len(self.devices)} devices for {self.K} experts; give at most one "
                              "device per expert")
        self.lo = [float(v) for v in lo]
        self.hi = [float(v) for v in hi]
        rng = np.random.default_rng(seed)
        self.blocks = []          # (block name, m per expert, needs, closure, terms)
        pts, nrm, msk = [], [], []
        for name, block in compiled.blocks.items():
            if block.kind != "sampled":
                continue
            m = points if name == "interior" else boundary_points
            P, Nn, M = self._expert_points(block.region, m, rng)
            closure = downward_closure(set().union(*block.needs.values()) if block.needs else set(), d)
            self.blocks.append((name, m, dict(block.needs), tuple(closure), list(block.terms)))
            pts.append(P)
            nrm.append(Nn)
            msk.append(M)
        if not self.blocks:
            raise ConfigError("hc_moe: the problem has no sampled equations or conditions to solve for")
        # stacked (K, m_b) per block, flattened block after block
        self.register_buffer("points", torch.cat([torch.as_tensor(p.reshape(-1, d)) for p in pts]).float())
        self.register_buffer("normals", torch.cat([torch.as_tensor(n.reshape(-1, d)) for n in nrm]).float())
        self.register_buffer("mask", torch.cat([torch.as_tensor(m.reshape(-1)) for m in msk]).float())
        self._interfaces(int(interface_points), rng)
        self._warn_if_undetermined(msk, int(interface_points), interface_weight)
        if self.coupled and self.solver == "lm":
            raise ConfigError("hc_moe: interface_points couples the experts in one linear solve, which "
                              "nonlinear problems do not have; use overlap to reduce interface jumps")
        with torch.no_grad():
            width = int(basis(self.points[:1]).shape[-1])
        if width % self.F:
            raise ConfigError(f"hc_moe: the basis has {width} outputs, not a multiple of the {self.F} fields")
        self.N = width // self.F
        # the last solution, detached: the next nonlinear solve starts from it (saved in checkpoints)
        self.register_buffer("omega_warm", torch.zeros(self.K, width))
        self._cache = None

    def _warn_if_undetermined(self, masks: list, interface_points: int, interface_weight: float) -> None:
        """Experts that own no boundary or initial point solve the PDE alone: without coupling
        their coefficients are not determined by the problem's conditions (e.g. the later-time
        experts of an evolution problem get no initial data and settle on any PDE solution)."""
        if interface_points <= 0 and interface_weight != 100.0:
            warn("hc_moe: interface_weight has no effect without interface_points > 0")
        if self.coupled or self.overlap > 0 or self.K == 1:
            return
        has = np.zeros(self.K, dtype=bool)
        for (name, *_), m in zip(self.blocks, masks):
            if name != "interior":
                has |= np.asarray(m).reshape(self.K, -1).astype(bool).any(axis=1)
        lonely = int((~has).sum())
        if lonely:
            fix = ("interface_points=64 (couples the experts in one solve)" if self.solver == "lstsq"
                   else "overlap=0.25 (shares constraint points between neighbours)")
            warn(f"hc_moe: {lonely} of {self.K} experts (split {self.splits}) own no boundary "
                 "or initial point, so nothing but the PDE determines their solution and "
                 f"the result can be wrong while the loss is small; use {fix}, or split "
                 "fewer axes (experts=(2, 1) keeps time whole)")

    # ------------------------------------------------------------ experts
    def expert_index(self, x: torch.Tensor) -> torch.Tensor:
        k = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        for i, n in enumerate(self.splits):
            span = self.hi[i] - self.lo[i]
            idx = torch.clamp(torch.floor((x[:, i].detach() - self.lo[i]) / span * n), 0, n - 1).long()
            k = k * n + idx
        return k

    def _expert_boxes_contain(self, P: np.ndarray) -> np.ndarray:
        """(K, n) membership of points in each expert's box, widened by ``overlap`` of its width."""
        out = np.ones((self.K, P.shape[0]), dtype=bool)
        grids = np.stack(np.meshgrid(*[np.arange(n) for n in self.splits], indexing="ij"), -1)
        grids = grids.reshape(-1, len(self.splits))                        # expert -> cell index (row major)
        for i, n in enumerate(self.splits):
            width = (self.hi[i] - self.lo[i]) / n
            a = self.lo[i] + grids[:, i] * width - self.overlap * width
            b = a + width + 2 * self.overlap * width
            out &= (P[None, :, i] >= a[:, None]) & (P[None, :, i] <= b[:, None])
        return out

    def _expert_points(self, region, m: int, rng):
        """(K, m, d) points per expert, normals and a 0/1 mask for padding."""
        d = len(self.lo)
        pool = region.sample(max(m * self.K * 4, 64), rng)
        P = pool.points
        Nn = pool.normals if pool.normals is not None else np.zeros_like(P)
        inside = self._expert_boxes_contain(P)                             # (K, pool)
        out_p = np.zeros((self.K, m, d))
        out_n = np.zeros((self.K, m, d))
        mask = np.zeros((self.K, m))
        for e in range(self.K):
            sel = np.flatnonzero(inside[e])[:m]
            out_p[e, :len(sel)] = P[sel]
            out_n[e, :len(sel)] = Nn[sel]
            mask[e, :len(sel)] = 1.0
            if len(sel) < m:            # padding rows: any point, weight 0
                out_p[e, len(sel):] = P[sel[0]] if len(sel) else P[0]
        return out_p, out_n, mask

    # --------------------------------------------------------------- solve
    def expert_system(self) -> ExpertSystem:
        """The experts' constraint rows (:class:`~pinnlab.models.moe_system.ExpertSystem`)."""
        blocks, start = [], 0
        d = self.points.shape[-1]
        for name, m, needs, closure, terms in self.blocks:
            n_b = self.K * m
            sl = slice(start, start + n_b)
            start += n_b
            blocks.append(ExpertBlock(name, needs, closure, terms, self.points[sl].view(self.K, m, d),
                                      self.normals[sl].view(self.K, m, d), self.mask[sl].view(self.K, m)))
        tol = self.lm_tol if self.lm_tol is not None else (1e-9 if self.points.dtype == torch.float64
                                                           else 1e-4)
        return ExpertSystem(self.compiled, blocks, self.F, self.N, self.ridge, self.lm_iterations, tol,
                            self.lm_hessian)

    def system(self):
        """The batched least-squares system A (K, R, F N), y (K, R) of a linear problem."""
        es = self.expert_system()
        return es.linear_system(es.basis_inputs(self.basis))

    def _chunks(self):
        """(expert slice, device) pairs: all experts on the model's device, or split over ``devices``."""
        if not self.devices:
            return [(slice(0, self.K), self.points.device)]
        bounds = np.linspace(0, self.K, len(self.devices) + 1).round().astype(int)
        return [(slice(int(a), int(b)), torch.device(dv)) for a, b, dv in zip(bounds[:-1], bounds[1:],
                                                                             self.devices)]

    def coefficients(self) -> torch.Tensor:
        """omega (K, F N): K independent solves (linear or Levenberg-Marquardt), or one joint
        linear solve with interface coupling rows.

        A loss evaluates the model once per block of points; those calls share one solve:
        the result is reused while the basis parameters are unchanged (compared by value)
        and no backward pass has gone through it yet.
        """
        params = [p.detach() for p in self.basis.parameters()]
        hit = self._cache
        if (hit is not None and hit[0] == torch.is_grad_enabled() and len(hit[1]) == len(params)
                and all(a.dtype == b.dtype and a.device == b.device and torch.equal(a, b)
                        for a, b in zip(hit[1], params))):
            return hit[2]
        omega = self._solve()
        self._cache = (torch.is_grad_enabled(), [p.clone() for p in params], omega)
        if omega.requires_grad:
            omega.register_hook(self._forget)
        return omega

    def __getstate__(self):
        """Copies and pickles leave the cached solve (and its autograd graph) behind."""
        state = dict(super().__getstate__())
        state["_cache"] = None
        return state

    def _forget(self, grad):
        """Backward hook: the cached solve's graph is being consumed; the next call solves again."""
        self._cache = None

    def _solve(self) -> torch.Tensor:
        es = self.expert_system()
        inputs = es.basis_inputs(self.basis)
        home = self.points.device
        if self.solver == "lstsq":
            A, y = es.linear_system(inputs)
            if self.coupled:
                return self._coupled_solve(A, y)
            return torch.cat([ridge_lstsq(A[sl].to(dev), y[sl].to(dev), self.ridge).to(home)
                              for sl, dev in self._chunks()])
        warm = self.omega_warm.to(inputs[0].dtype)
        out, reports = [], []
        for sl, dev in self._chunks():
            sub = es if dev == home and sl == slice(0, self.K) else es.subset(sl, dev)
            out.append(LMSolve.apply(sub, warm[sl].to(dev), *[t[sl].to(dev) for t in inputs]).to(home))
            reports.append(sub.lm_report)
        omega = torch.cat(out)
        if torch.is_grad_enabled():
            # only training evaluations move the warm start: an evaluation or prediction between
            # steps (eval_every, callbacks, the final score before the checkpoint) must not change
            # the training that follows, nor make a resumed run differ from an uninterrupted one
            with torch.no_grad():
                self.omega_warm.copy_(omega.detach())
        self.lm_report = LMReport(max(r.iterations for r in reports), all(r.converged for r in reports),
                                  max(r.objective for r in reports), max(r.gradient for r in reports))
        return omega

    def _combine(self, b: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """(P, F N) basis values and (P, F N) coefficients -> (P, F) field values."""
        return (b * W).view(b.shape[0], self.F, self.N).sum(-1)

    def forward(self, x):
        omega = self.coefficients()
        return self._combine(self.basis(x), omega[self.expert_index(x)])

    def forward_jet(self, jet: Jet) -> Jet:
        omega = self.coefficients()
        W = omega[self.expert_index(jet.value)]
        bj = self.basis.forward_jet(jet)
        return Jet(jet.indices, {a: self._combine(v, W) for a, v in bj.c.items()})

    # ---------------------------------------------------------- diagnostics
@dataclass
class HCMoE:
    """PI-HC-MoE (Chalapathi, Du & Krishnapriyan, ICLR 2024).

    ``basis`` N basis functions per field from an MLP (``width`` x ``depth``), ``experts``
    splits per axis (one number: every axis), ``points`` interior and
    ``boundary_points`` condition points per expert, ``ridge`` regularisation,
    ``overlap`` > 0 widens each expert's box for its constraint points by that
    fraction of its width on every side (neighbours share points near interfaces,
    which reduces the jump of u across them; ``interface_jump()`` measures it);
    ``interface_points`` > 0 couples the experts instead: continuity of u and of its
    normal derivative at that many points per cut enters one joint ridge solve
    over all K x N coefficients (dense, so for modest K N), weighted by
    ``interface_weight`` against the mean-squared PDE and condition rows (linear
    problems only).
    ``solver``: ``"auto"`` (linear least squares when every equation and condition
    is affine in the fields, Levenberg-Marquardt otherwise), ``"lstsq"`` or ``"lm"``;
    ``lm_iterations`` bounds the Levenberg-Marquardt steps per solve and
    ``lm_tol`` its relative stopping tolerance (default 1e-9 in float64, 1e-4 in
    float32); each solve starts from the previous solution. ``lm_hessian``:
    ``"exact"`` (default; converges quadratically even when the residual stays
    large) or ``"gauss_newton"`` (the paper's J^T J, cheaper per step).
    ``devices``: solve contiguous groups of experts on these devices (for example
    ``("cuda:0", "cuda:1")``); the basis network stays on the model's device.
    """

    name = "hc_moe"
    basis: int = 32
    width: int = 32
    depth: int = 3
    activation: str = "tanh"
    experts: tuple[int, ...] = (2,)
    points: int = 256
    boundary_points: int = 64
    ridge: float = 1e-4
    overlap: float = 0.0
    interface_points: int = 0
    interface_weight: float = 100.0
    solver: str = "auto"
    lm_iterations: int = 50
    lm_tol: Optional[float] = None
    lm_hessian: str = "exact"
    devices: tuple[str, ...] = ()
    seed: int = 0

    def build(self, ctx: ModelContext) -> nn.Module:
        problem = ctx.extra.get("problem")
        if problem is None:
            raise ConfigError("hc_moe needs the problem (ModelContext.extra['problem'])")
        if self.basis < 1 or self.points < 1 or self.boundary_points < 1 or not self.ridge > 0:
            raise ConfigError("hc_moe: basis, points and boundary_points must be >= 1 and ridge > 0")
        net = MLPNet(ctx.in_dim, self.basis * ctx.out_dim, self.width, self.depth, self.activation, "xavier_normal",
                     ctx.lo, ctx.hi)
        return HCMoENet(net, problem, ctx.lo, ctx.hi, self.experts, self.points, self.boundary_points,
                        self.ridge, self.seed, self.overlap, self.interface_points,
                        self.interface_weight, self.solver, self.lm_iterations, self.lm_tol,
                        tuple(self.devices), self.lm_hessian)


__all__ = ["HCMoE", "HCMoENet", "LMSolve", "RidgeLstsq", "levenberg_marquardt", "ridge_lstsq"]
