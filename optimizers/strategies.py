"""Optimizer strategies: how ``solve`` turns a loss evaluation into a parameter update.

The protocol (duck-typed; subclass :class:`Strategy` for the defaults):

``setup(params)``
    called once with the list of trainable tensors.
``step(evaluate, step) -> LossEval``
    ``evaluate()`` runs the forward pass and returns a
    :class:`~pinnlab.loss.LossEval` (total loss, per-term and per-group losses,
    residuals) with its graph alive; the strategy differentiates it as it needs
    (one backward for Adam, one per group for MultiAdam, repeated closures for
    L-BFGS) and returns the evaluation its update started from.
``scale_lr(factor)``
    used after a non-finite loss to shrink the step.
``plan(steps, sampler, weighting, distributed)`` (optional)
    called by ``solve`` before ``setup`` with the run's length and strategies, for
    optimizers whose stages follow them (``auto``).
``state_dict()`` / ``load_state_dict(state)``.

Learning-rate schedules are pure functions of the step, so a resumed run has
exactly the rate an uninterrupted one had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

from pinnlab.errors import ConfigError

SCHEDULES = ("constant", "step", "exponential", "cosine")


@dataclass
class Strategy:
    """Shared settings: learning rate and its schedule.

    ``schedule``: ``constant``; ``step`` (times ``decay_rate`` every ``decay_steps``);
    ``exponential`` (``decay_rate ** (step / decay_steps)``); ``cosine`` (from ``lr``
    to ``min_lr`` over ``total_steps``). ``warmup`` steps ramp linearly from 0.
    """

    name = "base"
    lr: float = 1e-3
    schedule: str = "constant"
    decay_rate: float = 0.9
    decay_steps: int = 1000
    min_lr: float = 0.0
    warmup: int = 0
    total_steps: int = 0
    start_step: int = 0
    lr_factor: float = field(default=1.0, repr=False)

    def check(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optimizer {self.name}: schedule must be one of {SCHEDULES}, "
                              f"got {self.schedule!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"optimizer {self.name}: lr must be a positive number, got {self.lr!r}")
        if self.decay_steps < 1:
            raise ConfigError(f"optimizer {self.name}: decay_steps must be >= 1")
        if not (self.decay_rate > 0 and math.isfinite(self.decay_rate)):
            raise ConfigError(f"optimizer {self.name}: decay_rate must be a positive number, got "
                              f"{self.decay_rate!r} (a rate <= 0 makes the learning rate zero or negative)")
        if not (0 <= self.min_lr <= self.lr):
            raise ConfigError(f"optimizer {self.name}: min_lr must lie in [0, lr={self.lr}], got {self.min_lr!r} "
                              "(the cosine schedule goes from lr down to min_lr)")
        if self.warmup < 0:
            raise ConfigError(f"optimizer {self.name}: warmup must be a number of steps >= 0, got {self.warmup!r}")

    def lr_at(self, step: int) -> float:
        s = max(step - self.start_step, 0)
        if self.schedule == "step":
            lr = self.lr * self.decay_rate ** (s // self.decay_steps)
        elif self.schedule == "exponential":
            lr = self.lr * self.decay_rate ** (s / self.decay_steps)
        elif self.schedule == "cosine":
            span = max(self.total_steps, 1)
            lr = self.min_lr + (self.lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * min(s / span, 1.0)))
        else:
            lr = self.lr
        if self.warmup and s < self.warmup:
            lr *= (s + 1) / self.warmup
        return lr * self.lr_factor

    def _set_lr(self, opt: torch.optim.Optimizer, step: int) -> None:
        lr = self.lr_at(step)
        for g in opt.param_groups:
            g["lr"] = lr

    def scale_lr(self, factor: float) -> None:
        self.lr_factor *= factor

    def state_dict(self) -> dict:
        return {"opt": self.opt.state_dict(), "lr_factor": self.lr_factor}

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["opt"])
        self.lr_factor = float(state["lr_factor"])


@dataclass
class Adam(Strategy):
    """Adam (Kingma & Ba 2015) on the weighted total loss."""

    name = "adam"
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0

    def setup(self, params: list) -> None:
        self.check()
        _check_betas(self)
        # the fused kernel: one op for all parameters (0.17 vs 0.45 ms per step for a 3 x 20 MLP)
        fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda")
                                     for p in params)
        self.opt = torch.optim.Adam(params, lr=self.lr, betas=tuple(self.betas), eps=self.eps,
                                    weight_decay=self.weight_decay, fused=fused or None)

    def step(self, evaluate: Callable, step: int):
        self._set_lr(self.opt, step)
        fused = getattr(evaluate, "fused", None)
        if fused is not None:  # solve(compile=True): loss, gradient and update in one graph
            ev = fused(self)
            if ev is not None:
                return ev
        ev = evaluate()
        self.opt.zero_grad(set_to_none=True)
        ev.total.backward()
        self.opt.step()
        return ev

    # -- the fused-step protocol (pinnlab.fused): torch.optim.Adam's state and update rule
    def fused_state(self, params: list) -> list[list[torch.Tensor]]:
        """``[steps, exp_avgs, exp_avg_sqs]``, kept in ``self.opt.state`` (so checkpoints and the
        unfused path see the same state); created as torch.optim.Adam creates them."""
        out: list[list[torch.Tensor]] = [[], [], []]
        for p in params:
            st = self.opt.state[p]
            if not st:
                st["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            out[0].append(st["step"])
            out[1].append(st["exp_avg"])
            out[2].append(st["exp_avg_sq"])
        return out

    def fused_update(self, params: list, grads: list, state: list, lr: torch.Tensor) -> None:
        """torch.optim.Adam's update (not amsgrad), in place, as traceable tensor operations."""
        beta1, beta2 = (float(b) for b in self.betas)
        steps, exp_avgs, exp_avg_sqs = state
        for p, g, t, m, v in zip(params, grads, steps, exp_avgs, exp_avg_sqs):
            if self.weight_decay:
                g = g.add(p, alpha=self.weight_decay)
            t.add_(1)
            tp = t.to(p.dtype)  # bias corrections in the parameters' precision
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            step_size = lr / (1 - beta1 ** tp)
            denom = (v.sqrt() / (1 - beta2 ** tp).sqrt()).add_(self.eps)
            p.sub_(step_size * m / denom)


