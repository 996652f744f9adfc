"""Model files: export the EMA weights with config and dataset statistics; load them back safely.

Two formats load with :func:`load_model`, both with ``torch.load(weights_only=True)``:

* a Lightning training checkpoint (``RUN/checkpoints/last.ckpt``): EMA weights are taken when present;
* an exported model file (``molgen-model/1``): ``{"format", "config", "stats", "vocab", "state_dict",
  "meta"}`` — a few MB, what we ship in ``data/checkpoints/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from molgen.chem.vocab import Vocab
from molgen.errors import MolgenError

FORMAT = "molgen-model/1"


@dataclass
class GenerativeModel:
    """Everything sampling needs: the denoiser (EMA weights, eval mode), its process, vocab and stats."""

    model: torch.nn.Module
    process: object
    vocab: Vocab
    stats: dict
    config: dict
    meta: dict

    @property
    def self_condition(self) -> bool:
        return bool(self.config.get("train", {}).get("self_condition", False))

    def to(self, device: str | torch.device) -> GenerativeModel:
        self.model.to(device)
        return self


def export_model(module, path: str | Path, meta: dict | None = None) -> Path:
    """Write the sampling weights (EMA if enabled) of a MolgenModule to an exported model file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "config": module.config,
        "stats": module.stats,
        "vocab": module.vocab.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in module.sampling_model().state_dict().items()},
        "meta": meta or {},
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def export_checkpoint(
    checkpoint: str | Path, path: str | Path, meta: dict | None = None, process_options: dict | None = None
) -> Path:
    """Export the sampling weights of a Lightning checkpoint (e.g. ``RUN/checkpoints/last.ckpt`` of a
    stopped run) to a model file, as :func:`export_model` does at the end of training.

    Args:
        process_options: sampling settings written into the file's process config (for example
            ``{"discrete_stochasticity": 1.0}``), so that the model samples with them by default; they
            are checked by building the process, and weights are unchanged.
    """
    gm = load_model(checkpoint, process_options=process_options)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT, "config": gm.config, "stats": gm.stats, "vocab": gm.vocab.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in gm.model.state_dict().items()},
        "meta": {**gm.meta, **(meta or {})},
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def read_model_file(path: str | Path) -> tuple[dict, dict, dict, dict, dict]:
    """``(config, stats, vocab, state_dict, meta)`` of an exported model or a Lightning checkpoint,
    read with ``weights_only=True``; the network is not built.

    Raises:
        MolgenError: missing file, or a file that is not a molgen model/checkpoint.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise MolgenError("checkpoint not found" if not p.exists() else "checkpoint is not a regular file", p)
    if p.stat().st_size == 0:
        raise MolgenError("not a molgen model file: the file is empty (0 bytes)", p)
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle errors, truncated files, non-torch files
        raise MolgenError(f"not a molgen model file, or a damaged one ({_load_problem(err)})", p) from None
    if not isinstance(blob, dict):
        raise MolgenError("not a molgen model file (it holds no model dictionary)", p)
    if blob.get("format") == FORMAT:
        missing = [k for k in ("config", "stats", "vocab", "state_dict") if k not in blob]
        if missing:
            raise MolgenError(f"damaged molgen model file (no {', '.join(missing)})", p)
        return blob["config"], blob["stats"], blob["vocab"], blob["state_dict"], blob.get("meta", {})
    if "hyper_parameters" in blob and "state_dict" in blob:
        hp = blob["hyper_parameters"]
        if not isinstance(hp, dict) or not all(k in hp for k in ("config", "stats", "vocab")):
            raise MolgenError("a Lightning checkpoint, but not a molgen one (no config, stats and vocab)", p)
        sd = blob["state_dict"]
        prefix = "ema.module." if any(k.startswith("ema.module.") for k in sd) else "model."
        state = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        return hp["config"], hp["stats"], hp["vocab"], state, {"global_step": blob.get("global_step")}
    raise MolgenError("not a molgen model file (no model format or Lightning state)", p)


def _load_problem(err: Exception) -> str:
    """What ``torch.load(weights_only=True)`` found wrong, in words; never PyTorch's advice to load the
    file unsafely (a file that needs pickled code to load is not a molgen model file)."""
    text = " ".join(str(err).split())
    if "zip archive" in text or isinstance(err, (EOFError, OSError)):
        return "truncated or damaged: torch cannot read it as an archive"
    if "Weights only load failed" in text or "weights_only" in text:
        return "not a tensor archive written by molgen; molgen never runs code stored in a model file"
    return f"torch cannot read it: {type(err).__name__}"


def load_model(path: str | Path, device: str | torch.device = "cpu", process_options: dict | None = None) -> GenerativeModel:
    """Load an exported model or a Lightning checkpoint (``weights_only=True``) for sampling.

    Args:
        path: model file.
        device: where the network goes.
        process_options: keyword arguments that replace the trained process's sampling settings.

    Raises:
        MolgenError: missing file, or a file that is not a molgen model/checkpoint.
    """
    from molgen.training.module import build_components

    p = Path(path).expanduser()
    config, stats, vocab_d, state, meta = read_model_file(p)
    vocab = Vocab.from_dict(vocab_d)
    if process_options:
        config = {**config, "process": {**config["process"], **process_options}}
    try:
        model, process = build_components(config, vocab)
    except (TypeError, ValueError) as err:
        raise MolgenError(f"bad process option: {err}", p) from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise MolgenError(f"checkpoint does not fit its model: missing {missing[:3]}, unexpected {unexpected[:3]}", p)
    model.eval().to(device)
    return GenerativeModel(model, process, vocab, stats, config, meta)
