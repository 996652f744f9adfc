"""Start a new run from the weights of a trained model (``train.init_from``).

The use it is made for: a pocket model fine-tuned from an unconditional prior of the same vocabulary
(issue 16: the chemistry comes from many drug-like molecules, the pocket complexes teach placement).
The two networks differ in one place only: the pocket model's atom embedding reads F more input columns,
the pocket residue features of :mod:`molgen.data.transforms`, between the charge one-hot and the context
flag (:func:`molgen.models.layers.node_inputs`). Those columns start at zero, so the warm-started
pocket network computes exactly the prior's function on any graph whose atoms carry zero residue
features (the ligand atoms), and the pocket only enters as training moves the new weights.

A pocket network built with ``model.context_gate`` also holds per-layer gates on its pocket messages
(:mod:`molgen.models.egnn`) that the prior lacks: they keep their zero initialisation, which makes
step 0 the prior's function on the ligand even with pocket atoms in reach. A network built with
``model.attention`` holds per-layer attention logits the prior may lack: zero-initialised too, they
make every softmax-weighted mean the prior's plain mean, so a prior trained without attention goes on
training with it from exactly its own function.

A network built with ``train.self_condition`` reads the previous prediction as extra inputs a
prior trained without it lacks: the atom embedding's self-conditioning columns (after the context flag,
before the time embedding), the edge embedding's (after the bond state) and every layer's static edge
features (after the distance basis of ``msg_e`` and ``edge_e``). Those columns start at zero too, so
the network computes the source's function whatever the previous prediction is, and learns to use it.

Every other parameter must match by name and shape (the wrapper :class:`PocketRadiusDenoiser` holds
the network as ``net.``; names are compared without it): a different hidden size, layer count or
vocabulary is an error, not a silent partial load. The EMA copy starts from the same weights.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from molgen.errors import MolgenError

log = logging.getLogger(__name__)

WRAPPER_PREFIX = "net."
#: The atom-embedding input layer, whose columns follow :func:`molgen.models.layers.node_inputs`.
EMBED_KEY = "embed.0.weight"
#: Parameters a pocket network may hold that its prior lacks (zero-initialised pocket-message gates).
GATE_SUFFIXES = (".gate_h", ".gate_x")
#: Parameters an attention network may hold that its source lacks (zero-initialised attention logits).
ATTENTION_SUFFIXES = (".attn_logit.weight", ".attn_logit.bias")


def _bare(key: str) -> str:
    return key.removeprefix(WRAPPER_PREFIX)


#: Edge-input layers whose last columns are the self-conditioning features (zero when warm-started).
SELF_COND_EDGE_KEYS = ("embed_edge.0.weight", ".msg_e.weight", ".edge_e.weight")


def _embed_columns(src: torch.Tensor, dst_shape: torch.Size, num_types: int, num_charges: int,
                   self_cond: int = 0) -> torch.Tensor:
    """The prior's embedding weight [H, D_src] placed into [H, D_dst]: the new residue-feature columns
    (after the type and charge one-hots) and the ``self_cond`` new self-conditioning columns (before the H
    time-embedding columns) are zero, every other column is the prior's."""
    head = (num_types + 1) + (num_charges + 1)
    hidden = dst_shape[0]
    extra = dst_shape[1] - src.shape[1] - self_cond
    if src.shape[0] != hidden or extra < 0:
        raise MolgenError(f"cannot warm-start the atom embedding {tuple(dst_shape)} from {tuple(src.shape)}")
    out = src.new_zeros(dst_shape)
    out[:, :head] = src[:, :head]
    out[:, head + extra:dst_shape[1] - hidden - self_cond] = src[:, head:src.shape[1] - hidden]
    out[:, dst_shape[1] - hidden:] = src[:, src.shape[1] - hidden:]
    return out


def _zero_columns_after(src: torch.Tensor, dst_shape: torch.Size) -> torch.Tensor | None:
    """``src`` [R, D_src] with zero columns appended to [R, D_dst], or None when the shapes do not allow it."""
    if len(dst_shape) != 2 or src.dim() != 2 or src.shape[0] != dst_shape[0] or src.shape[1] > dst_shape[1]:
        return None
    out = src.new_zeros(dst_shape)
    out[:, :src.shape[1]] = src
    return out


