"""Compile a :class:`~pinnlab.problem.Problem` into batched residual functions.

Each equation or condition becomes a :class:`Term`: a closure over torch
operations plus the set of derivatives (field, multi-index) it reads. Terms
evaluated on the same region form a :class:`Block`; a block's derivatives are
computed once per step by the derivative engine and shared by its terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import sympy as sp
import torch
from sympy.core.function import AppliedUndef

from .conditions import Condition, Data, NormalDerivative, Periodic
from .errors import DeclarationError, GeometryError, warn
from .expr import broadcast, namesake, to_torch
from .problem import Problem

CONSTRAINT_KINDS = ("dirichlet", "neumann", "robin", "boundary", "initial", "periodic")


@dataclass
class Batch:
    """Points of one block for one step (tensors on the solver's device)."""

    points: torch.Tensor
    normals: torch.Tensor | None = None
    weights: torch.Tensor | None = None  # per-point loss weights (e.g. a causal gate), detached


@dataclass
class Term:
    name: str
    kind: str
    group: str
    weight: float
    block: str
    where: str
    fn: Callable | None = None
    reads: tuple = ()            # ((field index, multi-index), ...) in dummy order
    data: torch.Tensor | None = None   # observed values for data terms
    periodic: tuple = ()         # ((field index, multi-index), ...) compared across faces


@dataclass
class Block:
    name: str
    region: Any
    kind: str                    # "sampled", "periodic" or "fixed"
    terms: list = field(default_factory=list)
    needs: dict = field(default_factory=dict)
    uses_normals: bool = False
    fixed_points: np.ndarray | None = None

    def add_needs(self, reads) -> None:
        for k, alpha in reads:
            self.needs.setdefault(k, set()).add(alpha)


class PeriodicRegion:
    """Pairs of matching points on the two faces normal to ``axis`` (stacked)."""

    kind = "periodic"

    def __init__(self, geometry, axis: int):
        self.geometry, self.axis, self.dim = geometry, axis, geometry.dim

    def sample(self, n: int, rng, method: str = "uniform"):
        from .geometry import RegionSample
        left, right = self.geometry.periodic_pairs(self.axis, n, rng, method)
        return RegionSample(np.concatenate([left, right]), None)

    def __repr__(self) -> str:
        return f"PeriodicRegion({self.geometry!r}, axis={self.axis})"


class FixedRegion:
    """The fixed observation points of a data term."""

    kind = "data"

    def __init__(self, points: np.ndarray):
        self.points, self.dim = points, points.shape[1]

    def sample(self, n: int, rng, method: str = "uniform"):
        from .geometry import RegionSample
        return RegionSample(self.points, None)


class CompiledProblem:
    """Residual functions of a problem, grouped into blocks of shared points."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.coordinates = problem.coordinates
        self.dim = len(problem.coordinates)
        self.fields = problem.fields
        self.parameters = dict(problem.parameters)
        self.normals = tuple(sp.Dummy(f"n_{c}") for c in self.coordinates)
        self._dummies: dict = {}
        self.blocks: dict[str, Block] = {}
        self.terms: dict[str, Term] = {}
        self._region_blocks: dict[int, str] = {}
        self._read_parameters: set = set()  # the parameters some term's residual reads
        for i, eq in enumerate(problem.equations):
            self._add(eq, i, eq.on if eq.on is not None else "interior")
        for i, cond in enumerate(problem.conditions):
            if isinstance(cond, Periodic):
                self._add_periodic(cond, i)
            elif isinstance(cond, Data):
                self._add_data(cond, i)
            else:
                self._add(cond, i, cond.on if cond.on is not None else "boundary")
        unused = [str(k) for k in self.parameters if k not in self._read_parameters]
        if unused:
            warn(f"problem {problem.name!r}: the learnable parameter(s) {', '.join(unused)} "
                 "appear in no equation or condition, so training leaves them at their "
                 "initial values")

    # ----------------------------------------------------------------- blocks
    def _region(self, on: Any, where: str):
        dom = self.problem.domain
        if isinstance(on, str):
            try:
                region = getattr(dom, on, None)
            except GeometryError as exc:  # e.g. the boundary of a lone TimeInterval
                raise DeclarationError(f"{where}: {exc}") from None
            if region is None:
                hint = " (Initial conditions need a time-dependent domain: geometry * TimeInterval)" \
                    if on == "initial" else ""
                raise DeclarationError(f"{where}: the domain {dom!r} has no {on} region{hint}")
            return region
        if not hasattr(on, "sample"):
            raise DeclarationError(f"{where}: 'on' must be a region of the domain such as "
                                   f"domain.boundary, got {on!r}")
        if getattr(on, "dim", self.dim) != self.dim:
            raise DeclarationError(f"{where}: region {on!r} has {on.dim} dimensions, the domain {self.dim}")
        try:
            probe = on.sample(64, np.random.default_rng(0))
        except GeometryError as exc:
            raise DeclarationError(f"{where}: {exc}") from None
        inside = dom.contains(probe.points, tol=1e-6)
        if not np.all(inside):
            bad = probe.points[~inside][0]
            raise DeclarationError(f"{where}: its region {on!r} lies outside the domain "
                                   f"(e.g. the point {bad.tolist()})")
        return on

    def _block_for(self, on: Any, where: str, name_hint: str) -> Block:
        region = self._region(on, where)
        key = id(region) if not isinstance(on, str) else on
        if key in self._region_blocks:
            return self.blocks[self._region_blocks[key]]
        name = on if isinstance(on, str) else name_hint
        while name in self.blocks:
            name = name + "_"
        block = Block(name, region, "sampled")
        self.blocks[name] = block
        self._region_blocks[key] = name
        return block

    def _new_term(self, obj, index: int, block: Block, where: str, name: str | None = None,
                  **kw) -> Term:
        name = name or obj.default_name(index)
        if name in self.terms:
            raise DeclarationError(f"{where}: two terms are named {name!r}; give them distinct names")
        group = "pde" if obj.kind == "pde" else ("data" if obj.kind == "data" else "constraint")
        weight = float(obj.weight)
        if not np.isfinite(weight) or weight < 0:
            raise DeclarationError(f"{where}: weight must be a finite number >= 0, got {obj.weight!r}")
        term = Term(name, obj.kind, group, weight, block.name, where, **kw)
        self.terms[name] = term
        block.terms.append(name)
        return term

    def _add(self, obj, index: int, on: Any) -> None:
        where = f"{'equation' if obj.kind == 'pde' else 'condition'} {obj.default_name(index)!r}"
        expr = obj.residual(where)
        block = self._block_for(on, where, obj.default_name(index))
        fn, reads, normals = self._compile(expr, where)
        self._check_trainable(expr, reads, where, "" if obj.kind == "pde" else
                              " (a coordinate where a field belongs, e.g. Dirichlet(x, 0)?)")
        if normals:
            sample = block.region.sample(4, np.random.default_rng(0))
            if sample.normals is None:
                raise DeclarationError(f"{where}: uses a normal derivative dn(), but its region "
                                       f"{block.region!r} has no normals (use a boundary region)")
            self._check_normals(block.region, where)
            block.uses_normals = True
        term = self._new_term(obj, index, block, where, fn=fn, reads=reads)
        block.add_needs(term.reads)

    def _check_normals(self, region: Any, where: str) -> None:
        """Refuse the boundary of another geometry whose normals point INTO the domain where it
        lies on the domain's boundary (``hole.boundary`` for ``domain = square - hole``): dn()
        there would be the inward derivative, the opposite of the domain's outward one."""
        dom = self.problem.domain
        if getattr(region, "geometry", dom) is dom:
            return
        s = region.sample(64, np.random.default_rng(0))
        on = dom.on_boundary(s.points)
        if not on.any():
            return  # an interface inside the domain: its own normals are the only ones
        p, n = s.points[on], s.normals[on]
        eps = 1e-6 * dom.scale
        inward = dom.contains(p + eps * n, tol=0) & ~dom.contains(p - eps * n, tol=0)
        if inward.mean() > 0.5:
            raise DeclarationError(
                f"{where}: its region {region!r} lies on the boundary of the domain {dom!r}, but its "
                f"normals are the outward normals of {region.geometry!r}, which point into the "
                "domain there, so dn() would be the inward derivative; name that part of the "
                "domain's boundary with domain.boundary_of(part) (its normals point out of the domain)")

    def _check_trainable(self, expr: sp.Expr, reads: tuple, where: str, hint: str) -> None:
        """A term that reads no field and no learnable parameter is a constant loss."""
        if not reads and not (expr.free_symbols & set(self.parameters)):
            raise DeclarationError(f"{where}: its residual {expr} involves no field "
                                   f"{list(self.fields)} and no learnable parameter, so training "
                                   f"cannot change it{hint}")

    def _add_periodic(self, cond: Periodic, index: int) -> None:
        where = f"condition {cond.default_name(index)!r}"
        if cond.coordinate not in self.coordinates:
            raise DeclarationError(f"{where}: {cond.coordinate} is not a coordinate {self.coordinates}")
        axis = self.coordinates.index(cond.coordinate)
        if axis == self.problem.time_axis:
            raise DeclarationError(f"{where}: periodicity in time is not supported")
        if int(cond.derivatives) < 0:
            raise DeclarationError(f"{where}: derivatives must be >= 0, got {cond.derivatives}")
        fields = cond.fields if isinstance(cond.fields, (list, tuple)) else [cond.fields]
        pairs = []
        for f in fields:
            k = self._field_index(f, where)
            for m in range(int(cond.derivatives) + 1):
                alpha = tuple(m if i == axis else 0 for i in range(self.dim))
                pairs.append((k, alpha))
        try:
            self.problem.domain.periodic_pairs(axis, 2, np.random.default_rng(0))
        except GeometryError as exc:
            raise DeclarationError(f"{where}: {exc}") from None
        name = cond.default_name(index)
        if cond.name is None and (name in self.blocks or name in self.terms):
            # a second periodic condition along the same axis (other fields): name it by them
            name = f"{name}_{'_'.join(str(self.fields[k].func) for k in dict.fromkeys(k for k, _ in pairs))}"
        block = Block(name, PeriodicRegion(self.problem.domain, axis), "periodic")
        if block.name in self.blocks:
            raise DeclarationError(f"{where}: two terms are named {block.name!r}")
        self.blocks[block.name] = block
        term = self._new_term(cond, index, block, where, name=name, periodic=tuple(pairs))
        block.add_needs(term.periodic)

    def _add_data(self, cond: Data, index: int) -> None:
        where = f"data term {cond.default_name(index)!r}"
        pts, vals = cond.checked_arrays(self.dim, where)
        outside = ~self.problem.domain.contains(pts, tol=1e-6)
        if outside.any():
            warn(f"{where}: {int(outside.sum())} of {len(pts)} observation points lie outside "
                 "the domain; they are used as given")
        expr = cond.residual(where)
        fn, reads, normals = self._compile(expr, where)
        if normals:
            raise DeclarationError(f"{where}: observation data cannot use dn() (no normals at data points)")
        self._check_trainable(expr, reads, where, " (Data(expr, points, values) observes an "
                              "expression of the fields, e.g. Data(u, ...))")
        block = Block(cond.default_name(index), FixedRegion(pts), "fixed", fixed_points=pts)
        if block.name in self.blocks:
            raise DeclarationError(f"{where}: two terms are named {block.name!r}")
        self.blocks[block.name] = block
        term = self._new_term(cond, index, block, where, fn=fn, reads=reads,
                              data=torch.as_tensor(vals, dtype=torch.float64))
        block.add_needs(term.reads)

    # ------------------------------------------------------------ expressions
    def _field_index(self, f: Any, where: str) -> int:
        for i, g in enumerate(self.fields):
            if f == g or f == g.func:
                return i
        raise DeclarationError(f"{where}: {f} is not a declared field {list(self.fields)}")

    def _dummy(self, k: int, alpha: tuple) -> sp.Dummy:
        key = (k, alpha)
        if key not in self._dummies:
            self._dummies[key] = sp.Dummy(f"d{k}_{'_'.join(map(str, alpha))}")
        return self._dummies[key]

    def _compile(self, expr: sp.Expr, where: str):
        """Return ``(fn, reads, uses_normals)`` for one residual expression."""
        expr = expr.subs(self.problem.constants)
        uses_normals = expr.has(NormalDerivative)
        if uses_normals:
            expr = expr.replace(lambda e: isinstance(e, NormalDerivative),
                                lambda e: sum(n * sp.diff(e.args[0], c)
                                              for n, c in zip(self.normals, self.coordinates)))
        expr = self._real_fields(expr)
        self._check_locality(expr, where)
        for d in expr.atoms(sp.Derivative):
            for var, count in d.variable_count:
                if not count.is_Integer:
                    raise DeclarationError(f"{where}: {d} has the order {count}; a derivative's "
                                           "order must be a whole number")
                if var not in self.coordinates:
                    raise DeclarationError(f"{where}: derivative with respect to {var}, which is not "
                                           f"a coordinate {self.coordinates}")
        expr = expr.doit()
        subs = {}
        for d in expr.atoms(sp.Derivative):
            subs[d] = self._derivative_dummy(d, where)
        for f in expr.atoms(AppliedUndef):
            if f.func not in [g.func for g in self.fields]:
                raise DeclarationError(f"{where}: {f} is not a declared field (declared: "
                                       f"{', '.join(map(str, self.fields))})")
            k = self._field_index(f.func, where)
            if tuple(f.args) != self.coordinates:
                raise DeclarationError(f"{where}: field {f.func} is called with {f.args}; it must be "
                                       f"called with the coordinates {self.coordinates} (impose values "
                                       "on a region with a condition instead)")
            subs[f] = self._dummy(k, (0,) * self.dim)
        reduced = expr.xreplace(subs)
        allowed = set(self.coordinates) | set(self.parameters) | set(self.normals) | set(subs.values())
        for s in reduced.free_symbols:
            if s not in allowed:
                known = set(self.coordinates) | set(self.parameters) | set(self.problem.constants)
                raise DeclarationError(
                    f"{where}: unknown symbol {s} in {expr}; it is neither a coordinate "
                    f"{self.coordinates}, a field, a parameter {tuple(self.parameters)} nor a constant "
                    f"(give its value in constants=){namesake(s, known)}")
        leftovers = [a for a in reduced.atoms(sp.Function) if isinstance(a, AppliedUndef)]
        if leftovers:
            raise DeclarationError(f"{where}: cannot compile {leftovers[0]}")
        reads = tuple(key for key, d in self._dummies.items() if d in subs.values())
        self._read_parameters |= reduced.free_symbols & set(self.parameters)
        symbols = list(self.coordinates) + list(self.parameters) + list(self.normals) \
            + [self._dummies[key] for key in reads]
        try:
            fn = to_torch(reduced, symbols, where=where)
        except DeclarationError as exc:  # name the user's derivatives, not pinnlab's placeholders
            message = str(exc)
            for original, dummy in sorted(subs.items(), key=lambda kv: -len(str(kv[1]))):
                message = message.replace(str(dummy), str(original))
            raise DeclarationError(message) from None
        return fn, reads, uses_normals

    def _is_real_atom(self, e: sp.Basic) -> bool:
        """A coordinate, a parameter, a field or a field's derivative: what SymPy's re() and
        im() stop at when it does not know them to be real."""
        if e in self.coordinates or e in self.parameters:
            return True
        while isinstance(e, sp.Derivative):
            e = e.expr
        return isinstance(e, AppliedUndef) and e.func in [g.func for g in self.fields]

    def _real_fields(self, expr: sp.Expr) -> sp.Expr:
        """``re(a) -> a``, ``im(a) -> 0``, ``conjugate(a) -> a`` for coordinates, parameters,
        fields and their derivatives, which pinnlab's are all real.

        SymPy's symbols and functions are complex unless declared real, so it differentiates
        ``Abs(u)`` to ``(re(u) d re(u) + im(u) d im(u)) / Abs(u)`` and writes
        ``real_root(x, 3)`` with a branch on ``Eq(im(x), 0)``.
        """
        if not expr.has(sp.re, sp.im, sp.conjugate):
            return expr
        return expr.replace(
            lambda e: isinstance(e, (sp.re, sp.im, sp.conjugate)) and self._is_real_atom(e.args[0]),
            lambda e: sp.S.Zero if isinstance(e, sp.im) else e.args[0])

    def _check_locality(self, expr: sp.Expr, where: str) -> None:
        """Refuse a field read away from the point: ``u(2x, y)``, ``u_x(0, y)`` (SymPy's Subs)."""
        for s in expr.atoms(sp.Subs):
            done = s.doit()
            if not done.has(sp.Subs) and all(f.args == self.coordinates for f in done.atoms(AppliedUndef)
                                             if f.func in [g.func for g in self.fields]):
                continue
            at = dict(zip(s.variables, s.point))
            args = next((f.args for f in s.expr.atoms(AppliedUndef)), ())
            # SymPy's bound dummies (_xi_1) shown as the coordinate in their place
            named = {a: c for a, c in zip(args, self.coordinates) if a in at}
            shown = s.expr.xreplace(named)
            point = tuple(a.xreplace(at) for a in args)
            raise DeclarationError(
                f"{where}: {shown} is evaluated at ({', '.join(map(str, point))}), not at the "
                f"coordinates {self.coordinates}; a residual reads the fields at the point itself "
                "(impose values elsewhere, e.g. at x = 0, with a condition on a region)")

    def _derivative_dummy(self, d: sp.Derivative, where: str) -> sp.Dummy:
        f = d.expr
        if not isinstance(f, AppliedUndef) or f.func not in [g.func for g in self.fields]:
            raise DeclarationError(f"{where}: cannot differentiate {f}: derivatives must be of "
                                   f"declared fields {list(self.fields)}")
        if tuple(f.args) != self.coordinates:
            raise DeclarationError(f"{where}: field {f.func} is called with {f.args}; it must be "
                                   f"called with the coordinates {self.coordinates}")
        alpha = [0] * self.dim
        for var, count in d.variable_count:
            if var not in self.coordinates:
                raise DeclarationError(f"{where}: derivative with respect to {var}, which is not a "
                                       f"coordinate {self.coordinates}")
            alpha[self.coordinates.index(var)] += int(count)
        return self._dummy(self._field_index(f.func, where), tuple(alpha))

    # -------------------------------------------------------------- evaluate
    def residuals(self, model, engine, batches: dict[str, Batch],
                  params: dict[sp.Symbol, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Residual vector of every term whose block has a batch."""
        out: dict[str, torch.Tensor] = {}
        active = [(name, block, batches[name]) for name, block in self.blocks.items() if name in batches]
        multi = getattr(engine, "multi", None)
        fused = multi(model, [(b.points, blk.needs) for _, blk, b in active]) if multi else None
        for i, (name, block, batch) in enumerate(active):
            derivs = fused[i] if fused is not None else engine(model, batch.points, block.needs)
            if block.kind == "periodic":
                half = batch.points.shape[0] // 2
                for tname in block.terms:
                    term = self.terms[tname]
                    out[tname] = torch.cat([derivs[key][:half] - derivs[key][half:]
                                            for key in term.periodic])
                continue
            env = {c: batch.points[:, i] for i, c in enumerate(self.coordinates)}
            env.update(params)
            if block.uses_normals and batch.normals is not None:
                env.update({n: batch.normals[:, i] for i, n in enumerate(self.normals)})
            for key, d in self._dummies.items():
                if key in derivs:
                    env[d] = derivs[key]
            like = batch.points[:, 0]
            for tname in block.terms:
                term = self.terms[tname]
                r = broadcast(term.fn(env)[0], like)
                if term.data is not None:
                    r = r - term.data.to(r)
                out[tname] = r
        return out

    def needs_time(self) -> bool:
        return self.problem.time_axis is not None
