"""Complex -> one graph: ligand atoms first, then pocket atoms as context (pocket-conditioned models).

A complex (:mod:`molgen.data.complexes`) holds a ligand graph plus ``pocket_*`` tensors. A pocket
model sees both in one graph, ``L`` ligand atoms followed by ``M`` pocket atoms:

* ``pos [L + M, 3] float, Å`` — absolute coordinates (the protein's frame, no centring);
* ``atom_type``, ``charge [L + M] long`` — ligand classes; pocket atoms get placeholders (type 0,
  formal charge 0) that are held fixed and never predicted (:data:`POCKET_PLACEHOLDER`);
* ``edge_index``, ``bond_type`` — the ligand's bonds (pocket atoms have none: ligand–pocket pairs
  have bond class 0 and pocket–pocket pairs are not in the state, see ``MolState``);
* ``context [L + M] bool`` — True on pocket atoms; ``fixed [L + M] bool`` — pocket atoms, plus the
  atoms of a fixed ligand fragment when fragment training is on;
* ``node_attr [L + M, F] float`` with ``F =`` :data:`POCKET_NODE_ATTR_DIM` ``= 1 + 7 + 21 + 1``:
  ``[is_pocket, pocket element one-hot (POCKET_ELEMENTS), residue one-hot (RESIDUE_TYPES),
  backbone]``; ligand atoms have zeros there.

The frame: ``MolState.from_batch`` centres the ligand prior on the centre of mass of the context
atoms, i.e. :func:`pocket_center` (heavy pocket atoms by default). Sampling builds its context with
:func:`pocket_context` from the same features, so training and sampling agree.

Cost: pocket hydrogens are dropped (``keep_hydrogens=False``, the default) and the pocket is re-cut
to whole residues with an atom within ``cutoff`` (default 6 Å) of a ligand atom: on the FEP
benchmark that is a median of 278 heavy pocket atoms (550 with hydrogens, 465 heavy at 8 Å) for a
median ligand of 48 atoms. See :mod:`molgen.sampling.conditioning` for the ligand–pocket radius
graph the denoiser runs on.
"""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor
from torch_geometric.data import Data

from molgen.chem.vocab import POCKET_ELEMENTS, Vocab
from molgen.data.pocket import RESIDUE_TYPES

#: Size of the per-atom pocket features: is_pocket, element one-hot, residue one-hot, backbone.
POCKET_NODE_ATTR_DIM = 1 + len(POCKET_ELEMENTS) + len(RESIDUE_TYPES) + 1
#: Default pocket: whole residues with an atom within this distance of the ligand, Å.
DEFAULT_POCKET_CUTOFF = 6.0
#: (atom-type index, charge value) given to pocket atoms; held fixed, never predicted.
POCKET_PLACEHOLDER = (0, 0)
_H = POCKET_ELEMENTS.index("H")


def pocket_node_attr(element: Tensor, residue: Tensor, backbone: Tensor) -> Tensor:
    """Invariant pocket-atom features ``[M, F]`` float: ``[1, element one-hot, residue one-hot, backbone]``.

    Args:
        element: [M] long, index in ``POCKET_ELEMENTS``.
        residue: [M] long, index in ``RESIDUE_TYPES``.
        backbone: [M] bool.
    """
    m = element.shape[0]
    return torch.cat(
        [
            torch.ones(m, 1),
            torch.nn.functional.one_hot(element.long(), len(POCKET_ELEMENTS)).float(),
            torch.nn.functional.one_hot(residue.long(), len(RESIDUE_TYPES)).float(),
            backbone.float().reshape(m, 1),
        ],
        dim=1,
    )


def pocket_context(
    pos: Tensor,
    element: Tensor,
    residue: Tensor,
    backbone: Tensor,
    charge_index: int,
    keep_hydrogens: bool = False,
) -> Data:
    """The context graph of a pocket (for ``MolState.template(context=...)`` and the transform).

    Args:
        pos: [M, 3] float, Å.
        element, residue, backbone: [M] pocket features (see :mod:`molgen.data.pocket`).
        charge_index: index of formal charge 0 in the ligand vocabulary (the placeholder charge).
        keep_hydrogens: keep pocket hydrogens (default: heavy atoms only).

    Returns:
        ``Data(pos [M', 3] float32, atom_type [M'], charge [M'], node_attr [M', F])``.
    """
    keep = torch.ones(element.shape[0], dtype=torch.bool) if keep_hydrogens else element != _H
    m = int(keep.sum())
    return Data(
        pos=pos[keep].float(),
        atom_type=torch.full((m,), POCKET_PLACEHOLDER[0], dtype=torch.long),
        charge=torch.full((m,), charge_index, dtype=torch.long),
        node_attr=pocket_node_attr(element[keep], residue[keep], backbone[keep]),
        num_nodes=m,
    )


