"""Models: specs that build ``torch.nn.Module`` networks with jet rules."""

from .features import Fourier, FourierEmbedding, FourierMultiscale, FourierST, ModifiedMLP
from .hard import Hard, HardConstraintNet
from .layers import ACTIVATIONS, Activation, Linear, Normalize, Sequential, supports_jets
from .mlp import MLP, MLPNet, ModelContext
from .moe import HCMoE, HCMoENet
from .periodic import PeriodicEmbedding, PeriodicMLP
from .pig import PIG, GaussianFeatures

MODELS: dict[str, type] = {"mlp": MLP, "fourier": Fourier, "fourier_multiscale": FourierMultiscale,
                           "fourier_st": FourierST, "periodic_mlp": PeriodicMLP,
                           "modified_mlp": ModifiedMLP, "pig": PIG, "hard": Hard,
                           "hc_moe": HCMoE}

__all__ = ["MODELS", "ACTIVATIONS", "Activation", "Linear", "Normalize", "Sequential", "supports_jets",
           "MLP", "MLPNet", "ModelContext", "Fourier", "FourierEmbedding", "FourierMultiscale",
           "FourierST", "ModifiedMLP", "PeriodicEmbedding", "PeriodicMLP", "PIG", "GaussianFeatures",
           "Hard", "HardConstraintNet", "HCMoE", "HCMoENet"]