def warm_start(model: nn.Module, source: str | Path, ema: nn.Module | None = None) -> dict:
    """Load ``source`` (a model file or a Lightning checkpoint) into ``model`` (and ``ema``).

    Args:
        model: the new run's network (bare, or wrapped in ``PocketRadiusDenoiser``).
        source: the trained model to start from.
        ema: the run's ``AveragedModel``, given the same weights.

    Returns:
        ``{"source", "copied", "embedding_widened", "new_columns", "new_gates", "new_attention",
        "self_condition_widened"}``: what was loaded (``new_gates``: pocket-message gates,
        ``new_attention``: attention-logit tensors, both left at zero; ``self_condition_widened``: tensors
        given zero self-conditioning columns).

    Raises:
        MolgenError: an unreadable file, another vocabulary, or a parameter missing or of another shape.
    """
    from molgen.chem.vocab import Vocab
    from molgen.training.checkpoint import read_model_file

    src_config, _, vocab, src_state, _ = read_model_file(source)
    src = {_bare(k): v for k, v in src_state.items()}
    dst = model.state_dict()
    net = getattr(model, "net", model)
    num_types, num_charges = getattr(net, "num_types", None), getattr(net, "num_charges", None)
    # self-conditioning inputs this network reads and the source did not: zero columns (module docstring)
    new_sc = bool(getattr(net, "self_condition", False)) and not src_config.get("train", {}).get("self_condition")
    sc_node_columns = (num_types + num_charges) if new_sc else 0
    if Vocab.from_dict(vocab).num_types != num_types or Vocab.from_dict(vocab).num_charges != num_charges:
        raise MolgenError(f"init_from has vocabulary {vocab.get('name')!r} with other atom types or charges "
                          "than this run's", source)
    new, widened, gates, attention, sc_tensors = {}, 0, 0, 0, 0
    for key, value in dst.items():
        bare = _bare(key)
        if bare not in src and bare.endswith(GATE_SUFFIXES):
            new[key], gates = value, gates + 1
            continue
        if bare not in src and bare.endswith(ATTENTION_SUFFIXES):
            new[key], attention = torch.zeros_like(value), attention + 1
            continue
        if bare not in src:
            raise MolgenError(f"init_from has no parameter {bare!r} (another architecture?)", source)
        s = src[bare].to(value.dtype)
        if s.shape == value.shape:
            new[key] = s
        elif bare == EMBED_KEY:
            new[key] = _embed_columns(s, value.shape, num_types, num_charges, sc_node_columns)
            widened = value.shape[1] - s.shape[1] - sc_node_columns
            sc_tensors += bool(sc_node_columns)
        elif new_sc and bare.endswith(SELF_COND_EDGE_KEYS) and (grown := _zero_columns_after(s, value.shape)) is not None:
            new[key] = grown
            sc_tensors += 1
        else:
            raise MolgenError(f"init_from parameter {bare!r} has shape {tuple(s.shape)}, this run's "
                              f"{tuple(value.shape)} (another hidden size or layer count?)", source)
    unused = sorted(set(src) - {_bare(k) for k in dst})
    if unused:
        raise MolgenError(f"init_from holds parameters this network lacks: {', '.join(unused[:3])}", source)
    model.load_state_dict(new)
    if ema is not None:
        ema.module.load_state_dict(model.state_dict())
    copied = len(new) - gates - attention
    info = {"source": str(source), "copied": copied, "embedding_widened": bool(widened),
            "new_columns": widened, "new_gates": gates, "new_attention": attention,
            "self_condition_widened": sc_tensors}
    log.info("warm start from %s: %d tensors, %d new zero embedding columns, %d zero gates, %d zero attention "
             "tensors, %d tensors widened for self-conditioning", source, copied, widened, gates, attention,
             sc_tensors)
    return info
