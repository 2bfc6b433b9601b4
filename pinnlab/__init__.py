"""pinnlab: physics-informed neural networks from SymPy declarations.

    from pinnlab import Problem, Dirichlet, Initial, Interval, TimeInterval, MLP, solve

The public surface is this flat list; the machinery sits in the submodules.
"""

from .conditions import Condition, Data, Dirichlet, Initial, Neumann, NormalDerivative, Periodic, Robin, dn
from .errors import (CheckpointError, ConfigError, DataError, DeclarationError, GeometryError,
                     PinnlabError, PinnlabWarning, TrainingError)
from .geometry import (Ball, Box, Disk, Hypercube, Hypersphere, Interval, Polygon, Rectangle,
                       TimeInterval)
from .models import MLP
from .problem import Equation, Problem
from .runs import load_run
from .solve import Result, TrainState, solve

__version__ = "0.1.0"

__all__ = [
    "Problem", "Equation", "Condition", "Dirichlet", "Neumann", "Robin", "Initial", "Periodic", "Data",
    "dn", "NormalDerivative",
    "Interval", "TimeInterval", "Rectangle", "Box", "Disk", "Ball", "Polygon", "Hypercube", "Hypersphere",
    "MLP", "solve", "Result", "TrainState", "load_run",
    "PinnlabError", "DeclarationError", "GeometryError", "DataError", "ConfigError", "CheckpointError",
    "TrainingError", "PinnlabWarning",
]
