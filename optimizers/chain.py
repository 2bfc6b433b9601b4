"""Chained optimizer stages: ``chain``, ``adam+lbfgs`` and ``adam+lbfgs+bfgs``.

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
        start = 0
        for stage, n in zip(self.stages, self.steps):
            stage.start_step = start
            if not getattr(stage, "total_steps", 0):
                stage.total_steps = int(n)
            stage.setup(params)
            start += int(n)
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
