"""Conditions: what a problem imposes besides its PDEs.

Every condition is a residual expression on a region of the domain. The helper
classes (:class:`Dirichlet`, :class:`Neumann`, :class:`Robin`, :class:`Initial`,
:class:`Periodic`, :class:`Data`) only build that expression; the generic
:class:`Condition` takes any SymPy expression (or ``Eq``) and a region.

Normal derivatives are written ``dn(u)`` (``NormalDerivative``); the compiler
expands them with the region's outward unit normals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from .errors import DataError, DeclarationError


class NormalDerivative(sp.Function):
    """``dn(expr)``: the derivative of ``expr`` along the outward unit normal."""

    nargs = 1


dn = NormalDerivative


def as_residual(expr: Any, where: str) -> sp.Expr:
    """``Eq(a, b)`` -> ``a - b``; numbers and expressions pass through as SymPy."""
    if isinstance(expr, str):
        raise DeclarationError(f"{where}: expressions must be SymPy objects, not strings ({expr!r})")
    if isinstance(expr, sp.Equality):
        out = expr.lhs - expr.rhs
    else:
        try:
            out = sp.sympify(expr, strict=True)
        except (sp.SympifyError, TypeError) as exc:
            raise DeclarationError(f"{where}: cannot use {expr!r} as an expression ({exc})") from None
    if isinstance(out, sp.MatrixBase):
        raise DeclarationError(f"{where}: {out} is a matrix (a system); give one equation per "
                               "component, e.g. [*(lhs - rhs)] in the list of equations")
    if isinstance(out, sp.logic.boolalg.Boolean) and not isinstance(out, sp.Expr):  # not Symbols
        folded = (" (SymPy evaluates an Eq whose sides are identical, or differ by a nonzero "
                  "number, to True or False: it imposes nothing on the fields)"
                  if out in (sp.true, sp.false) else "")
        raise DeclarationError(f"{where}: expected an expression or Eq, got the condition {out}{folded}")
    return out


def _operand(value: Any, role: str, helper: str) -> sp.Expr:
    """A helper's argument as a SymPy expression, or a DeclarationError naming the helper."""
    if isinstance(value, str):
        hint = "write a SymPy expression, e.g. sp.sin(x), not a string"
    elif callable(value) and not isinstance(value, sp.Basic):
        hint = "write the value as a SymPy expression of the coordinates, not a Python function"
    elif isinstance(value, (list, tuple, np.ndarray)):
        hint = "give one SymPy expression; for values at given points use Data(field, points, values)"
    elif value is None:
        hint = "give a number or a SymPy expression"
    else:
        try:
            return sp.sympify(value, strict=True)
        except (sp.SympifyError, TypeError):
            hint = "give a number or a SymPy expression"
    raise DeclarationError(f"{helper}: the {role} {value!r} ({type(value).__name__}) is not an "
                           f"expression; {hint}")


def _equation(lhs: sp.Expr, value: sp.Expr, helper: str) -> sp.Equality:
    """``Eq(lhs, value)``, refusing one that SymPy folds to True or False."""
    eq = sp.Eq(lhs, value)
    if eq in (sp.true, sp.false):
        raise DeclarationError(f"{helper}: {lhs} = {value} holds {'always' if eq else 'nowhere'}, "
                               "whatever the fields are; it imposes nothing on them")
    return eq


@dataclass
class Condition:
    """Impose ``expr = 0`` (or ``Eq(lhs, rhs)``) at points of ``on``.

    ``on`` is a region of the domain (``domain.boundary``, ``domain.initial``,
    ``domain.boundary.where(...)``, ``domain.boundary_of(part)``); ``None`` means the
    whole boundary. ``weight`` multiplies the term's loss; ``name`` labels it in
    histories and reports.
    """

    expr: Any
    on: Any = None
    name: str | None = None
    weight: float = 1.0
    kind: str = "boundary"

    def residual(self, where: str) -> sp.Expr:
        return as_residual(self.expr, where)

    def default_name(self, index: int) -> str:
        return self.name or f"{self.kind}{index}"


def Dirichlet(field_: sp.Expr, value: Any, on: Any = None, *, name: str | None = None,
              weight: float = 1.0) -> Condition:
    """``field = value`` on ``on`` (default: the whole boundary)."""
    eq = _equation(_operand(field_, "field", "Dirichlet"), _operand(value, "value", "Dirichlet"), "Dirichlet")
    return Condition(eq, on=on, name=name, weight=weight, kind="dirichlet")