def _check_betas(strategy) -> None:
    betas = strategy.betas
    ok = isinstance(betas, (tuple, list)) and len(betas) == 2 and all(
        isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in betas)
    if not ok:
        raise ConfigError(f"optimizer {strategy.name}: betas must be two numbers in [0, 1), "
                          f"got {betas!r}")
    if not (isinstance(strategy.eps, (int, float)) and strategy.eps >= 0):
        raise ConfigError(f"optimizer {strategy.name}: eps must be a number >= 0, got {strategy.eps!r}")
    wd = strategy.weight_decay
    if not (isinstance(wd, (int, float)) and math.isfinite(wd) and wd >= 0):
        raise ConfigError(f"optimizer {strategy.name}: weight_decay must be a number >= 0, got {wd!r}")


# ----------------------------------------------------------------------------- MultiAdam
#: Fixed order in which MultiAdam receives the loss groups; groups a problem
#: lacks are skipped, custom group names (``groups=``) follow in order of first mention.
GROUP_ORDER = ("pde", "constraint", "data")


@dataclass
class MultiAdam(Strategy):
    """MultiAdam (Yao et al., ICML 2023): one Adam moment pair per loss group.

    ``solve`` feeds it the per-group weighted losses in the fixed order
    ``pde``, ``constraint``, ``data`` (groups a problem lacks are skipped; with
    Burgers that is ``[pde, constraint]``, the paper's PDE | boundary-and-initial
    split). ``groups`` gives any other partition: ``{term: group name}``; terms it
    does not name keep their default group, custom names come after the default
    ones in order of first mention. The number of groups is fixed at the first step.
    ``batched``: per-group gradients from one vectorised backward (``True``) or
    one backward per group (``False``; identical values). Default (``None``):
    batched on CUDA, per group on CPU, where the vectorised backward measured
    slower (``benchmarks/optimizers_step_time.py``: 4.7 s vs 3.1 s per step at
    PINNacle size, Burgers, 1 thread).
    """

    name = "multiadam"
    betas: tuple = (0.99, 0.99)
    eps: float = 1e-8
    weight_decay: float = 0.0
    batched: Optional[bool] = None
    groups: dict = field(default_factory=dict)

    def setup(self, params: list) -> None:
        self.check()
        _check_betas(self)
        from .multiadam import MultiAdam as _MultiAdam
        batched = self.batched
        if batched is None:
            batched = bool(params) and params[0].device.type == "cuda"
        self.opt = _MultiAdam(params, lr=self.lr, betas=tuple(self.betas), eps=self.eps,
                              weight_decay=self.weight_decay, n_groups=1, batched=batched)
        self.group_names: list[str] | None = None

    def partition(self, ev, term_groups: dict | None = None) -> tuple[list[str], list[torch.Tensor]]:
        """The group names and per-group losses fed to the optimizer, in their fixed order.

        ``term_groups`` (term -> default group) is needed only when ``groups`` leaves
        some terms unnamed; ``solve`` provides it through the compiled problem.
        """
        if not self.groups:
            names = [g for g in GROUP_ORDER if g in ev.groups]
            names += sorted(g for g in ev.groups if g not in GROUP_ORDER)
            return names, [ev.groups[g] for g in names]
        unknown = set(self.groups) - set(ev.terms)
        if unknown:
            raise ConfigError(f"optimizer multiadam: groups names unknown terms {sorted(unknown)}; "
                              f"terms are {sorted(ev.terms)}")
        label = {}
        for term in ev.terms:
            lab = self.groups.get(term)
            if lab is None:
                if term_groups is None or term not in term_groups:
                    raise ConfigError(f"optimizer multiadam: cannot tell the default group of term "
                                      f"{term!r}; name every term in `groups`")
                lab = term_groups[term]
            label[term] = str(lab)
        custom = [g for g in dict.fromkeys(str(v) for v in self.groups.values()) if g not in GROUP_ORDER]
        extra = sorted(set(label.values()) - set(GROUP_ORDER) - set(custom))
        names = [g for g in (*GROUP_ORDER, *custom, *extra) if g in label.values()]
        losses = []
        for g in names:
            members = [ev.terms[t] for t, lab in label.items() if lab == g]
            losses.append(sum(members[1:], members[0]))
        return names, losses

    def step(self, evaluate: Callable, step: int):
        self._set_lr(self.opt, step)
        ev = evaluate()
        term_groups = None
        if self.groups:
            compiled = getattr(evaluate, "problem", None)
            if compiled is not None:
                term_groups = {k: t.group for k, t in compiled.terms.items()}
        names, losses = self.partition(ev, term_groups)
        if self.group_names is None:
            self.group_names = names
        elif names != self.group_names:
            raise ConfigError(f"optimizer multiadam: loss groups changed from {self.group_names} to {names}")
        self.opt.n_groups = len(losses)
        if not torch.isfinite(ev.total.detach()):
            return ev  # the solve loop rolls back and shrinks the step
        from pinnlab.errors import TrainingError
        try:
            self.opt.step(losses)
        except TrainingError:
            pass  # a non-finite group loss: parameters unchanged; the loop sees ev.total
        return ev

    def state_dict(self) -> dict:
        return {**super().state_dict(), "group_names": self.group_names}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.group_names = state.get("group_names")


