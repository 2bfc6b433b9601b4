"""Problem declarations: fields, equations, conditions, parameters, data.

A :class:`Problem` is pure declaration. :meth:`Problem.compile` checks it and
returns a :class:`~pinnlab.compiler.CompiledProblem` that evaluates residuals.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from .conditions import Condition, Data, Periodic, as_residual
from .errors import DataError, DeclarationError


@dataclass
class Equation:
    """A PDE residual on the domain's interior (or on ``on``)."""

    expr: Any
    name: str | None = None
    weight: float = 1.0
    on: Any = None
    kind: str = "pde"

    def residual(self, where: str) -> sp.Expr:
        return as_residual(self.expr, where)

    def default_name(self, index: int) -> str:
        return self.name or f"pde{index}"


def _fields_in(exprs: Sequence[sp.Expr]) -> list[sp.Expr]:
    """The undefined functions of ``exprs`` in order of appearance, each as first applied to
    plain symbols where it is (``u(x, y)`` rather than the ``u(_xi_1, y)`` inside SymPy's
    ``Subs`` for ``u(2x, y)``, or ``u(0, y)``)."""
    seen: dict = {}
    for e in exprs:
        for f in sp.preorder_traversal(e):
            if isinstance(f, AppliedUndef) and not isinstance(f, sp.Derivative):
                plain = all(isinstance(a, sp.Symbol) and not isinstance(a, sp.Dummy) for a in f.args)
                if f.func not in seen or (plain and not seen[f.func][1]):
                    seen[f.func] = (f, plain)
    return [f for f, _ in seen.values()]


def _by_column(reference: Any) -> bool:
    """Whether a reference gives its fields as columns (a function of points, or points and
    values), so that it depends on the order of the fields."""
    if reference is None or isinstance(reference, (Mapping, sp.Basic, str, int, float)):
        return False
    return callable(reference) or hasattr(reference, "values")


