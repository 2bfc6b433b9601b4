"""Multilayer perceptron with a jet rule, and the model-spec protocol.

A *model spec* is a small object that knows its settings but not yet the
problem's dimensions; ``solve`` calls ``spec.build(ModelContext)`` to get the
``torch.nn.Module``. Users may also pass a ready ``nn.Module`` (any pointwise
module mapping ``(N, n_coords)`` to ``(N, n_fields)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch import nn

from ..errors import ConfigError
from ..jets import Jet
from . import mlp_kernel
from .layers import Activation, Linear, Normalize, Sequential, init_linear


@dataclass(frozen=True)
class ModelContext:
    """What a model spec needs to know about the problem."""

    in_dim: int
    out_dim: int
    lo: np.ndarray
    hi: np.ndarray
    coordinates: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    time_axis: int | None = None
    extra: dict = field(default_factory=dict)


class MLPNet(nn.Module):
    """Normalize -> (Linear -> activation) x depth -> Linear."""

    #: its jet rule handles ragged jets (derivatives carried for a prefix of the batch)
    ragged_jets = True

    def __init__(self, in_dim: int, out_dim: int, width: int, depth: int,
                 activation: str, init: str, lo, hi, kernel: bool = True):
        super().__init__()
        #: use the fused C++ jet kernel where it applies (:mod:`pinnlab.models.mlp_kernel`)
        self.kernel = kernel
        layers: list[nn.Module] = [Normalize(lo, hi)]
        sizes = [in_dim] + [width] * depth
        for a, b in zip(sizes[:-1], sizes[1:]):
            lin = Linear(a, b)
            init_linear(lin, init)
            layers += [lin, Activation(activation)]
        head = Linear(sizes[-1], out_dim)
        init_linear(head, init)
        layers.append(head)
        self.net = Sequential(*layers)

    def forward(self, x):
        return self.net(x)

    def forward_jet(self, jet: Jet) -> Jet:
        out = mlp_kernel.jet_forward(self, jet)  # None where the kernel does not apply (or is off)
        return out if out is not None else self.net.forward_jet(jet)


@dataclass
class MLP:
    """Fully connected network: ``depth`` hidden layers of ``width`` units.

    Inputs are mapped from the domain's bounding box onto [-1, 1]^d first.
    ``kernel``: with tanh, float32 on the CPU and derivatives up to second order,
    the jet engine runs a fused C++ kernel (:mod:`pinnlab.models.mlp_kernel`);
    ``False`` keeps the tensor-operation path.
    """

    name = "mlp"

    width: int = 50
    depth: int = 4
    activation: str = "tanh"
    init: str = "xavier_normal"
    kernel: bool = True

    def build(self, ctx: ModelContext) -> nn.Module:
        if self.width < 1 or self.depth < 1:
            raise ConfigError(f"MLP needs width >= 1 and depth >= 1, got width={self.width}, depth={self.depth}")
        net = MLPNet(ctx.in_dim, ctx.out_dim, self.width, self.depth, self.activation,
                     self.init, ctx.lo, ctx.hi, kernel=bool(self.kernel))
        mlp_kernel.prepare(net)
        return net