# ----------------------------------------------------------------------------- quasi-Newton
class _EvalCache:
    """The last evaluation of a quasi-Newton stage, reused as the next step's starting point.

    Every quasi-Newton call starts by evaluating the loss and gradient at the
    current parameters; the previous call already did so at its accepted point.
    The cached (detached) evaluation is reused when the parameters are bitwise
    unchanged, the step's points are the same objects, and the weighting is the
    plain fixed one (adaptive weightings may change the loss from one step to the
    next at the same parameters).
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.x = self.grads = self.ev = self.batches = None

    @staticmethod
    def context(evaluate: Callable) -> tuple[Any, Any]:
        """The step's batches and weighting, as ``solve`` attaches them to ``evaluate``
        (``None`` when absent: then nothing is reused)."""
        return getattr(evaluate, "batches", None), getattr(evaluate, "weighting", None)


def _fingerprint(batches) -> list | None:
    """What identifies a step's points: the batch objects, their tensors and the tensors' versions
    (a sampler that redraws points or changes per-point weights changes one of them)."""
    if not isinstance(batches, dict):
        return None
    out = []
    for k, b in batches.items():
        ts = [getattr(b, a, None) for a in ("points", "normals", "weights")]
        out.append((k, b, *ts, *[None if x is None else x._version for x in ts]))
    return out


def _content_key(batches) -> tuple | None:
    """The step's points by content (shapes and sums of points and weights), for telling whether
    an optimizer that stopped would see the same loss again, in this process or after a resume."""
    if not isinstance(batches, dict):
        return None
    out = []
    for k in sorted(batches, key=str):
        for a in ("points", "normals", "weights"):
            v = getattr(batches[k], a, None)
            if isinstance(v, torch.Tensor):
                w = v.detach().double()
                out.append((str(k), a, tuple(v.shape), float(w.sum()), float((w * w).sum())))
    return tuple(out)


def _repeats(reason: str | None, before: torch.Tensor, after: torch.Tensor) -> bool:
    """Whether a quasi-Newton stop would happen again on the same loss: a tolerance reached, or a
    line search that failed from where the step started (not a roll-back from non-finite values,
    after which the next step starts along steepest descent elsewhere, nor a spent budget)."""
    if reason is None:
        return False
    if "tolerance" in reason and not reason.startswith("evaluation budget"):
        return True
    return reason.startswith("line search failed") and torch.equal(before, after)


def _same(a: list | None, b: list | None) -> bool:
    if a is None or b is None or len(a) != len(b):
        return False
    return all(len(x) == len(y) and all((u is v) if not isinstance(u, (int, str)) or u is None else u == v
                                        for u, v in zip(x, y)) for x, y in zip(a, b))


def _flat(params: list) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params])


def _detached(ev):
    from pinnlab.loss import LossEval
    d = {k: v.detach() for k, v in ev.terms.items()}
    return LossEval(ev.total.detach(), d, {k: v.detach() for k, v in ev.groups.items()},
                    {k: v.detach() for k, v in ev.residuals.items()})


@dataclass
class LBFGS(Strategy):
    """L-BFGS with a strong-Wolfe line search (:class:`pinnlab.optimizers.LBFGS`).

    One solve step is ``iters_per_step`` quasi-Newton iterations (default 1),
    each a line search of one or more loss evaluations. A step costs no extra
    evaluation: the accepted point's loss and gradient, computed by the previous
    step's line search, start the next one (``reuse_eval``; used only when the
    parameters are unchanged, the points are the same and the weighting is the
    fixed one). The history row of a step shows the loss at its start.
    :attr:`stop_reason` says why the last step ended early (tolerance reached,
    line search failed after a steepest-descent retry, non-finite values rolled
    back). A step after such a stop, with the same parameters, points and learning
    rate, would fail the same way: it re-evaluates nothing (at most one evaluation
    for the step's losses), so that a run whose L-BFGS stage converged early runs
    its remaining steps at almost no cost. The optimizer resumes when the loss
    changes (e.g. after resampling); running out of ``max_eval`` is not a stop.
    """

    name = "lbfgs"
    lr: float = 1.0
    history_size: int = 50
    max_eval: int = 25
    iters_per_step: int = 1
    tolerance_grad: float = 1e-9
    tolerance_change: float = 1e-12
    reuse_eval: bool = True
    dtype: Optional[str] = None

    def check(self) -> None:
        super().check()
        if self.iters_per_step < 1:
            raise ConfigError(f"optimizer {self.name}: iters_per_step must be >= 1")
        for key in ("history_size", "max_eval"):
            if getattr(self, key) < 1:
                raise ConfigError(f"optimizer {self.name}: {key} must be >= 1, got {getattr(self, key)!r}")
        for key in ("tolerance_grad", "tolerance_change"):
            v = getattr(self, key)
            if not (v >= 0 and math.isfinite(v)):
                raise ConfigError(f"optimizer {self.name}: {key} must be a number >= 0, got {v!r}")
        if self.dtype not in (None, "float32", "float64", "double"):
            raise ConfigError(f"optimizer {self.name}: dtype must be float32 or float64 (or None: the run's "
                              f"dtype), got {self.dtype!r}")

    def setup(self, params: list) -> None:
        self.check()
        self.params = list(params)
        self.opt = None          # built at the stage's first step, in the dtype it runs in
        self.stop_reason = None
        self.cache = _EvalCache()
        self.evaluations = 0
        self._halt = None  # (parameters, points' content key, lr) of a stop a new step would repeat

    def _build(self):
        from .lbfgs import LBFGS as _LBFGS
        return _LBFGS(self.params, lr=self.lr, max_iter=self.iters_per_step, max_ls=self.max_eval,
                      history_size=self.history_size, tolerance_grad=self.tolerance_grad,
                      tolerance_change=self.tolerance_change)

    def _ensure(self) -> None:
        if self.opt is None or self.opt._param_dtype != self.params[0].dtype:
            self.opt = self._build()

    def step(self, evaluate: Callable, step: int):
        self._ensure()
        self.opt.param_groups[0]["lr"] = lr = self.lr_at(step)
        batches, wgt = self.cache.context(evaluate)
        from pinnlab.weighting import FixedWeights
        x_now = _flat(self.params)
        c = self.cache
        fp = _fingerprint(batches)
        reuse = (self.reuse_eval and c.ev is not None and fp is not None and _same(c.batches, fp)
                 and type(wgt) is FixedWeights and c.x.dtype == x_now.dtype and torch.equal(c.x, x_now))
        first: list = []
        last: dict = {}
        # (the points' content key is read only when a stop is on record or has just happened)
        halted = (self._halt is not None and type(wgt) is FixedWeights and self._halt[2] == lr
                  and self._halt[0].dtype == x_now.dtype and torch.equal(self._halt[0].to(x_now.device), x_now)
                  and self._halt[1] == _content_key(batches))

        def closure():
            if reuse and not first:
                for p, g in zip(self.params, c.grads):
                    p.grad = g.clone()
                first.append(c.ev)
                return c.ev.total
            self.opt.zero_grad(set_to_none=True)
            ev = evaluate()
            ev.total.backward()
            self.evaluations += 1
            if not first:
                first.append(ev)
            last.update(ev=ev, x=_flat(self.params).clone(),
                        grads=[torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
                               for p in self.params])
            return ev.total
        if halted:  # the loss is the one the optimizer stopped on: no new line search
            closure()
        else:
            self.opt.step(closure)
            self.stop_reason = getattr(self.opt, "stop_reason", None)
            x_after = _flat(self.params)
            key = _content_key(batches) if _repeats(self.stop_reason, x_now, x_after) else None
            self._halt = (x_after.clone(), key, lr) if key is not None else None
        c.clear()
        if last and torch.equal(last["x"], _flat(self.params)):
            c.x, c.grads, c.ev, c.batches = last["x"], last["grads"], _detached(last["ev"]), fp
        elif reuse and not last:  # nothing evaluated: the cache still describes the parameters
            c.x, c.grads, c.ev, c.batches = x_now, self._current_grads(), first[0], fp
        return first[0]

    def dtype_for(self, step: int) -> str | None:
        """The dtype this strategy runs in (``None``: the run's dtype); ``solve`` converts to it."""
        return self.dtype

    def _current_grads(self) -> list:
        return [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in self.params]

    def scale_lr(self, factor: float) -> None:
        self.lr_factor *= factor

    def state_dict(self) -> dict:
        return {"opt": None if self.opt is None else self.opt.state_dict(), "lr_factor": self.lr_factor,
                "dtype": None if self.opt is None else str(self.opt._param_dtype),
                "halt": self._halt, "stop_reason": self.stop_reason}

    def load_state_dict(self, state: dict) -> None:
        self.cache.clear()
        self._halt = state.get("halt")  # a resumed run stays stopped where the uninterrupted one did
        self.stop_reason = state.get("stop_reason")
        self.lr_factor = float(state["lr_factor"])
        if state["opt"] is None:
            self.opt = None
            return
        self._ensure()
        self.opt.load_state_dict(state["opt"])


@dataclass
class BFGS(LBFGS):
    """Dense quasi-Newton finishing stage (:class:`pinnlab.optimizers.BFGS`), full batch, float64.

    ``update``: ``bfgs``, ``ssbfgs`` (Oren-Luenberger self-scaled BFGS) or
    ``ssbroyden`` (self-scaled Broyden, Urbán, Stefanou & Pons 2025). One solve
    step is ``iters_per_step`` iterations (default 1), costed like :class:`LBFGS`.
    ``dtype`` (default ``float64``) is the precision the stage runs in: inside a
    ``chain`` the model, constants and points are converted when it starts. The
    inverse Hessian is a dense ``n x n`` float64 matrix: ``8 n^2`` bytes for ``n``
    trainable parameters (8 MB at n = 1000, 800 MB at n = 10000); setup refuses
    above ``max_memory_bytes`` (1 GiB by default) rather than fail mid-run.
    """

    name = "bfgs"
    update: str = "bfgs"
    max_memory_bytes: int = 2 ** 30
    dtype: Optional[str] = "float64"

    def check(self) -> None:
        super().check()
        from .bfgs import UPDATES
        if self.update not in UPDATES:
            raise ConfigError(f"optimizer bfgs: update must be one of {UPDATES}, got {self.update!r}")

    def setup(self, params: list) -> None:
        super().setup(params)
        n = sum(p.numel() for p in self.params)
        need = 8 * n * n
        if need > int(self.max_memory_bytes):
            raise ConfigError(
                f"optimizer bfgs: the dense inverse Hessian for {n} trainable parameters needs {need} bytes "
                f"({need / 2**30:.3g} GiB), above max_memory_bytes={int(self.max_memory_bytes)}; use a smaller "
                "network, lbfgs, or raise optimizer.max_memory_bytes")

    def _build(self):
        from .bfgs import BFGS as _BFGS
        return _BFGS(self.params, update=self.update, max_memory_bytes=self.max_memory_bytes, lr=self.lr,
                     max_iter=self.iters_per_step, max_ls=self.max_eval,
                     tolerance_grad=self.tolerance_grad, tolerance_change=self.tolerance_change)


# ----------------------------------------------------------------------------- chains


from .chain import AdamLBFGS, AdamLBFGSBFGS, Auto, Chain  # noqa: E402  (they build on the classes above)

STRATEGIES: dict[str, type] = {"auto": Auto, "adam": Adam, "multiadam": MultiAdam, "lbfgs": LBFGS, "bfgs": BFGS,
                               "chain": Chain, "adam+lbfgs": AdamLBFGS, "adam+lbfgs+bfgs": AdamLBFGSBFGS}
