"""The denoiser interface shared by every network, and the registry that picks one by name.

A denoiser sees a noisy molecule and predicts the clean one. It never sees a schedule constant:
the process (``molgen.processes``) turns its state into the inputs below and reads the outputs.

Shapes: N atoms, E directed edges, B graphs, T atom types, C charges, K bond classes
(K = len(BOND_TYPES) = 5, class 0 = "no bond").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class DenoiserInput:
    """What a denoiser is given.

    Attributes:
        pos: [N, 3] float, Å — current (noisy) coordinates.
        h_type: [N, T + 1] float — atom-type state: one-hot with a last "masked" column for
            discrete processes, or a continuous relaxation (last column 0).
        h_charge: [N, C + 1] float — charge state, same convention.
        edge_index: [2, E] long — directed edges (source, target). Complete graphs list the U pairs
            i < j first, then the same pairs reversed (E = 2U); radius graphs hold both directions.
        e_bond: [E, K + 1] float — bond state per edge, same convention as ``h_type``; the two
            directions of a pair carry the same state.
        t: [B] float in [0, 1] — time per graph; t = 0 is noise, t = 1 is data.
        batch: [N] long — graph index of every atom.
        num_graphs: B.
        context_mask: [N] bool or None — atoms that are seen but never moved (pocket atoms,
            fixed fragment atoms). Their predicted coordinates are their input coordinates.
        node_attr: [N, F] float or None — extra invariant atom features (e.g. pocket residue
            type, backbone flag); zeros where absent.
        self_cond: the previous prediction, for self-conditioning, or None.
        paired: True when ``edge_index`` is exactly ``cat([P, P.flip(0)], 1)`` for U = E / 2 pairs P
            (what :meth:`GenerativeProcess.model_input` builds): a network may then compute what is
            symmetric in (i, j) once per pair.
    """

    pos: Tensor
    h_type: Tensor
    h_charge: Tensor
    edge_index: Tensor
    e_bond: Tensor
    t: Tensor
    batch: Tensor
    num_graphs: int
    context_mask: Tensor | None = None
    node_attr: Tensor | None = None
    self_cond: DenoiserOutput | None = None
    paired: bool = False


@dataclass
class DenoiserOutput:
    """What a denoiser predicts.

    Attributes:
        pos: [N, 3] float, Å — predicted clean coordinates (E(3)-equivariant: R·x + τ in, R·pos + τ
            out); context atoms are returned unchanged.
        type_logits: [N, T] float — invariant.
        charge_logits: [N, C] float — invariant.
        bond_logits: [E, K] float — invariant, identical for (i, j) and (j, i).
    """

    pos: Tensor
    type_logits: Tensor
    charge_logits: Tensor
    bond_logits: Tensor

    def detach(self) -> DenoiserOutput:
        return DenoiserOutput(*(x.detach() for x in (self.pos, self.type_logits, self.charge_logits, self.bond_logits)))


class Denoiser(nn.Module):
    """Base class: ``forward(DenoiserInput) -> DenoiserOutput``.

    Constructors take ``num_types`` (T), ``num_charges`` (C), ``num_bond_types`` (K) and
    ``node_attr_dim`` (F, 0 for none) first, then network-specific keyword arguments.
    """

    def forward(self, inp: DenoiserInput) -> DenoiserOutput:  # pragma: no cover - interface
        raise NotImplementedError


MODELS: dict[str, Callable[..., Denoiser]] = {}


def register_model(name: str) -> Callable[[type[Denoiser]], type[Denoiser]]:
    """Class decorator: make a denoiser available as ``model: {name: NAME}`` in configs."""

    def deco(cls: type[Denoiser]) -> type[Denoiser]:
        MODELS[name] = cls
        return cls

    return deco


def build_model(name: str, **kwargs) -> Denoiser:
    """Instantiate a registered denoiser by name."""
    import molgen.models  # noqa: F401  (registers the built-in networks)

    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}") from None
    return cls(**kwargs)