def pocket_center(data: Data) -> Tensor:
    """``[1, 3]`` float64, Å: the frame of a transformed complex, the mean of its context atoms."""
    return data.pos[data.context].double().mean(0, keepdim=True)


def _residues_within(lig: Tensor, pocket_pos: Tensor, atom_residue: Tensor, cutoff: float) -> Tensor:
    """[M] bool: pocket atoms whose residue has an atom within ``cutoff`` Å of a ligand atom."""
    d = torch.cdist(pocket_pos.double(), lig.double(), compute_mode="donot_use_mm_for_euclid_dist")
    near = d.min(1).values <= cutoff
    num_res = int(atom_residue.max()) + 1 if atom_residue.numel() else 0
    res_near = torch.zeros(num_res, dtype=torch.bool)
    res_near[atom_residue[near]] = True
    return res_near[atom_residue]


def random_fragment(data: Data, generator: torch.Generator | None = None, hydrogen: int | None = 0) -> Tensor:
    """A random connected piece of a ligand: ``[L] bool``.

    A breadth-first walk over heavy atoms from a random heavy atom, stopped at a random 20–80 % of
    the heavy atoms; the hydrogens bonded to the chosen heavy atoms come with them (so the free
    atoms grow from the bonds that leave the piece, as in fragment inpainting at sampling time).
    ``hydrogen`` is the atom-type index of H (0 in ``qm9`` and ``drug``), None for a heavy-atom
    vocabulary.
    """
    n = int(data.num_nodes)
    heavy = data.atom_type != hydrogen if hydrogen is not None else torch.ones(n, dtype=torch.bool)
    src, dst = data.edge_index
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for i, j in zip(src.tolist(), dst.tolist()):
        nbrs[i].append(j)
    heavy_idx = heavy.nonzero().flatten()
    chosen = torch.zeros(n, dtype=torch.bool)
    if heavy_idx.numel() < 2:
        return chosen
    frac = 0.2 + 0.6 * float(torch.rand((), generator=generator))
    target = max(1, round(frac * heavy_idx.numel()))
    start = int(heavy_idx[torch.randint(heavy_idx.numel(), (), generator=generator)])
    queue, chosen[start], count = [start], True, 1
    while queue and count < target:
        i = queue.pop(0)
        for j in nbrs[i]:
            if heavy[j] and not chosen[j] and count < target:
                chosen[j] = True
                count += 1
                queue.append(j)
    for i in chosen.nonzero().flatten().tolist():
        for j in nbrs[i]:
            if not heavy[j]:
                chosen[j] = True
    return chosen


