"""Exact-constraint transform: Dirichlet and initial conditions by construction.

u(x) = A(x) + M(x) N(x) with N any inner network and, per field,

* Dirichlet on the whole boundary, value g:   A = g,              M = phi(x)
* initial value u0 at t = t0:                 A = u0,             M = t - t0
* both:                                       A = g + u0 - g|t0,  M = phi(x) (t - t0)
* an initial value u0 AND an initial time derivative v0 (second order in time,
  e.g. the wave equation): A = u0 + (t - t0) v0, M = (t - t0)^2; with a
  Dirichlet condition as well, A = g + (u0 - g|t0) + (t - t0) (v0 - g_t|t0) and
  M = phi(x) (t - t0)^2

* Dirichlet data given part by part (``on=domain.boundary_of(primitive)``, parts
  covering the whole boundary, no time axis): A is the transfinite interpolation
  A = sum_i g_i prod_{j != i} phi_j / sum_k prod_{j != k} phi_j, with phi_i the
  distance to part i (|ADF| of its primitive), and M = phi(x). A equals g_i on
  part i; where two parts meet it is singular, so use it when the parts are
  disjoint (holes in a plate) or the data agree there.

where phi is the geometry's approximate distance function (``domain.distance``,
R-functions for CSG; for space x time the spatial distance), zero on the
boundary. The value expressions are evaluated inside the domain, which extends
them off the boundary. With both conditions the boundary holds exactly when the
data are compatible (u0 = g(., t0) and v0 = g_t(., t0) on the boundary); the
initial conditions always hold exactly. (Lagaris, Likas & Fotiadis, IEEE TNN 1998; Sukumar &
Srivastava, "Exact imposition of boundary conditions with distance functions in
physics-informed deep neural networks", CMAME 2022.)

Jet rule: A is a SymPy expression, differentiated symbolically; M does not
depend on network parameters, so its derivatives come from nested
``torch.autograd.grad`` on detached points; both combine with the network's jet
by the Leibniz rule. The forward jet assumes it receives the coordinate jet
(this transform is the outermost layer).

The built module exposes ``exact_terms``: the names of the problem's terms that
hold by construction (the solver may drop them from the loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp
import torch
from sympy.core.function import AppliedUndef
from torch import nn

from ..errors import ConfigError, warn
from ..expr import to_torch
from ..jets import Jet, order
from .mlp import ModelContext


def _whole_boundary(on: Any, domain: Any) -> bool:
    if on is None:
        return True
    from ..geometry import BoundaryRegion
    return (isinstance(on, BoundaryRegion) and on.label is None and on.geometry is domain
            and not getattr(on, "_predicates", ()))


def _solved_for(expr: sp.Expr, target: sp.Expr, fields: list):
    """For ``expr = c * target - rest`` (c constant, rest free of fields): (field index, rest / c)."""
    call = target.expr if isinstance(target, sp.Derivative) else target
    idx = [i for i, g in enumerate(fields) if g.func == call.func]
    if not idx:
        return None
    s = sp.Dummy("f")
    e = expr.xreplace({target: s})
    if e.atoms(AppliedUndef):
        return None
    coef = sp.diff(e, s)
    if coef.free_symbols or coef == 0 or sp.diff(e, s, 2) != 0:
        return None
    return idx[0], sp.simplify(-e.subs(s, 0) / coef)


def _field_value(expr: sp.Expr, fields: list, where: str):
    """For a residual ``c * f - rest`` with f a field and rest free of fields: (index, rest / c)."""
    funcs = list(expr.atoms(AppliedUndef))
    if expr.atoms(sp.Derivative) or len(funcs) != 1:
        return None
    return _solved_for(expr, funcs[0], fields)


def _velocity_value(expr: sp.Expr, fields: list, t: sp.Symbol):
    """For a residual ``c * d f/dt - rest`` (rest free of fields): (index, rest / c)."""
    ders = list(expr.atoms(sp.Derivative))
    if len(ders) != 1 or len(expr.atoms(AppliedUndef)) != 1:
        return None
    d = ders[0]
    if d.variables != (t,) or not isinstance(d.expr, AppliedUndef):
        return None
    return _solved_for(expr, d, fields)


def _primitive_part(on: Any, domain: Any):
    """The source primitives of a ``boundary_of(...)`` part of ``domain`` (else None)."""
    from ..geometry import BoundaryRegion
    if (not isinstance(on, BoundaryRegion) or on.geometry is not domain or on.label is None
            or not on.label.startswith("boundary_of(") or getattr(on, "_predicates", ())):
        return None
    return on.pieces


def _piecewise(parts: list, domain: Any):
    """Parts [(pieces, value, name)] of one field that tile the whole boundary, else None.

    Parts are compared by the primitives their pieces come from."""
    def sources(pieces) -> list:
        out: list = []
        for pc in pieces:
            if not any(pc.source is s_ for s_ in out):
                out.append(pc.source)
        return out
    every = sources(domain._boundary_pieces())
    seen: list = []
    out = []
    for pieces, value, name in parts:
        src = sources(pieces)
        if any(s_ is q for s_ in src for q in seen):
            return None                      # overlapping parts
        seen += src
        out.append((tuple(src), value, name))
    if len(seen) != len(every) or not all(any(s_ is q for q in seen) for s_ in every):
        return None
    return out


def constraint_plan(problem) -> dict:
    """Which fields get Dirichlet / initial data, and the terms they satisfy."""
    from ..conditions import Condition
    coords = list(problem.coordinates)
    m = len(problem.fields)
    dirichlet: dict[int, sp.Expr] = {}
    initial: dict[int, sp.Expr] = {}
    velocity: dict[int, tuple[sp.Expr, str]] = {}
    parts: dict[int, list] = {}
    exact: set[str] = set()
    t_axis = problem.time_axis
    for i, c in enumerate(problem.conditions):
        if not isinstance(c, Condition) or c.kind not in ("dirichlet", "initial"):
            continue
        where = f"condition {c.default_name(i)!r}"
        residual = c.residual(where).subs(problem.constants)
        got = _field_value(residual, problem.fields, where)
        if got is None:
            if c.kind == "initial" and t_axis is not None:
                t = coords[t_axis]
                vel = _velocity_value(residual, problem.fields, t)
                if vel is not None and vel[1].free_symbols <= set(coords) and vel[0] not in velocity:
                    velocity[vel[0]] = (vel[1].subs(t, float(problem.domain.bounds[0][t_axis])),
                                        c.default_name(i))
            continue
        k, value = got
        if not value.free_symbols <= set(coords):
            continue                          # depends on learnable parameters: stays soft
        if c.kind == "dirichlet":
            if not _whole_boundary(c.on, problem.domain) or k in dirichlet:
                pieces = _primitive_part(c.on, problem.domain)
                if pieces is not None and t_axis is None:
                    parts.setdefault(k, []).append((pieces, value, c.default_name(i)))
                continue
            dirichlet[k] = value
        else:
            if t_axis is None or k in initial:
                continue
            t = coords[t_axis]
            initial[k] = value.subs(t, float(problem.domain.bounds[0][t_axis]))
        exact.add(c.default_name(i))
    piecewise = {}
    for k, ps in parts.items():
        tiling = _piecewise(ps, problem.domain) if k not in dirichlet else None
        if tiling is not None:
            piecewise[k] = [(src, value) for src, value, _ in tiling]
            exact |= {name for _, _, name in tiling}
    # an initial velocity is imposed only together with the field's initial value
    velocity = {k: v for k, v in velocity.items() if k in initial}
    exact |= {name for _, name in velocity.values()}
    return {"fields": m, "dirichlet": dirichlet, "initial": initial, "piecewise": piecewise,
            "velocity": {k: v for k, (v, _) in velocity.items()}, "exact": exact}


class HardConstraintNet(nn.Module):
    """u = A(x) + M(x) * inner(x) (see the module docstring)."""

    #: the distance functions' derivatives come from nested autograd on detached points,
    #: which torch.func transforms refuse: solve(compile=True) compiles the residuals only
    fusable = False

    def __init__(self, inner: nn.Module, problem, plan: dict):
        super().__init__()
        self.inner = inner
        self.domain = problem.domain
        self.coords = list(problem.coordinates)
        self.t_axis = problem.time_axis
        self.t0 = float(problem.domain.bounds[0][self.t_axis]) if self.t_axis is not None else 0.0
        m = plan["fields"]
        self.kinds = []
        self.second_order = []   # per field: initial velocity imposed too (multiplier (t - t0)^2)
        A = []
        for k in range(m):
            g, u0 = plan["dirichlet"].get(k), plan["initial"].get(k)
            v0 = plan.get("velocity", {}).get(k)
            self.second_order.append(v0 is not None)
            if v0 is not None:
                t = self.coords[self.t_axis]
                tau = t - self.t0
                if g is not None:
                    g0, gt0 = g.subs(t, self.t0), sp.diff(g, t).subs(t, self.t0)
                    A.append(g + (u0 - g0) + tau * (v0 - gt0))
                    self.kinds.append("both")
                else:
                    A.append(u0 + tau * v0)
                    self.kinds.append("initial")
            elif g is not None and u0 is not None:
                t = self.coords[self.t_axis]
                A.append(g + u0 - g.subs(t, self.t0))
                self.kinds.append("both")
            elif g is not None:
                A.append(g)
                self.kinds.append("dirichlet")
            elif k in plan.get("piecewise", {}):
                A.append(sp.Integer(0))          # computed numerically (_piecewise_values)
                self.kinds.append("dirichlet")
            elif u0 is not None:
                A.append(u0)
                self.kinds.append("initial")
            else:
                A.append(sp.Integer(0))
                self.kinds.append("none")
        self.A = A
        self.piecewise = {}
        for k, ps in plan.get("piecewise", {}).items():
            fns = to_torch([v for _, v in ps], self.coords, where=f"hard constraint values of field {k}")
            self.piecewise[k] = ([src for src, _ in ps], fns)
        self.exact_terms: set[str] = set(plan["exact"])
        self._runs: dict = {}
        self._value_run = to_torch(A, self.coords, where="hard constraint values")

    # ----------------------------------------------------------- pieces
    def _multiplier(self, x: torch.Tensor) -> torch.Tensor:
        """M(x), shape (n, m)."""
        cols = []
        phi = tp = None
        for kind, second in zip(self.kinds, self.second_order):
            if kind == "none":
                cols.append(torch.ones_like(x[:, 0]))
                continue
            if kind in ("dirichlet", "both") and phi is None:
                phi = self.domain.distance(x)
            if kind in ("initial", "both") and tp is None:
                tp = x[:, self.t_axis] - self.t0
            tk = tp * tp if second else tp
            cols.append(phi if kind == "dirichlet" else tk if kind == "initial" else phi * tk)
        return torch.stack(cols, dim=-1)

    def _values(self, x: torch.Tensor) -> torch.Tensor:
        env = {c: x[:, i] for i, c in enumerate(self.coords)}
        like = x[:, 0]
        cols = [v if isinstance(v, torch.Tensor) else torch.full_like(like, float(v))
                for v in self._value_run(env)]
        for k in self.piecewise:
            cols[k] = self._piecewise_values(x, k)
        return torch.stack([c.expand_as(like) for c in cols], dim=-1)

    def _piecewise_values(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Transfinite interpolation of the parts' data (see the module docstring)."""
        sources, fns = self.piecewise[k]
        env = {c: x[:, i] for i, c in enumerate(self.coords)}
        g = [v if isinstance(v, torch.Tensor) else torch.full_like(x[:, 0], float(v)) for v in fns(env)]
        phis = []
        for src in sources:
            d = None
            for prim in src:
                di = prim.distance(x).abs()
                d = di if d is None else d * di
            phis.append(d)
        num = torch.zeros_like(x[:, 0])
        den = torch.zeros_like(x[:, 0])
        for i in range(len(phis)):
            w = torch.ones_like(x[:, 0])
            for j, ph in enumerate(phis):
                if j != i:
                    w = w * ph
            num = num + g[i] * w
            den = den + w
        tiny = torch.finfo(x.dtype).tiny
        return num / (den + tiny)

    def forward(self, x):
        out = self.inner(x)
        if out.ndim == 1:
            out = out.unsqueeze(-1)
        return self._values(x) + self._multiplier(x) * out

    # -------------------------------------------------------------- jets
    @torch.compiler.disable  # SymPy work, once per set of multi-indices: not for Dynamo to trace
    def _derivative_run(self, key: tuple):
        """The derivatives of the imposed values A for the multi-indices ``key``, compiled."""
        run = self._runs.get(key)
        if run is None:
            exprs = []
            for alpha in key:
                for e in self.A:
                    d = e
                    for c, n in zip(self.coords, alpha):
                        if n:
                            d = sp.diff(d, c, n)
                    exprs.append(d)
            run = (to_torch(exprs, self.coords, where="hard constraint values"), exprs)
            self._runs[key] = run
        return run

    def _value_jet(self, x: torch.Tensor, indices) -> Jet:
        fn, exprs = self._runs.get(tuple(indices)) or self._derivative_run(tuple(indices))
        vals = fn({c: x[:, i] for i, c in enumerate(self.coords)})
        m = len(self.A)
        comps = {}
        for j, alpha in enumerate(indices):
            cols = vals[j * m:(j + 1) * m]
            ex = exprs[j * m:(j + 1) * m]
            if order(alpha) > 0 and all(e == 0 for e in ex):
                continue
            full = any(isinstance(v, torch.Tensor) and v.ndim > 0 for v in cols)
            like = x[:, 0] if full or order(alpha) == 0 else x[:1, 0]
            comps[alpha] = torch.stack([v.expand_as(like) if isinstance(v, torch.Tensor)
                                        else torch.full_like(like, float(v)) for v in cols], dim=-1)
        return Jet(indices, comps)

    def _multiplier_jet(self, x: torch.Tensor, indices) -> Jet:
        """Derivatives of M by nested autograd on detached points (no parameter dependence)."""
        return self._autograd_jet(self._multiplier, x, indices)

    @staticmethod
    def _autograd_jet(fn, x: torch.Tensor, indices) -> Jet:
        """Derivatives of a parameter-free ``fn(x) -> (n, m)`` by nested autograd."""
        with torch.enable_grad():
            xd = x.detach().requires_grad_(True)
            M = fn(xd)
            cache = {indices[0]: M}
            grads: dict = {}
            for alpha in indices[1:]:
                i = max(j for j, a in enumerate(alpha) if a > 0)
                parent = alpha[:i] + (alpha[i] - 1,) + alpha[i + 1:]
                if parent not in grads:
                    base, cols = cache[parent], []
                    for k in range(base.shape[-1]):
                        b = base[:, k]
                        g = None
                        if b.requires_grad:
                            g = torch.autograd.grad(b.sum(), xd, create_graph=True, allow_unused=True)[0]
                        cols.append(torch.zeros_like(xd) if g is None else g)
                    grads[parent] = torch.stack(cols, dim=-1)        # (n, d, m)
                cache[alpha] = grads[parent][:, i, :]
        return Jet(indices, {a: v.detach() for a, v in cache.items()})

    def forward_jet(self, jet: Jet) -> Jet:
        x = jet.value
        net = self.inner.forward_jet(jet)
        values = (self._autograd_jet(self._values, x, jet.indices) if self.piecewise
                  else self._value_jet(x, jet.indices))
        return values + self._multiplier_jet(x, jet.indices) * net


