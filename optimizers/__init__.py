"""Optimizers for physics-informed training.

* :class:`MultiAdam` / :func:`multiadam_update` -- per-loss-group Adam (Yao et al., ICML 2023).
* :class:`LBFGS` -- limited-memory BFGS with strong-Wolfe line search and explicit stop reasons.
* :class:`BFGS` -- dense BFGS / self-scaled BFGS / self-scaled Broyden finishing stage.
* :mod:`.strategies` -- how ``solve`` drives them (registered names ``adam``, ``multiadam``,
  ``lbfgs``, ``bfgs``; :mod:`.chain` adds ``auto``, the default, ``chain``, ``adam+lbfgs``,
  ``adam+lbfgs+bfgs``).
* :mod:`.balancing` -- adaptive loss weightings ``lra``, ``gradnorm``, ``ntk`` (exported as
  ``WEIGHTINGS`` for :func:`pinnlab.weighting.all_weightings`).
"""

from .balancing import WEIGHTINGS, GradNormWeights, LRAWeights, NTKWeights
from .bfgs import BFGS
from .lbfgs import LBFGS
from .multiadam import MultiAdam, multiadam_update

__all__ = ["BFGS", "LBFGS", "MultiAdam", "multiadam_update", "WEIGHTINGS", "LRAWeights",
           "GradNormWeights", "NTKWeights"]