class Problem:
    """A PDE problem declared with SymPy.

    Parameters
    ----------
    equations:
        SymPy ``Eq`` objects or expressions (= 0), or :class:`Equation` objects.
    conditions:
        :class:`Condition` (``Dirichlet``, ``Neumann``, ``Robin``, ``Initial``),
        :class:`Periodic` and :class:`Data` objects.
    domain:
        A geometry from :mod:`pinnlab.geometry`; its coordinates follow the order of
        ``coordinates``.
    fields:
        The unknown functions, e.g. ``[u, v, p]`` with ``u = Function("u")(x, y)``;
        default: every undefined function in the equations, in order of appearance in
        SymPy's canonical form (not necessarily the order written: declare ``fields`` when
        the order matters; a column-wise reference requires it). The order is that of
        ``predict``'s columns. Unknown coefficient fields (inverse problems) are simply more
        fields.
    coordinates:
        The independent variables in the domain's axis order; default: the
        arguments of the first field.
    parameters:
        Learnable constants ``{symbol: initial value}`` (inverse problems).
    constants:
        Known constants ``{symbol: value}``, substituted before compiling.
    reference:
        For evaluation: a SymPy expression (one field) or ``{field: expression}``
        (exact solution), a callable ``f(points) -> (n, n_fields)`` array, or an
        object with ``points`` and ``values`` arrays (e.g. PINNacle data).
    parameter_reference:
        True values of learnable parameters ``{symbol: value}``, reported after solving.
    """

    def __init__(self, equations: Sequence[Any], conditions: Sequence[Any] = (), *, domain: Any,
                 fields: Sequence[sp.Expr] | None = None,
                 coordinates: Sequence[sp.Symbol] | None = None,
                 parameters: Mapping[sp.Symbol, float] | None = None,
                 constants: Mapping[sp.Symbol, float] | None = None,
                 reference: Any = None,
                 parameter_reference: Mapping[sp.Symbol, float] | None = None,
                 name: str = "problem"):
        self.name = name
        self.domain = domain
        for what, seq in (("equations", equations), ("conditions", conditions),
                          ("fields", fields if fields is not None else ())):
            if isinstance(seq, (str, sp.Basic, Condition, Periodic, Data)) or not hasattr(seq, "__iter__"):
                raise DeclarationError(f"problem {name!r}: {what} must be a list, got {seq!r}; "
                                       f"write {what}=[...]")
        self.equations = [e if isinstance(e, Equation) else Equation(e) for e in equations]
        self.conditions = list(conditions)
        if not self.equations and not self.conditions:
            raise DeclarationError(f"problem {name!r} has no equations and no conditions")
        for c in self.conditions:
            if not isinstance(c, (Condition, Periodic, Data)):
                raise DeclarationError(f"problem {name!r}: {c!r} is not a condition "
                                       "(use Condition, Dirichlet, Neumann, Robin, Initial, Periodic or Data)")
        exprs = [e.residual(f"equation {i}") for i, e in enumerate(self.equations)]
        exprs += [c.residual(f"condition {i}") for i, c in enumerate(self.conditions)
                  if not isinstance(c, Periodic)]
        self.fields = list(fields) if fields is not None else _fields_in(exprs)
        if fields is None and len(self.fields) > 1 and _by_column(reference):
            found = ", ".join(str(f.func) for f in self.fields)
            raise DeclarationError(
                f"problem {name!r}: the reference gives columns, but the field order ({found}) was "
                "inferred from the equations in SymPy's canonical order, not the order you wrote "
                f"them; declare fields=[...] in the order of the reference's columns (or give the "
                "reference as {field: expression})")
        if not self.fields:
            raise DeclarationError(f"problem {name!r}: no unknown field found; declare fields such as "
                                   "u = sympy.Function('u')(x, t)")
        for f in self.fields:
            if not isinstance(f, AppliedUndef):
                raise DeclarationError(f"problem {name!r}: field {f} must be an applied undefined "
                                       "function such as sympy.Function('u')(x, t)")
        self.coordinates = tuple(coordinates) if coordinates is not None else tuple(self.fields[0].args)
        self._check_coordinates()
        names = [str(f.func) for f in self.fields]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DeclarationError(f"problem {name!r}: field {repeated[0]} is declared more than once "
                                   f"in fields={self.fields}")
        for kind, table in (("parameters", parameters), ("constants", constants),
                            ("parameter_reference", parameter_reference)):
            for s in (table or {}):
                if not isinstance(s, sp.Symbol):
                    raise DeclarationError(f"problem {name!r}: {kind} keys must be SymPy Symbols, got "
                                           f"{s!r} ({type(s).__name__}); use sympy.Symbol({str(s)!r})")
                if s in self.coordinates:
                    raise DeclarationError(f"problem {name!r}: {s} in {kind} is a coordinate")
        both = sorted(set(parameters or {}) & set(constants or {}), key=str)
        if both:
            raise DeclarationError(f"problem {name!r}: {both[0]} is both a learnable parameter and a "
                                   "constant; declare it in one of parameters= or constants=")
        unknown = sorted(set(parameter_reference or {}) - set(parameters or {}), key=str)
        if unknown:
            raise DeclarationError(f"problem {name!r}: parameter_reference names {unknown[0]}, which is "
                                   "not a learnable parameter (parameters=)")
        self.parameters = {s: _finite(v, f"parameter {s}") for s, v in (parameters or {}).items()}
        self.constants = {s: _finite(v, f"constant {s}") for s, v in (constants or {}).items()}
        self.parameter_reference = dict(parameter_reference or {})
        self.reference = reference

    def _check_coordinates(self) -> None:
        coords = self.coordinates
        for c in coords:
            if not isinstance(c, sp.Symbol):
                raise DeclarationError(f"problem {self.name!r}: coordinate {c} is not a Symbol "
                                       f"(field {self.fields[0]} must be called with symbols)")
        if len(set(coords)) != len(coords):
            raise DeclarationError(f"problem {self.name!r}: repeated coordinate in {coords}")
        dim = getattr(self.domain, "dim", None)
        from .geometry import Geometry
        if dim is None or not isinstance(self.domain, Geometry):
            region = hasattr(self.domain, "sample") and hasattr(self.domain, "measure")
            raise DeclarationError(f"problem {self.name!r}: domain {self.domain!r} is not a geometry"
                                   + (" but a region of one (a boundary or a part of it); the "
                                      "domain is the geometry itself, e.g. domain=Rectangle(...), "
                                      "and conditions name its regions with on=" if region else ""))
        if dim != len(coords):
            raise DeclarationError(f"problem {self.name!r}: the domain has {dim} dimensions but the "
                                   f"coordinates are {coords} ({len(coords)}); fields must take one "
                                   "argument per domain axis, in order")
        for f in self.fields:
            if tuple(f.args) != coords:
                raise DeclarationError(
                    f"problem {self.name!r}: field {f} must take exactly the coordinates {coords} "
                    "(fields of fewer coordinates are not supported; declare it on all of them)")

    def signature(self) -> str:
        """A digest of what is solved (equations, conditions, domain, fields, coordinates,
        parameters, constants), to recognise the same problem across a resume."""
        parts = [repr(self.domain), str(self.fields), str(self.coordinates),
                 str(sorted((str(k), v) for k, v in self.parameters.items())),
                 str(sorted((str(k), v) for k, v in self.constants.items()))]
        for i, e in enumerate(self.equations):
            parts.append(f"eq{i}:{sp.srepr(e.residual(f'equation {i}'))}:{e.on!r}")
        for i, c in enumerate(self.conditions):
            body = sp.srepr(c.residual(f"condition {i}")) if not isinstance(c, Periodic) else repr(c)
            if isinstance(c, Data):
                for arr in (c.points, c.values):
                    body += ":" + hashlib.sha256(np.ascontiguousarray(arr, dtype=np.float64)
                                                 .tobytes()).hexdigest()[:16]
            parts.append(f"c{i}:{type(c).__name__}:{body}:{getattr(c, 'on', None)!r}:"
                         f"{getattr(c, 'weight', None)!r}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(str(f.func) for f in self.fields)

    @property
    def coordinate_names(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.coordinates)

    @property
    def time_axis(self) -> int | None:
        return getattr(self.domain, "time_axis", None)

    def compile(self):
        """Check every expression and build the batched residual functions."""
        from .compiler import CompiledProblem
        return CompiledProblem(self)

    def __repr__(self) -> str:
        return (f"Problem({self.name!r}, fields={list(self.field_names)}, "
                f"coordinates={list(self.coordinate_names)}, equations={len(self.equations)}, "
                f"conditions={len(self.conditions)})")


def _finite(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DeclarationError(f"{what}: value {value!r} is not a number") from None
    if not math.isfinite(v):
        raise DeclarationError(f"{what}: value {value!r} is not finite")
    return v


def exact_reference(problem: Problem, reference: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Turn an exact-solution declaration into ``f(points) -> (n, n_fields)``."""
    from .expr import to_torch
    import torch

    if isinstance(reference, str):
        raise DeclarationError(f"reference of {problem.name!r}: got the string {reference!r}; give a SymPy "
                               "expression, {field: expression}, a function of points, or points and "
                               "values (strings are never parsed)")
    if callable(reference) and not isinstance(reference, sp.Basic):
        def call(pts: np.ndarray) -> np.ndarray:
            out = np.asarray(reference(pts), dtype=np.float64)
            if out.ndim == 0 or out.shape[0] != len(pts) or out.size % len(pts):
                raise DataError(f"reference of {problem.name!r}: the function gave values of shape "
                                f"{out.shape} for {len(pts)} points; expected ({len(pts)},) or "
                                f"({len(pts)}, {len(problem.fields)}), one row per point")
            return out.reshape(len(pts), -1)
        return call
    if isinstance(reference, Mapping):
        exprs = []
        for f in problem.fields:
            match = [v for k, v in reference.items() if k == f or k == f.func or str(k) == str(f.func)]
            if not match:
                raise DeclarationError(f"reference: no exact solution given for field {f}")
            exprs.append(sp.sympify(match[0], strict=True))
    else:
        exprs = [sp.sympify(reference, strict=True)]
        if len(problem.fields) != 1:
            raise DeclarationError("reference: a single expression needs a single-field problem; "
                                   "give {field: expression} for each field")
    exprs = [e.subs(problem.constants) for e in exprs]
    run = to_torch(exprs, list(problem.coordinates), where="reference solution")

    def evaluate(pts: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(pts, dtype=torch.float64)
        env = {c: t[:, i] for i, c in enumerate(problem.coordinates)}
        cols = [np.broadcast_to(np.asarray(v.detach().numpy() if isinstance(v, torch.Tensor) else v,
                                           dtype=np.float64), (len(pts),)) for v in run(env)]
        return np.stack(cols, axis=1)
    return evaluate