@dataclass
class Hard:
    """Exact-constraint wrapper (``hard=True``): ``model`` is the inner model spec
    (an instance, a registry name or a ``{"name": ..., ...}`` dict).

    Dirichlet conditions on the whole boundary whose value is an expression of
    the coordinates, and initial values of a field, are imposed by
    construction; other conditions stay in the loss.
    """

    name = "hard"
    model: Any = "mlp"

    def build(self, ctx: ModelContext) -> nn.Module:
        from .. import config as cfg
        problem = ctx.extra.get("problem")
        if problem is None:
            raise ConfigError("hard: the exact-constraint transform needs the problem "
                              "(ModelContext.extra['problem'])")
        inner_spec = cfg.build("model", self.model)
        if isinstance(inner_spec, nn.Module):
            inner = inner_spec
        else:
            inner = inner_spec.build(ctx)
        plan = constraint_plan(problem)
        if not plan["exact"]:
            raise ConfigError("hard: the problem has no Dirichlet condition on the whole boundary (or on "
                              "boundary_of(...) parts that tile it) and no "
                              "initial value condition to impose exactly")
        from ..conditions import Condition
        soft = [c.default_name(i) for i, c in enumerate(problem.conditions)
                if isinstance(c, Condition) and c.kind in ("dirichlet", "initial")
                and c.default_name(i) not in plan["exact"]]
        if soft:
            warn(f"hard: {', '.join(soft)} stay in the loss (soft): exact imposition covers "
                 "Dirichlet data on the whole boundary, boundary_of(...) parts that tile it "
                 "(problems without a time axis), initial values and velocities, with values "
                 "that depend on the coordinates only")
        return HardConstraintNet(inner, problem, plan)


__all__ = ["Hard", "HardConstraintNet", "constraint_plan"]
