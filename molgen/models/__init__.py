"""Equivariant denoisers, picked by registry name (``model: {name: egnn}``)."""

from molgen.models.base import MODELS, Denoiser, DenoiserInput, DenoiserOutput, build_model, register_model

__all__ = ["MODELS", "Denoiser", "DenoiserInput", "DenoiserOutput", "build_model", "register_model"]