def Neumann(field_: sp.Expr, value: Any, on: Any = None, *, name: str | None = None,
            weight: float = 1.0) -> Condition:
    """``du/dn = value`` with the region's outward unit normal."""
    eq = _equation(dn(_operand(field_, "field", "Neumann")), _operand(value, "value", "Neumann"), "Neumann")
    return Condition(eq, on=on, name=name, weight=weight, kind="neumann")


def Robin(field_: sp.Expr, a: Any, b: Any, value: Any, on: Any = None, *,
          name: str | None = None, weight: float = 1.0) -> Condition:
    """``a u + b du/dn = value`` on ``on``."""
    field_ = _operand(field_, "field", "Robin")
    a, b = _operand(a, "coefficient a", "Robin"), _operand(b, "coefficient b", "Robin")
    if a == 0 and b == 0:
        raise DeclarationError("Robin: the coefficients a and b are both zero, so a u + b du/dn = "
                               "value imposes nothing on the field")
    eq = _equation(a * field_ + b * dn(field_), _operand(value, "value", "Robin"), "Robin")
    return Condition(eq, on=on, name=name, weight=weight, kind="robin")


def Initial(expr: Any, value: Any, *, name: str | None = None, weight: float = 1.0) -> Condition:
    """``expr = value`` at the initial time; ``expr`` may be ``u`` or ``u.diff(t)``."""
    eq = _equation(_operand(expr, "field", "Initial"), _operand(value, "value", "Initial"), "Initial")
    return Condition(eq, on="initial", name=name, weight=weight, kind="initial")


@dataclass
class Periodic:
    """Values (and derivatives up to ``derivatives``) of ``fields`` match across
    the two faces of the domain normal to ``coordinate``."""

    fields: Any
    coordinate: sp.Symbol
    derivatives: int = 0
    name: str | None = None
    weight: float = 1.0
    kind: str = "periodic"

    def default_name(self, index: int) -> str:
        return self.name or f"periodic_{self.coordinate}"


@dataclass
class Data:
    """Observations: ``expr`` (a field or any expression of fields) equals ``values``
    at ``points`` (array of shape (n, number of coordinates))."""

    expr: Any
    points: Any
    values: Any
    name: str | None = None
    weight: float = 1.0
    kind: str = "data"
    arrays: tuple = field(default=(), repr=False)

    def default_name(self, index: int) -> str:
        return self.name or f"data{index}"

    def residual(self, where: str) -> sp.Expr:
        return as_residual(self.expr, where)

    def checked_arrays(self, dim: int, where: str) -> tuple[np.ndarray, np.ndarray]:
        arrays = []
        for label, given in (("points", self.points), ("values", self.values)):
            if hasattr(given, "detach") and hasattr(given, "cpu"):  # a torch tensor (grad, GPU)
                given = given.detach().cpu().numpy()
            try:
                complex_ = np.iscomplexobj(given)
                arrays.append(None if complex_ else np.asarray(given, dtype=np.float64))
            except (TypeError, ValueError) as exc:  # ragged lists, strings, objects
                raise DataError(f"{where}: {label} must be a numeric array ({exc})") from None
            if complex_:
                raise DataError(f"{where}: {label} are complex numbers; observations must be real "
                                "(split a complex field into its real and imaginary parts)")
        pts, vals = arrays
        if pts.ndim == 1 and dim == 1:
            pts = pts[:, None]
        if pts.ndim != 2 or pts.shape[1] != dim:
            raise DataError(f"{where}: points must have shape (n, {dim}) (one column per coordinate), "
                            f"got {pts.shape}")
        vals = vals.reshape(-1) if vals.ndim == 2 and vals.shape[1] == 1 else vals
        if vals.ndim != 1 or vals.shape[0] != pts.shape[0]:
            raise DataError(f"{where}: values must have shape ({pts.shape[0]},) to match the points, "
                            f"got {vals.shape}")
        if pts.shape[0] == 0:
            raise DataError(f"{where}: no observation points")
        bad = ~np.isfinite(pts).all(axis=1) | ~np.isfinite(vals)
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise DataError(f"{where}: {int(bad.sum())} observation rows contain NaN or Inf "
                            f"(first rows {rows})")
        return pts, vals
