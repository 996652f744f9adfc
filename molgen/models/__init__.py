"""Equivariant denoisers, picked by registry name (``model: {name: egnn}``)."""

from molgen.models import e3nn_net, egnn  # noqa: F401  (registers "egnn" and "e3nn")
from molgen.models.base import MODELS, Denoiser, DenoiserInput, DenoiserOutput, build_model, register_model
from molgen.models.e3nn_net import E3NNDenoiser
from molgen.models.egnn import EGNN

__all__ = [
    "EGNN",
    "MODELS",
    "Denoiser",
    "DenoiserInput",
    "DenoiserOutput",
    "E3NNDenoiser",
    "build_model",
    "register_model",
]
