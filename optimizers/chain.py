"""Chained optimizer stages: ``auto`` (the default), ``chain``, ``adam+lbfgs`` and ``adam+lbfgs+bfgs``.

A chain runs strategies one after the other, each for its own number of solve
steps; ``solve`` checkpoints at every stage boundary and switches the dtype
when a stage asks for one (the float64 quasi-Newton finish).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pinnlab.errors import ConfigError

from .strategies import BFGS, LBFGS, Adam


def _stage_list(stages: Any) -> list:
    """``stages`` as a list; a string (from ``--set optimizer.stages=adam,lbfgs``) names the stages,
    separated by commas, optionally in brackets."""
    if stages is None:
        return []
    if isinstance(stages, str):
        text = stages.strip()
        if len(text) >= 2 and (text[0], text[-1]) in (("[", "]"), ("(", ")")):
            text = text[1:-1]
        if any(c in text for c in "{}:"):
            raise ConfigError(f"optimizer chain: stages={stages!r}: on the command line give the stage "
                              "names separated by commas and their lengths as steps (--set "
                              "optimizer.stages=adam,bfgs --set optimizer.steps=5000,1000); stage "
                              "settings need a settings dict in the script")
        return [name.strip().strip("'\"") for name in text.split(",") if name.strip()]
    if isinstance(stages, dict) or not isinstance(stages, (list, tuple)):
        raise ConfigError(f"optimizer chain: stages must be a list of stage names, settings dicts or "
                          f"strategies, got {stages!r}")
    return list(stages)


@dataclass
class Chain:
    """Stages run one after the other.

    ``stages`` are strategy instances, names or ``{"name": ..., **settings}``
    dicts (a dict may carry its own ``"steps"``); ``steps[i]`` is the number of
    solve steps of stage ``i``. Built through the registry::

        {"name": "chain", "stages": [{"name": "adam", "lr": 1e-3, "steps": 5000},
                                     {"name": "lbfgs", "steps": 2000},
                                     {"name": "bfgs", "update": "ssbroyden", "steps": 3000}]}

    A stage's schedule counts steps from its own start; a stage with a ``dtype``
    (``bfgs``: float64) makes ``solve`` convert model, constants and points when
    it starts (:meth:`dtype_for`). :attr:`stage_boundaries` are the first steps of
    stages 2.. (the report marks them from ``config["optimizer"]["steps"]``).
    """

    name = "chain"
    stages: Any = field(default_factory=list)
    steps: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._resolve()

    def _resolve(self) -> None:
        from pinnlab import config as cfg
        built, steps = [], list(self.steps or [])
        inner = []
        for spec in _stage_list(self.stages):
            if isinstance(spec, dict):
                spec = dict(spec)
                if "steps" in spec:
                    inner.append(int(spec.pop("steps")))
            elif isinstance(spec, str):
                spec = {"name": spec}
            if isinstance(spec, dict) and spec.get("name") in ("chain",):
                raise ConfigError("optimizer chain: a stage cannot itself be a chain")
            built.append(cfg.build("optimizer", spec))
        if not steps and inner and len(inner) == len(built):
            steps = inner
        self.stages = built
        self.steps = [int(n) for n in steps]

    def setup(self, params: list) -> None:
        if not self.stages or len(self.stages) != len(self.steps):
            raise ConfigError(f"optimizer chain: give as many stage lengths (steps) as stages; got "
                              f"{len(self.stages)} stages and steps={self.steps}")
        if any(n < 0 for n in self.steps):
            raise ConfigError(f"optimizer chain: stage lengths must be >= 0, got {self.steps}")
        self._place_stages()
        for stage, n in zip(self.stages, self.steps):
            if not getattr(stage, "total_steps", 0):
                stage.total_steps = int(n)
            stage.setup(params)

    def _place_stages(self) -> None:
        """Each stage's first solve step, and the steps where stages end, from the stage lengths."""
        start = 0
        for stage, n in zip(self.stages, self.steps):
            stage.start_step, start = start, start + int(n)
        self.bounds = [sum(self.steps[:i + 1]) for i in range(len(self.steps))]

    def planned_steps(self) -> int:
        """Solve steps of the whole chain (known before ``setup``)."""
        return sum(int(n) for n in self.steps)

    @property
    def total_steps(self) -> int:
        return self.planned_steps()

    @total_steps.setter
    def total_steps(self, value: int) -> None:
        pass  # the chain's length is the sum of its stages

    def stage_index(self, step: int) -> int:
        """The stage running at ``step`` (the last one runs on past the planned length)."""
        end = 0
        for i, n in enumerate(self.steps):
            end += int(n)
            if step < end:
                return i
        return len(self.steps) - 1

    @property
    def stop_reason(self):
        return getattr(self.stages[self._last], "stop_reason", None) if hasattr(self, "_last") else None

    def step(self, evaluate: Callable, step: int):
        self._last = self.stage_index(step)
        return self.stages[self._last].step(evaluate, step)

    def dtype_for(self, step: int) -> str | None:
        """The dtype of the stage running at ``step`` (``None``: keep the current one)."""
        return getattr(self.stages[self.stage_index(step)], "dtype", None)

    def scale_lr(self, factor: float) -> None:
        for s in self.stages:
            s.scale_lr(factor)

    def state_dict(self) -> dict:
        return {"stages": [s.state_dict() for s in self.stages]}

    def load_state_dict(self, state: dict) -> None:
        if len(state["stages"]) != len(self.stages):
            raise ValueError(f"chain has {len(self.stages)} stages, state has {len(state['stages'])}")
        for s, st in zip(self.stages, state["stages"]):
            s.load_state_dict(st)

    @property
    def stage_boundaries(self) -> list[int]:
        """First solve step of every stage after the first."""
        return [sum(self.steps[:i + 1]) for i in range(len(self.steps) - 1)]


