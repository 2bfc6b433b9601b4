"""Translate SymPy expressions into PyTorch closures.

``to_torch(expr, symbols)`` walks a SymPy expression tree once and returns a
function ``f(env) -> Tensor`` where ``env`` maps each symbol of ``symbols`` to a
tensor. No source code is generated and nothing is passed to ``eval``: every
node becomes a small Python closure over ``torch`` operations, so the result is
traceable by ``torch.compile`` and differentiable by autograd.

Common subexpressions are shared with ``sympy.cse`` before translation.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import sympy as sp
from sympy.core.relational import Relational
import torch

from .errors import DeclarationError

Env = Mapping[sp.Symbol, torch.Tensor]
Node = Callable[[dict], "torch.Tensor | float"]

_UNARY: dict[type, Callable] = {
    sp.sin: torch.sin, sp.cos: torch.cos, sp.tan: torch.tan,
    sp.exp: torch.exp, sp.log: torch.log,
    sp.sinh: torch.sinh, sp.cosh: torch.cosh, sp.tanh: torch.tanh,
    sp.asin: torch.asin, sp.acos: torch.acos, sp.atan: torch.atan,
    sp.asinh: torch.asinh, sp.acosh: torch.acosh, sp.atanh: torch.atanh,
    sp.Abs: torch.abs, sp.sign: torch.sign, sp.erf: torch.erf, sp.erfc: torch.erfc,
    sp.floor: torch.floor, sp.ceiling: torch.ceil,
}
_MATH_UNARY: dict[type, Callable] = {
    sp.sin: math.sin, sp.cos: math.cos, sp.tan: math.tan, sp.exp: math.exp,
    sp.log: math.log, sp.sinh: math.sinh, sp.cosh: math.cosh, sp.tanh: math.tanh,
    sp.Abs: abs, sp.erf: math.erf,
}
_RELATIONS = {
    sp.StrictLessThan: torch.lt, sp.LessThan: torch.le,
    sp.StrictGreaterThan: torch.gt, sp.GreaterThan: torch.ge,
    sp.Equality: torch.eq, sp.Unequality: torch.ne,
}


def _tensor(v, like: torch.Tensor | None = None):
    if isinstance(v, torch.Tensor) or like is None:
        return v
    return torch.full_like(like, float(v))


def _pow(base: Node, exp: sp.Expr, build) -> Node:
    if exp == 2:
        return lambda env: (lambda b: b * b)(base(env))
    if exp == 3:
        return lambda env: (lambda b: b * b * b)(base(env))
    if exp == -1:
        return lambda env: 1.0 / base(env)
    if exp == sp.Rational(1, 2):
        return lambda env: _sqrt(base(env))
    if exp == sp.Rational(-1, 2):
        return lambda env: 1.0 / _sqrt(base(env))
    if exp.is_Integer:
        k = int(exp)
        return lambda env: base(env) ** k
    e = build(exp)
    return lambda env: _generic_pow(base(env), e(env))


def _sqrt(b):
    return torch.sqrt(b) if isinstance(b, torch.Tensor) else math.sqrt(b)


def _generic_pow(b, e):
    if isinstance(b, torch.Tensor) or isinstance(e, torch.Tensor):
        return torch.pow(b, e)
    return b ** e


def _apply_unary(fn_t, fn_m):
    def call(v):
        if isinstance(v, torch.Tensor):
            return fn_t(v)
        if fn_m is None:
            return fn_t(torch.tensor(v, dtype=torch.float64)).item()
        return fn_m(v)
    return call


def namesake(symbol: sp.Symbol, known) -> str:
    """A hint when ``symbol`` is unknown only because a known symbol of the same name was
    created with other assumptions (``Symbol('x', real=True)`` is not ``Symbol('x')``)."""
    for k in known:
        if isinstance(k, sp.Symbol) and k.name == symbol.name and k != symbol:
            def said(x):
                return ", ".join(f"{a}=True" for a in ("real", "positive", "negative", "integer",
                                                       "nonnegative") if x.assumptions0.get(a)) \
                    or "no assumptions"
            return (f" (the known symbol named {symbol.name} is a different SymPy symbol: it was "
                    f"created with {said(k)}, this one with {said(symbol)}; create both with the "
                    "same assumptions)")
    return ""


class _Builder:
    """Recursive translator; ``symbols`` fixes which free symbols are allowed."""

    def __init__(self, symbols: Sequence[sp.Symbol], where: str):
        # equal symbols map to the very objects given: callers key their env dicts by those, and
        # Dynamo looks up dict keys that are SymPy objects by identity (an equal copy that SymPy
        # rebuilt while simplifying, once its cache had evicted the original, raised KeyError
        # inside the compiled training step)
        self.symbols = {s: s for s in symbols}
        self.where = where

    def __call__(self, e: sp.Basic) -> Node:
        if isinstance(e, sp.Symbol):
            if e not in self.symbols:
                raise DeclarationError(f"{self.where}: unknown symbol {e!s}{namesake(e, self.symbols)}")
            return lambda env, s=self.symbols[e]: env[s]
        if e.is_Number or isinstance(e, sp.NumberSymbol) or e in (sp.pi, sp.E):
            if not e.is_real:
                raise DeclarationError(f"{self.where}: non-real constant {e}")
            value = float(e)
            if not math.isfinite(value):
                raise DeclarationError(f"{self.where}: the constant {sp.N(e, 6)} is outside the "
                                       "float64 range")
            return lambda env, v=value: v
        if isinstance(e, sp.Add):
            parts = [self(a) for a in e.args]
            return lambda env: _sum(p(env) for p in parts)
        if isinstance(e, sp.Mul):
            parts = [self(a) for a in e.args]
            return lambda env: _prod(p(env) for p in parts)
        if isinstance(e, sp.Pow):
            return _pow(self(e.base), e.exp, self)
        if isinstance(e, sp.Piecewise):
            return self._piecewise(e)
        if isinstance(e, sp.Heaviside):
            arg = self(e.args[0])
            h0 = float(e.args[1]) if len(e.args) > 1 and e.args[1].is_Number else 0.5
            return lambda env: _heaviside(arg(env), h0)
        if isinstance(e, (sp.Max, sp.Min)):
            parts = [self(a) for a in e.args]
            op = torch.maximum if isinstance(e, sp.Max) else torch.minimum
            return lambda env: _reduce_pair(op, [p(env) for p in parts])
        if isinstance(e, sp.atan2):
            y, x = self(e.args[0]), self(e.args[1])
            return lambda env: torch.atan2(*_as_tensors(y(env), x(env)))
        for cls, fn in _UNARY.items():
            if isinstance(e, cls):
                arg = self(e.args[0])
                call = _apply_unary(fn, _MATH_UNARY.get(cls))
                return lambda env: call(arg(env))
        if isinstance(e, (sp.sec, sp.csc, sp.cot, sp.sech, sp.csch, sp.coth)):
            return self(e.rewrite(sp.cos) if isinstance(e, (sp.sec, sp.csc, sp.cot)) else e.rewrite(sp.exp))
        if isinstance(e, (Relational, sp.And, sp.Or, sp.Not)) or e in (sp.true, sp.false):
            return self._boolean(e)
        raise DeclarationError(f"{self.where}: cannot compile the term {e} "
                               f"(unsupported function {type(e).__name__})")

    def _boolean(self, e) -> Node:
        if isinstance(e, sp.Symbol):
            return self(e)
        if e is sp.true or e == sp.true:
            return lambda env: True
        if e is sp.false or e == sp.false:
            return lambda env: False
        if isinstance(e, sp.And):
            parts = [self._boolean(a) for a in e.args]
            return lambda env: _reduce_pair(torch.logical_and, [p(env) for p in parts])
        if isinstance(e, sp.Or):
            parts = [self._boolean(a) for a in e.args]
            return lambda env: _reduce_pair(torch.logical_or, [p(env) for p in parts])
        if isinstance(e, sp.Not):
            p = self._boolean(e.args[0])
            return lambda env: torch.logical_not(torch.as_tensor(p(env)))
        for cls, op in _RELATIONS.items():
            if isinstance(e, cls):
                a, b = self(e.lhs), self(e.rhs)
                return lambda env: op(*_as_tensors(a(env), b(env)))
        raise DeclarationError(f"{self.where}: cannot compile the condition {e}")

    def _piecewise(self, e: sp.Piecewise) -> Node:
        pieces = [(self(val), self._boolean(cond)) for val, cond in e.args]
        if e.args[-1][1] != sp.true:  # undefined where no condition holds: NaN, as in SymPy
            pieces.append((lambda env: math.nan, lambda env: True))

        def run(env):
            out = None
            for val, cond in reversed(pieces):
                v, c = val(env), cond(env)
                if out is None:
                    out = v
                    continue
                if isinstance(c, bool):
                    out = v if c else out
                    continue
                v, out2 = _as_tensors(v, out)
                out = torch.where(c, v, out2)
            return out
        return run


def _as_tensors(a, b):
    if isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
        return a, torch.as_tensor(b, dtype=a.dtype, device=a.device)
    if isinstance(b, torch.Tensor) and not isinstance(a, torch.Tensor):
        return torch.as_tensor(a, dtype=b.dtype, device=b.device), b
    if not isinstance(a, torch.Tensor):
        return torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return a, b


def _heaviside(v, h0):
    if not isinstance(v, torch.Tensor):
        return 1.0 if v > 0 else (0.0 if v < 0 else h0)
    return torch.where(v > 0, 1.0, torch.where(v < 0, 0.0, h0)).to(v.dtype)


def _reduce_pair(op, values):
    out = values[0]
    for v in values[1:]:
        out = op(*_as_tensors(out, v))
    return out


def _sum(it):
    total = 0.0
    for v in it:
        total = total + v
    return total


def _prod(it):
    total = 1.0
    for v in it:
        total = total * v
    return total


def to_torch(exprs: Sequence[sp.Expr] | sp.Expr, symbols: Sequence[sp.Symbol],
             where: str = "expression") -> Callable[[Env], list]:
    """Compile one or several SymPy expressions into ``f(env) -> list of values``.

    ``symbols`` lists every symbol the expressions may contain; any other free
    symbol raises :class:`DeclarationError` naming ``where``. Values may be Python
    floats for constant expressions; callers broadcast them.
    """
    single = isinstance(exprs, sp.Basic)
    exprs = [exprs] if single else list(exprs)
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_cse"))
    builder = _Builder(list(symbols) + [s for s, _ in replacements], where)
    steps = [(s, builder(v)) for s, v in replacements]
    outs = [builder(e) for e in reduced]

    def run(env: Env):
        scope = dict(env)
        for s, node in steps:
            scope[s] = node(scope)
        return [o(scope) for o in outs]
    return run


def broadcast(value, like: torch.Tensor) -> torch.Tensor:
    """Turn a float or a broadcastable tensor into a tensor shaped like ``like``."""
    if not isinstance(value, torch.Tensor):
        return torch.full_like(like, float(value))
    if value.shape != like.shape:
        return value.to(like.dtype).expand_as(like)
    return value
