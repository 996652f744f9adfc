"""Training: the LightningModule, EMA, callbacks, ``train()``, and model files."""

from molgen.training.checkpoint import GenerativeModel, export_model, load_model

__all__ = ["GenerativeModel", "export_model", "load_model"]