def _refuse_stage_settings(opt) -> None:
    """A preset chain's stages are its own: ``stages`` / ``steps`` given to it would be ignored."""
    if opt.stages or opt.steps:
        raise ConfigError(f"its stages are fixed (set their lengths with its own "
                          f"settings, e.g. {'lbfgs_fraction' if opt.name == 'auto' else 'adam_steps'}); "
                          "for other stages use {'name': 'chain', 'stages': [...], 'steps': [...]}")


@dataclass
class AdamLBFGS(Chain):
    """The common schedule: ``adam_steps`` of Adam, then ``lbfgs_steps`` L-BFGS iterations."""

    name = "adam+lbfgs"
    adam_steps: int = 10000
    lbfgs_steps: int = 1000
    lr: float = 1e-3
    schedule: str = "constant"
    decay_rate: float = 0.9
    decay_steps: int = 1000
    warmup: int = 0
    history_size: int = 50

    def _resolve(self) -> None:
        _refuse_stage_settings(self)
        self.stages = [Adam(lr=self.lr, schedule=self.schedule, decay_rate=self.decay_rate,
                            decay_steps=self.decay_steps, warmup=self.warmup),
                       LBFGS(history_size=self.history_size)]
        self.steps = [int(self.adam_steps), int(self.lbfgs_steps)]


@dataclass
class AdamLBFGSBFGS(AdamLBFGS):
    """Adam, then L-BFGS, then the float64 dense quasi-Newton finish (``update``: ssbroyden by default)."""

    name = "adam+lbfgs+bfgs"
    bfgs_steps: int = 1000
    update: str = "ssbroyden"
    max_memory_bytes: int = 2 ** 30

    def _resolve(self) -> None:
        super()._resolve()
        self.stages.append(BFGS(update=self.update, max_memory_bytes=self.max_memory_bytes))
        self.steps.append(int(self.bfgs_steps))


