"""One compiled graph per training step: residuals, loss, gradient and update.

Without it, ``solve(compile=True)`` compiles the residuals (and their backward),
then sums the loss, runs the autograd engine and steps the optimizer in Python.
For first-order strategies that can write their update as tensor operations
(``Adam``), this module compiles the whole step instead: the gradient comes from
``torch.func.grad_and_value`` inside the traced function, and the update is
traced too, so Inductor fuses forward, backward and update into one graph.
There is no autograd engine, no optimizer loop and one guard check per step.

Side by side on this project's 2-core CPU (Burgers 1d, one thread, medians of 5
blocks): 4.3 vs 6.3 ms per step for a 3 x 20 MLP on 2780 points, and 256 vs
405 ms at PINNacle size (5 x 100, 12288 points).

The protocol a strategy implements to be fused (duck-typed):

``fused_state(params) -> list[list[Tensor]]``
    its per-parameter state tensors (created if missing), in the order
    ``fused_update`` takes them; they are updated in place.
``fused_update(params, grads, state, lr)``
    the update, written with in-place tensor operations on ``params`` and
    ``state``, which it receives as flat (1-d) views; ``lr`` is a 0-d tensor
    (so schedules do not recompile).

Only the fixed weighting is fused: the others (causal, gradient-based
balancing) change their weights between steps from Python state, so they keep
the residual-only compiled path.
"""

from __future__ import annotations

import types
from typing import Any, Callable

import torch
from torch import nn

from .errors import ConfigError, warn
from .loss import LossEval, live_residuals, loss_terms


def compile_fresh(fn: Callable, mode: str, fullgraph: bool = False) -> Callable:
    """``torch.compile`` of a fresh copy of ``fn``'s code object.

    Dynamo keeps its compiled graphs per code object and guards them on the closure (the
    problem, the model). Every ``solve`` builds new closures, so with one shared code object
    each solve in a process would add a recompilation, and past Dynamo's limit (8) a long-lived
    process (a study worker running trial after trial) would silently run eagerly."""
    # No donated buffers, process-wide (read when a graph is compiled or loaded from the
    # cache): MultiAdam and the gradient-based weightings differentiate one evaluation several
    # times, and AOTAutograd frees donated activations after the first backward (torch's raw
    # RuntimeError). The on-disk cache does not key on that setting (torch 2.13): a donated
    # backward from an earlier process was reused and trained 4-9% off, silently; a distinct
    # value of a naming-only inductor setting keeps pinnlab's graphs apart.
    import torch._functorch.config  # noqa: F401 (torch imports these submodules lazily)
    import torch._inductor.config  # noqa: F401
    torch._functorch.config.donated_buffer = False
    torch._inductor.config.cpp.descriptive_names = "inductor_node"
    fresh = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__,
                               fn.__defaults__, fn.__closure__)
    options = dict(torch._inductor.list_mode_options(mode)) if mode else {}
    if fullgraph:  # one frame: a graph break's resume functions guard on their own locals
        options["guard_filter_fn"] = _call_guards(fn.__code__)
    return torch.compile(fresh, dynamic=None, options=options, fullgraph=fullgraph)


#: guards on tensors and on the global torch state, always kept
_STATE_GUARDS = frozenset({"TENSOR_MATCH", "SHAPE_ENV", "GLOBAL_STATE", "GRAD_MODE", "DEFAULT_DEVICE",
                           "TORCH_FUNCTION_STATE", "FUNCTORCH_STACK_MATCH", "DETERMINISTIC_ALGORITHMS",
                           "AUTOGRAD_SAVED_TENSORS_HOOKS"})


def _call_guards(code: types.CodeType) -> Callable:
    """A Dynamo guard filter that keeps the guards on what changes from call to call.

    Kept: every tensor guard (dtype, shape, strides: a sampler that changes the point count
    or a switch of dtype still recompiles), the global torch state, and every guard on the
    function's arguments (the batches' keys and weights, the optimizer's settings). Dropped:
    guards on its closure and globals, which are the problem, the model's structure and
    pinnlab's own modules, built by this solve and fixed while it runs (each solve compiles a
    fresh code object). Dynamo checks about 650 guards before every step of a small MLP; the
    kept ones cost a third of the time (0.42 -> 0.13 ms per step, profiled).

    Only for ``fullgraph`` compilations: after a graph break Dynamo compiles resume functions
    whose arguments are the broken frame's locals, and their guards (which expression a
    SymPy translator is looking at) must all stay."""
    arguments = frozenset(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])

    def keep(entries):
        return [e.guard_type in _STATE_GUARDS
                or (not e.is_global and _root(e.name) in arguments) for e in entries]
    return keep


def _root(name: str) -> str:
    """The variable a guard's source starts from: ``batches['x'].points`` -> ``batches``."""
    end = 0
    while end < len(name) and (name[end].isalnum() or name[end] == "_"):
        end += 1
    return name[:end]