class PocketTransform:
    """Complex ``Data`` -> one graph of ligand atoms then pocket atoms (layout in the module docstring).

    Args:
        charge_index: index of formal charge 0 in the ligand vocabulary (pocket placeholder).
        cutoff: re-cut the pocket to whole residues with an atom within this distance (Å) of a
            ligand atom (the prepared pocket is an upper bound); None keeps the prepared pocket.
        keep_hydrogens: keep pocket hydrogens.
        fragment_prob: probability of fixing a random connected piece of the ligand
            (:func:`random_fragment`), so the model learns fragment inpainting.
        drop_pocket_prob: probability of dropping the pocket (a ligand alone, no context), so the
            same model also generates molecules and conformers without a pocket.
        generator: random generator for the two augmentations (default: torch's global one).
        hydrogen: the ligand vocabulary's atom-type index of H; None when it has none.
        seed: when set, :meth:`reseed` seeds the generator from (seed, the batch's molecules) before
            each batch, so the augmentations of a batch do not depend on what ran before it: a
            resumed training run draws the same ones as an uninterrupted run.
    """

    def __init__(
        self,
        charge_index: int,
        cutoff: float | None = DEFAULT_POCKET_CUTOFF,
        keep_hydrogens: bool = False,
        fragment_prob: float = 0.0,
        drop_pocket_prob: float = 0.0,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        hydrogen: int | None = 0,
    ) -> None:
        self.hydrogen = hydrogen
        self.charge_index, self.cutoff, self.keep_hydrogens = charge_index, cutoff, keep_hydrogens
        self.fragment_prob, self.drop_pocket_prob, self.generator = fragment_prob, drop_pocket_prob, generator
        self.seed = seed
        if seed is not None and generator is None:
            self.generator = torch.Generator()

    def reseed(self, items: list[Data]) -> None:
        """Seed the generator from ``seed`` and the batch's molecules (coordinates and names), in
        order; does nothing without ``seed``. Batches differ between epochs (the sampler reshuffles),
        so the augmentations do too."""
        if self.seed is None:
            return
        h = hashlib.sha256(str(self.seed).encode())
        for d in items:
            h.update(d.pos.detach().cpu().numpy().tobytes())
            h.update(str(d.get("name", "")).encode())
        self.generator.manual_seed(int.from_bytes(h.digest()[:8], "little") >> 1)

    def _coin(self, p: float) -> bool:
        return p > 0 and float(torch.rand((), generator=self.generator)) < p

    def __call__(self, data: Data) -> Data:
        if "pocket_pos" not in data:  # a ligand alone (extra training data): no context, as a dropped pocket
            data = data.clone()
            data.pocket_pos = torch.zeros(0, 3)
            for key, dtype in (("pocket_element", torch.long), ("pocket_residue", torch.long),
                               ("pocket_backbone", torch.bool), ("pocket_atom_residue", torch.long)):
                data[key] = torch.zeros(0, dtype=dtype)
            data.protein = ""
        n_lig = int(data.num_nodes)
        ppos, pel = data.pocket_pos, data.pocket_element
        keep = torch.ones(pel.shape[0], dtype=torch.bool)
        if self.cutoff is not None and pel.numel():
            keep = _residues_within(data.pos, ppos, data.pocket_atom_residue, self.cutoff)
        if self._coin(self.drop_pocket_prob):
            keep = torch.zeros_like(keep)
        ctx = pocket_context(ppos[keep], pel[keep], data.pocket_residue[keep], data.pocket_backbone[keep],
                             self.charge_index, self.keep_hydrogens)
        m = int(ctx.num_nodes)
        fragment = random_fragment(data, self.generator, self.hydrogen) if self._coin(self.fragment_prob) else None
        fixed = torch.zeros(n_lig + m, dtype=torch.bool)
        if fragment is not None:
            fixed[:n_lig] = fragment
        context = torch.arange(n_lig + m) >= n_lig
        node_attr = torch.zeros(n_lig + m, POCKET_NODE_ATTR_DIM)
        node_attr[n_lig:] = ctx.node_attr
        out = Data(
            pos=torch.cat([data.pos.float(), ctx.pos]),
            atom_type=torch.cat([data.atom_type.long(), ctx.atom_type]),
            charge=torch.cat([data.charge.long(), ctx.charge]),
            edge_index=data.edge_index,
            bond_type=data.bond_type,
            context=context,
            fixed=fixed | context,
            node_attr=node_attr,
            num_nodes=n_lig + m,
        )
        for key in ("name", "smiles", "protein"):
            if key in data:
                out[key] = data[key]
        return out


#: Augmentations of the training transform: a fixed ligand fragment, no pocket at all.
TRAIN_FRAGMENT_PROB = 0.2
TRAIN_DROP_POCKET_PROB = 0.1


def pocket_transforms(vocab: Vocab, seed: int = 0) -> tuple[PocketTransform, PocketTransform]:
    """(training, validation) transforms of a pocket model (``data.context: pocket``).

    Training fixes a random ligand fragment with probability :data:`TRAIN_FRAGMENT_PROB` and drops
    the pocket with probability :data:`TRAIN_DROP_POCKET_PROB`, drawn from a generator reseeded per
    batch from ``seed`` and the batch's molecules (:meth:`PocketTransform.reseed`, called by
    :func:`molgen.data.datamodule.collate_graphs`), so a resumed run draws what an uninterrupted one
    does. Validation uses neither.
    """
    charge0 = vocab.charges.index(0)
    hydrogen = vocab.elements.index("H") if vocab.explicit_hydrogens else None
    train = PocketTransform(charge0, fragment_prob=TRAIN_FRAGMENT_PROB, drop_pocket_prob=TRAIN_DROP_POCKET_PROB,
                            seed=seed, hydrogen=hydrogen)
    return train, PocketTransform(charge0, hydrogen=hydrogen)


__all__ = [
    "DEFAULT_POCKET_CUTOFF",
    "POCKET_NODE_ATTR_DIM",
    "POCKET_PLACEHOLDER",
    "TRAIN_DROP_POCKET_PROB",
    "TRAIN_FRAGMENT_PROB",
    "PocketTransform",
    "pocket_center",
    "pocket_context",
    "pocket_node_attr",
    "pocket_transforms",
    "random_fragment",
]