@dataclass
class Auto(Chain):
    """The default optimizer: Adam, then L-BFGS for the last ``lbfgs_fraction`` of the run's steps.

    The stage lengths follow ``solve``'s ``steps`` (1000 by default: 500 Adam steps, then 500
    L-BFGS iterations). Adam finds the basin, L-BFGS converges in it: on eleven classic problems
    at the default budget the L2RE was 2-190x below Adam alone's, in 0.45-1.4x the wall time
    (heat 1.4e-2 -> 7e-5, 2D Poisson 0.13 -> 5e-3; ``benchmarks/defaults.py``, README).

    L-BFGS needs the same loss from step to step, so ``auto`` runs Adam for the whole run when
    the points move (an adaptive sampler, or ``resample_every``), when the weighting is not the
    fixed one (causal and gradient-based weights change between steps), and under ``torchrun``;
    :attr:`plan_note` says which. A resumed run keeps the split it started with, so that with
    more ``steps`` the L-BFGS stage runs on.
    """

    name = "auto"
    lr: float = 1e-3
    lbfgs_fraction: float = 0.5
    history_size: int = 50

    def __post_init__(self) -> None:
        _refuse_stage_settings(self)
        super().__post_init__()

    def _resolve(self) -> None:
        if not (0.0 <= self.lbfgs_fraction <= 1.0):
            raise ConfigError(f"lbfgs_fraction must lie in [0, 1] (the share of the steps "
                              f"run by L-BFGS), got {self.lbfgs_fraction!r}")
        if self.history_size < 1:  # (its L-BFGS stage would name itself, not auto's setting)
            raise ConfigError(f"history_size (the L-BFGS stage's memory) must be >= 1, "
                              f"got {self.history_size!r}")
        self.stages = [Adam(lr=self.lr), LBFGS(history_size=self.history_size)]
        self.steps = []
        self.plan_note = None

    def planned_steps(self) -> int:
        return 0  # the length is the solve's steps (1000 by default)

    def plan(self, steps: int, sampler=None, weighting=None, distributed: bool = False) -> None:
        """Fix the stage lengths for a run of ``steps`` steps (``solve`` calls this before ``setup``)."""
        from pinnlab.weighting import FixedWeights
        self._resolve()  # fresh stages: an instance passed to a second solve starts over
        why = None
        steps = int(steps)
        every = getattr(sampler, "resample_every", 0) or 0
        if getattr(sampler, "adaptive", False) or 0 < every < steps:
            why = f"the {getattr(sampler, 'name', 'sampler')} sampler moves the points"
        elif weighting is not None and not (isinstance(weighting, FixedWeights)
                                            and type(weighting).__call__ is FixedWeights.__call__):
            # (a subclass of FixedWeights that keeps its weighting rule keeps fixed weights)
            why = f"the {getattr(weighting, 'name', 'weighting')} weighting changes the loss between steps"
        elif distributed:
            why = "the run is distributed (torchrun)"
        if why is not None:
            self.plan_note = f"Adam for all steps: {why}, and L-BFGS needs a fixed loss"
            self.stages, self.steps = self.stages[:1], [steps]
            return
        n_lbfgs = int(steps * self.lbfgs_fraction + 0.5)  # half up: 5 steps are 2 + 3
        self.steps = [steps - n_lbfgs, n_lbfgs]

    def setup(self, params: list) -> None:
        if not self.steps:
            raise ConfigError("optimizer auto: its stage lengths follow the run's steps; it is set up by "
                              "solve() (for a stand-alone chain give {'name': 'chain', 'stages': [...], "
                              "'steps': [...]})")
        super().setup(params)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "steps": list(self.steps)}

    def load_state_dict(self, state: dict) -> None:
        saved = state.get("steps")
        if saved is not None and list(saved) != self.steps and 1 <= len(saved) <= len(self.stages):
            # a resumed run keeps its split (with more steps its last stage runs on), and its plan:
            # a run trained Adam-only (under torchrun) stays Adam-only in one process
            if len(saved) < len(self.stages):
                self.stages = self.stages[:len(saved)]
                self.plan_note = self.plan_note or "Adam for all steps, as in the run this resumes"
            self.steps = [int(n) for n in saved]
            self._place_stages()
        super().load_state_dict(state)