def can_fuse(model: nn.Module, weighting: Any, ddp: Any) -> bool:
    """Whether the step can be one graph: one process, the plain fixed weighting, and a model
    that torch.func can differentiate (models with ``fusable = False`` opt out)."""
    from .weighting import FixedWeights
    return (ddp is None and type(weighting) is FixedWeights
            and all(getattr(m, "fusable", True) for m in model.modules()))


class _Loss(nn.Module):
    """The model and the problem's learnable constants as one module, so that
    ``torch.func.functional_call`` swaps in the parameters being differentiated."""

    def __init__(self, compiled, net, engine, params, weighting):
        super().__init__()
        self.net, self.params = net, params
        self.compiled, self.engine, self.weighting = compiled, engine, weighting

    def forward(self, batches: dict):
        residuals = live_residuals(self.net, self.compiled.residuals(self.net, self.engine, batches,
                                                                     self.params.env()))
        # the step is not an input of the graph (an int input recompiles as it changes); the
        # fixed weighting, the only one fused, does not depend on it
        terms, groups, total = loss_terms(self.compiled, residuals, self.weighting, batches,
                                          self.params, 0)
        return total, (terms, groups, residuals)


class FusedStep:
    """Compiles and runs ``loss -> grad -> strategy update`` as one graph per strategy."""

    def __init__(self, compiled, net, engine, params, weighting, mode: str):
        self.loss = _Loss(compiled, net, engine, params, weighting)
        # the Parameter objects stay the same for the whole solve (dtype switches and rollbacks
        # change their data in place), so they are listed once, at the first step: those eager
        # Adam updates (trainable, and reached by the loss; frozen or unused ones keep their
        # values, and weight decay does not shrink them)
        self.parameters: list | None = None
        self.mode = mode
        self._fns: dict[int, Any] = {}
        self.used = False  # whether any step ran fused (metrics["compiled"])
        self.enabled = True

    def _trained(self, batches: dict) -> list:
        """The parameters with a gradient, found by one eager evaluation."""
        named = [(n, p) for n, p in self.loss.named_parameters() if p.requires_grad]
        with torch.enable_grad():
            total, _ = self.loss(batches)
            grads = torch.autograd.grad(total, [p for _, p in named], allow_unused=True)
        return [(n, p) for (n, p), g in zip(named, grads) if g is not None]

    def _build(self, batches: dict):
        loss = self.loss
        if self.parameters is None:
            self._named = self._trained(batches)
            self.parameters = [p for _, p in self._named]
        if not self._named:
            raise ConfigError("no trainable parameter reaches the loss")
        names, shapes = zip(*[(n, p.shape) for n, p in self._named])

        def objective(values, batches):
            shaped = {n: v.view(s) for n, v, s in zip(names, values, shapes)}
            return torch.func.functional_call(loss, shaped, (batches,))

        grad_and_loss = torch.func.grad_and_value(objective, has_aux=True)

        # the strategy is an argument, not a closure variable: its settings (betas, weight decay)
        # are re-checked at every call, like the batches (see _call_guards)
        def train_step(values, state, lr, batches, strategy):
            grads, (total, (terms, groups, residuals)) = grad_and_loss(values, batches)
            with torch.no_grad():
                strategy.fused_update(values, grads, state, lr)
            return (total.detach(), {k: v.detach() for k, v in terms.items()},
                    {k: v.detach() for k, v in groups.items()},
                    {k: v.detach() for k, v in residuals.items()})

        # one graph or none: a graph break inside functional_call would split the step into
        # pieces slower than eager code, so it raises here and the step falls back
        return compile_fresh(train_step, self.mode, fullgraph=True)

    def __call__(self, strategy, batches: dict, step: int) -> LossEval | None:
        """The step's loss evaluation, with the update applied; ``None`` when the model cannot
        be traced this way (then the strategy takes its ordinary path, and so do later steps)."""
        if not self.enabled:
            return None
        if self.used:
            return self._run(strategy, batches, step)
        try:
            return self._run(strategy, batches, step)
        except Exception as exc:  # tracing failed before any update was applied
            self.enabled = False
            warn(f"solve(compile=True): this model cannot run as one compiled "
                 f"training step ({type(exc).__name__}: {str(exc)[:200]}); "
                 "compiling its residuals only")
            return None

    def _run(self, strategy, batches: dict, step: int) -> LossEval:
        fn = self._fns.get(id(strategy))
        if fn is None:  # the first step, or a later stage of a chain
            fn = self._fns[id(strategy)] = self._build(batches)
        # flat detached aliases: the update writes the parameters' storage, outside autograd.
        # Flat, because Inductor drops in-place updates of 0-d float64 inputs (torch 2.13:
        # a learnable constant of an inverse problem stayed at its initial value)
        values = [p.detach().view(-1) for p in self.parameters]
        state = [[x.view(-1) for x in group] for group in strategy.fused_state(self.parameters)]
        lr = torch.tensor(strategy.lr_at(step), dtype=values[0].dtype, device=values[0].device)
        total, terms, groups, residuals = fn(values, state, lr, batches, strategy)
        self.used = True
        return LossEval(total, terms, groups, residuals)
