"""Forward-propagated derivative jets (truncated multivariate Taylor mode).

A :class:`Jet` carries, for a batch of points, a value and exactly the partial
derivatives with respect to the input coordinates that a PDE needs. Each
derivative is identified by a multi-index ``alpha`` (a tuple of counts per
coordinate: ``(2, 0)`` is d^2/dx^2 for coordinates ``(x, t)``). The set of
multi-indices carried is closed downwards (every sub-index of a carried index
is carried too), which is exactly what the chain rule needs.

Layers propagate jets with three rules:

* linear maps act on every component (the bias only on the value);
* elementwise functions use the multivariate Faa di Bruno formula, summing over
  set partitions of the differentiation directions;
* products use the multivariate Leibniz rule.

Because every derivative is built in the forward pass, the loss needs only a
first-order backward pass, which is cheaper than nested ``autograd.grad`` and
compatible with ``torch.compile``.

A component that is identically zero is simply absent; a component that does
not vary over the batch (the derivative of the input layer) has batch size 1
and broadcasts.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Callable, Iterable, Sequence

import sympy as sp
import torch

from .expr import to_torch

MultiIndex = tuple[int, ...]


def order(alpha: MultiIndex) -> int:
    return sum(alpha)


def downward_closure(indices: Iterable[MultiIndex], dim: int) -> tuple[MultiIndex, ...]:
    """All multi-indices below the given ones (zero included), sorted by order."""
    return _closure(frozenset(indices), dim)


@lru_cache(maxsize=1024)
def _closure(indices: frozenset, dim: int) -> tuple[MultiIndex, ...]:
    out = {(0,) * dim}
    for alpha in indices:
        for beta in itertools.product(*(range(a + 1) for a in alpha)):
            out.add(tuple(beta))
    return tuple(sorted(out, key=lambda a: (order(a), tuple(-x for x in a))))


def _set_partitions(items: list[int]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _set_partitions(rest):
        yield [[first]] + part
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1:]


@lru_cache(maxsize=None)
def faa_di_bruno(alpha: MultiIndex) -> tuple[tuple[int, int, tuple[MultiIndex, ...]], ...]:
    """Terms ``(coef, k, betas)`` of d^alpha f(z) = sum coef f^(k)(z) prod_j d^beta_j z."""
    dirs = [i for i, a in enumerate(alpha) for _ in range(a)]
    counts: dict[tuple[int, tuple[MultiIndex, ...]], int] = {}
    for part in _set_partitions(list(range(len(dirs)))):
        betas = []
        for block in part:
            beta = [0] * len(alpha)
            for pos in block:
                beta[dirs[pos]] += 1
            betas.append(tuple(beta))
        key = (len(part), tuple(sorted(betas)))
        counts[key] = counts.get(key, 0) + 1
    return tuple((c, k, betas) for (k, betas), c in sorted(counts.items()))


@lru_cache(maxsize=None)
def leibniz(alpha: MultiIndex) -> tuple[tuple[int, MultiIndex, MultiIndex], ...]:
    """Terms ``(coef, beta, gamma)`` of d^alpha (f g) = sum coef d^beta f d^gamma g."""
    terms = []
    for beta in itertools.product(*(range(a + 1) for a in alpha)):
        gamma = tuple(a - b for a, b in zip(alpha, beta))
        coef = 1
        for a, b in zip(alpha, beta):  # a loop, not math.prod(generator): Dynamo traces this
            coef *= math.comb(a, b)
        terms.append((coef, tuple(beta), gamma))
    return tuple(terms)


_Z = sp.Symbol("z")


@lru_cache(maxsize=None)
def derivative_stack(expr: sp.Expr, kmax: int) -> Callable[[torch.Tensor], list]:
    """Closure returning ``[f(z), f'(z), ..., f^(kmax)(z)]`` for ``f = expr(z)``."""
    ders = [expr]
    for _ in range(kmax):
        ders.append(sp.simplify(sp.diff(ders[-1], _Z)))
    run = to_torch(ders, [_Z], where=f"activation {expr}")
    run_value = to_torch(ders[:1], [_Z], where=f"activation {expr}")
    run_derivatives = to_torch(ders[1:], [_Z], where=f"activation {expr}") if kmax else None

    def stack(z: torch.Tensor, rows: int | None = None) -> list:
        """``rows``: the derivatives f^(k), k >= 1, only for the first ``rows`` points."""
        if rows is None or rows >= z.shape[0] or run_derivatives is None:
            return run({_Z: z})
        return run_value({_Z: z}) + run_derivatives({_Z: z[:rows]})
    return stack


class Jet:
    """Value and selected input derivatives of a batch of feature vectors."""

    __slots__ = ("indices", "c", "rows", "is_input")

    def __init__(self, indices: Sequence[MultiIndex], components: dict[MultiIndex, torch.Tensor],
                 rows: dict[MultiIndex, int] | None = None):
        self.indices = tuple(indices)
        self.c = components
        self.rows = rows or {}
        #: True for the jet of the coordinates themselves (made by :meth:`input`)
        self.is_input = False

    @classmethod
    def input(cls, x: torch.Tensor, indices: Sequence[MultiIndex],
              rows: dict[MultiIndex, int] | None = None) -> "Jet":
        """The jet of the coordinates themselves: d x_i / d x_j = delta_ij.

        ``rows[alpha]`` (optional) says that derivative ``alpha`` is needed only for
        the first ``rows[alpha]`` points of the batch (a *ragged* jet: one forward
        pass serves blocks of points that need different derivatives). Sub-indices
        of ``alpha`` must be needed for at least as many rows.
        """
        dim = x.shape[-1]
        comps = {(0,) * dim: x}
        eye = torch.eye(dim, dtype=x.dtype, device=x.device)
        for alpha in indices:
            if order(alpha) == 1:
                comps[alpha] = eye[alpha.index(1)].unsqueeze(0)
        jet = cls(indices, comps, rows)
        jet.is_input = True
        return jet

    def _fit(self, alpha: MultiIndex, t):
        """``t`` cut to the rows carried for ``alpha`` (broadcast rows and scalars pass)."""
        n = self.rows.get(alpha)
        if n is None or not isinstance(t, torch.Tensor) or t.ndim == 0 or t.shape[0] <= n:
            return t
        return t[:n]

    @property
    def value(self) -> torch.Tensor:
        return self.c[self.indices[0]]

    def derivative_rows(self) -> int | None:
        """How many leading points any derivative is carried for (``None``: all of them)."""
        if not self.rows or any(a not in self.rows for a in self.indices[1:]):
            return None
        return max(self.rows.values())

    @property
    def max_order(self) -> int:
        return order(self.indices[-1])

    def get(self, alpha: MultiIndex) -> torch.Tensor | None:
        return self.c.get(alpha)

    def _new(self, comps: dict) -> "Jet":
        return Jet(self.indices, comps, self.rows)

    def linear(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> "Jet":
        """Apply ``y = z W^T + b`` to every component (bias on the value only)."""
        out = {}
        for alpha, v in self.c.items():
            out[alpha] = v @ weight.T
        if bias is not None:
            zero = self.indices[0]
            out[zero] = out[zero] + bias
        return self._new(out)

    def map(self, expr_or_stack, derivatives: Callable | None = None) -> "Jet":
        """Apply an elementwise function given as a SymPy expression in ``z``."""
        if derivatives is None:
            ders = derivative_stack(expr_or_stack, self.max_order)(self.value, self.derivative_rows())
        else:
            ders = derivatives(self.value)
        return self.compose(ders)

    def compose(self, ders: Sequence[torch.Tensor]) -> "Jet":
        """Faa di Bruno given ``ders[k] = f^(k)(value)`` for k up to the max order."""
        out = {self.indices[0]: ders[0]}
        for alpha in self.indices[1:]:
            acc = None
            for coef, k, betas in faa_di_bruno(alpha):
                factors = [self.c.get(b) for b in betas]
                if any(f is None for f in factors):
                    continue
                term = self._fit(alpha, ders[k])
                if not isinstance(term, torch.Tensor):
                    if term == 0:
                        continue
                for f in factors:
                    term = term * self._fit(alpha, f)
                if coef != 1:
                    term = coef * term
                acc = term if acc is None else acc + term
            if acc is not None:
                out[alpha] = acc
        return self._new(out)

    def __mul__(self, other: "Jet | torch.Tensor | float") -> "Jet":
        if not isinstance(other, Jet):
            return self._new({a: v * other for a, v in self.c.items()})
        out = {}
        for alpha in self.indices:
            acc = None
            for coef, beta, gamma in leibniz(alpha):
                f, g = self.c.get(beta), other.c.get(gamma)
                if f is None or g is None:
                    continue
                f, g = self._fit(alpha, f), self._fit(alpha, g)
                term = f * g if coef == 1 else coef * (f * g)
                acc = term if acc is None else acc + term
            if acc is not None:
                out[alpha] = acc
        return self._new(out)

    __rmul__ = __mul__

    def __add__(self, other: "Jet | torch.Tensor | float") -> "Jet":
        if not isinstance(other, Jet):
            out = dict(self.c)
            zero = self.indices[0]
            out[zero] = out[zero] + other
            return self._new(out)
        out = dict(self.c)
        for alpha, v in other.c.items():
            out[alpha] = self._fit(alpha, out[alpha]) + self._fit(alpha, v) if alpha in out else v
        return self._new(out)

    __radd__ = __add__

    def __neg__(self) -> "Jet":
        return self._new({a: -v for a, v in self.c.items()})

    def __sub__(self, other) -> "Jet":
        return self + (-other)

    def select(self, columns) -> "Jet":
        """Feature columns (an index, slice or list) of every component."""
        return self._new({a: v[..., columns] for a, v in self.c.items()})

    @staticmethod
    def cat(jets: Sequence["Jet"]) -> "Jet":
        """Concatenate feature dimensions; missing components become zeros."""
        first = jets[0]
        n = first.value.shape[0]
        out = {}
        for alpha in first.indices:
            parts = [first._fit(alpha, j.c.get(alpha)) for j in jets]
            if all(p is None for p in parts):
                continue
            full = max(p.shape[0] for p in parts if p is not None)
            rows = full if full != 1 else 1
            filled = []
            for j, p in zip(jets, parts):
                width = j.value.shape[-1]
                if p is None:
                    p = first.value.new_zeros(rows, width)
                elif p.shape[0] != rows:
                    p = p.expand(rows, width)
                filled.append(p)
            out[alpha] = torch.cat(filled, dim=-1)
        return Jet(first.indices, out, first.rows)

    def component(self, alpha: MultiIndex, like: torch.Tensor | None = None) -> torch.Tensor:
        """The component ``alpha`` expanded to the batch (zeros when absent)."""
        v = self._fit(alpha, self.c.get(alpha))
        ref = self._fit(alpha, self.value) if like is None else like
        if v is None:
            return torch.zeros_like(ref)
        return v.expand_as(ref) if v.shape != ref.shape else v
