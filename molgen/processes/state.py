"""The state a generative process moves: a flat batch of molecules with a class state on atom pairs.

Pairs convention: ``pairs [2, U]`` are the complete-graph pairs i < j of every graph
(:func:`molgen.models.graphs.complete_pairs`, same order) **minus the pairs whose two atoms are both
context atoms**. Ligand–ligand pairs carry the bond state; ligand–context pairs are kept (so the
network's complete graph links every ligand atom to every pocket atom) but their bond class is held
at 0 ("no bond"); context–context pairs are dropped (O(P²) pairs that carry nothing, since the
pocket never moves).

Masks: ``context`` atoms (pocket) are seen, never moved and never predicted; ``fixed`` atoms are held
at their values during sampling and excluded from the loss; every context atom is fixed, and fixed
ligand atoms (an inpainted fragment) are written out with the molecule. A pair is fixed when both
atoms are fixed or one is context.

Frame: ``center [B, 3]`` is where the free atoms' prior noise is centred (see
:meth:`molgen.processes.base.GenerativeProcess.prior`). Coordinates are always absolute, in Å.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from molgen.models.graphs import complete_pairs, pair_key


def _scatter_sum(x: Tensor, index: Tensor, dim_size: int) -> Tensor:
    out = torch.zeros((dim_size,) + x.shape[1:], dtype=x.dtype, device=x.device)
    return out.index_add_(0, index, x)


def masked_graph_mean(x: Tensor, batch: Tensor, mask: Tensor, num_graphs: int) -> tuple[Tensor, Tensor]:
    """Mean of ``x`` over the atoms of each graph selected by ``mask``.

    Args:
        x: [N, D] float.
        batch: [N] long, graph index.
        mask: [N] bool, atoms that enter the mean.
        num_graphs: B.

    Returns:
        mean: [B, D] (zero for a graph with no selected atom) and count: [B] long.
    """
    m = mask.to(x.dtype).unsqueeze(-1)
    total = _scatter_sum(x * m, batch, num_graphs)
    count = torch.bincount(batch[mask], minlength=num_graphs)
    return total / count.clamp(min=1).unsqueeze(-1).to(x.dtype), count


def state_pairs(batch: Tensor, context: Tensor, num_graphs: int) -> Tensor:
    """Complete-graph pairs i < j per graph without the context–context pairs: ``[2, U]`` long."""
    pairs = complete_pairs(batch, num_graphs)
    return pairs[:, ~(context[pairs[0]] & context[pairs[1]])]


@dataclass
class MolState:
    """A batch of molecules (plus optional context atoms) as a generative process sees it.

    Attributes:
        pos: [N, 3] float, Å.
        atom_type: [N] long (class index; a discrete process may use T = "masked") or [N, T] float
            (continuous relaxation).
        charge: [N] long or [N, C] float, same convention.
        bond: [U] long or [U, K] float — bond class on ``pairs`` (0 = no bond).
        pairs: [2, U] long — see the module docstring (context–context pairs excluded).
        batch: [N] long — graph index per atom, sorted (PyG flat batching).
        num_graphs: B.
        fixed: [N] bool — atoms held at their values (context atoms and inpainted fragment atoms).
        context: [N] bool — pocket atoms: seen, never moved, never predicted, not written out.
        center: [B, 3] float, Å — the frame: where the free atoms' noise is centred.
        node_attr: [N, F] float or None — extra invariant atom features for the network.
    """

    pos: Tensor
    atom_type: Tensor
    charge: Tensor
    bond: Tensor
    pairs: Tensor
    batch: Tensor
    num_graphs: int
    fixed: Tensor
    context: Tensor
    center: Tensor
    node_attr: Tensor | None = None

    @property
    def num_atoms(self) -> int:
        return self.pos.shape[0]

    @property
    def pair_batch(self) -> Tensor:
        """[U] long, graph index of every pair."""
        return self.batch[self.pairs[0]]

    @property
    def pair_context(self) -> Tensor:
        """[U] bool, pairs touching a context atom (bond class held at 0)."""
        return self.context[self.pairs[0]] | self.context[self.pairs[1]]

    @property
    def pair_fixed(self) -> Tensor:
        """[U] bool, pairs whose bond state is held: both atoms fixed, or one is context."""
        return (self.fixed[self.pairs[0]] & self.fixed[self.pairs[1]]) | self.pair_context

    @property
    def anchored(self) -> Tensor:
        """[B] bool, graphs with at least one fixed atom (no translation symmetry left)."""
        return torch.bincount(self.batch[self.fixed], minlength=self.num_graphs) > 0

    def replace(self, **changes) -> MolState:
        """A copy with some fields replaced (tensors are shared, not cloned)."""
        return dataclasses.replace(self, **changes)

    def to(self, device: torch.device | str) -> MolState:
        """The state on another device."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return MolState(**{k: v.to(device) if isinstance(v, Tensor) else v for k, v in values.items()})

    @classmethod
    def from_batch(
        cls,
        batch: Batch | Data,
        fixed: Tensor | None = None,
        context: Tensor | None = None,
        center: Tensor | None = None,
        node_attr: Tensor | None = None,
    ) -> MolState:
        """Clean state from a PyG batch of molecule graphs (``molgen.chem.convert`` layout).

        Bonds become dense classes on all state pairs (0 where ``edge_index`` has no bond).

        Args:
            batch: Batch (or a single Data) with ``pos [N, 3]`` Å, ``atom_type [N]``, ``charge [N]``,
                ``edge_index [2, 2M]``, ``bond_type [2M]``.
            fixed: [N] bool, held atoms; defaults to ``batch.fixed`` if present, else none.
            context: [N] bool, pocket atoms; defaults to ``batch.context`` if present, else none.
                Context atoms are always fixed.
            center: [B, 3] Å; defaults per graph to the centre of mass of its context atoms, else of
                its fixed atoms, else of all its atoms (so an unconditioned graph has free-atom
                centre of mass exactly at ``center``, as the zero-CoM processes require).
            node_attr: [N, F]; defaults to ``batch.node_attr`` if present.
        """
        pos = batch.pos
        n = pos.shape[0]
        b = getattr(batch, "batch", None)
        if b is None:
            b = torch.zeros(n, dtype=torch.long, device=pos.device)
        num_graphs = int(getattr(batch, "num_graphs", 1))

        def mask(given: Tensor | None, name: str) -> Tensor:
            m = given if given is not None else getattr(batch, name, None)
            return torch.zeros(n, dtype=torch.bool, device=pos.device) if m is None else m.bool().clone()

        context = mask(context, "context")
        fixed = mask(fixed, "fixed") | context
        pairs = state_pairs(b, context, num_graphs)
        bond = torch.zeros(pairs.shape[1], dtype=torch.long, device=pos.device)
        ei, bt = batch.edge_index, batch.bond_type
        if ei.numel() and pairs.numel():
            keys = pair_key(pairs[0], pairs[1], n)  # ascending: pairs are sorted by (i, j)
            query = pair_key(ei[0], ei[1], n)
            idx = torch.searchsorted(keys, query).clamp(max=keys.numel() - 1)
            hit = (keys[idx] == query) & (ei[0] != ei[1])
            bond[idx[hit]] = bt[hit].long()
        if node_attr is None:
            node_attr = getattr(batch, "node_attr", None)
        state = cls(
            pos=pos,
            atom_type=batch.atom_type.long(),
            charge=batch.charge.long(),
            bond=bond,
            pairs=pairs,
            batch=b,
            num_graphs=num_graphs,
            fixed=fixed,
            context=context,
            center=torch.zeros(num_graphs, 3, dtype=pos.dtype, device=pos.device),
            node_attr=node_attr,
        )
        state.bond[state.pair_context] = 0
        if center is None:
            center, _ = masked_graph_mean(pos, b, torch.ones_like(fixed), num_graphs)
            for m in (fixed, context):  # context wins over fixed wins over all atoms
                c, count = masked_graph_mean(pos, b, m, num_graphs)
                center = torch.where((count > 0).unsqueeze(-1), c, center)
        state.center = center.to(pos.dtype)
        return state

    @classmethod
    def template(
        cls,
        num_atoms: Sequence[int] | Tensor,
        num_types: int,
        num_charges: int,
        *,
        fragment: Data | Sequence[Data] | None = None,
        context: Data | Sequence[Data] | None = None,
        center: Tensor | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> MolState:
        """A state shell to sample into: fixed and context atoms set, free atoms as placeholders.

        Each graph holds, in order: the fragment's atoms (fixed, with their bonds), the free atoms
        (placeholders: position 0, class 0, overwritten by the prior), then the context atoms.

        Args:
            num_atoms: [B] ligand atoms per graph, fragment atoms included, context atoms excluded.
            num_types: T, for checking the given atoms' type indices.
            num_charges: C, for checking the given atoms' charge indices.
            fragment: molecule graph(s) to inpaint: one for every graph, or one per graph.
            context: pocket graph(s) (``pos``, ``atom_type``, ``charge``, optional ``node_attr``):
                one for every graph, or one per graph.
            center: [B, 3] Å; defaults as in :meth:`from_batch` (context CoM, else fragment CoM,
                else the origin).
            dtype: float dtype of coordinates.
            device: where the state lives.
        """
        sizes = [int(x) for x in (num_atoms.tolist() if isinstance(num_atoms, Tensor) else num_atoms)]
        nb = len(sizes)

        def per_graph(x: Data | Sequence[Data] | None, what: str) -> list[Data | None]:
            if x is None or isinstance(x, Data):
                return [x] * nb
            if len(x) != nb:
                raise ValueError(f"{what}: {len(x)} graphs given for {nb} samples")
            return list(x)

        frags, ctxs = per_graph(fragment, "fragment"), per_graph(context, "context")
        attr_dim = max((c.node_attr.shape[-1] for c in ctxs if c is not None and "node_attr" in c), default=0)
        graphs = []
        for n, frag, ctx in zip(sizes, frags, ctxs):
            nf = 0 if frag is None else frag.num_nodes
            nc = 0 if ctx is None else ctx.num_nodes
            if n < nf:
                raise ValueError(f"{n} ligand atoms asked for, but the fragment has {nf}")
            free = Data(
                pos=torch.zeros(n - nf, 3),
                atom_type=torch.zeros(n - nf, dtype=torch.long),
                charge=torch.zeros(n - nf, dtype=torch.long),
            )
            parts = [p for p in (frag, free, ctx) if p is not None]
            pos = torch.cat([p.pos.double() for p in parts])
            typ = torch.cat([p.atom_type.long() for p in parts])
            chg = torch.cat([p.charge.long() for p in parts])
            if frag is not None:
                ei, bt = frag.edge_index, frag.bond_type
            else:
                ei, bt = torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
            fixed = torch.arange(n + nc) < nf
            is_ctx = torch.arange(n + nc) >= n
            g = Data(
                pos=pos,
                atom_type=typ,
                charge=chg,
                edge_index=ei.long(),
                bond_type=bt.long(),
                fixed=fixed | is_ctx,
                context=is_ctx,
                num_nodes=n + nc,
            )
            if attr_dim:
                attr = torch.zeros(n + nc, attr_dim)
                if ctx is not None and "node_attr" in ctx:
                    attr[n:] = ctx.node_attr.float()
                g.node_attr = attr
            graphs.append(g)
        types = torch.cat([g.atom_type for g in graphs])
        charges = torch.cat([g.charge for g in graphs])
        if types.numel() and (types.min() < 0 or types.max() >= num_types):
            raise ValueError(f"atom type index outside [0, {num_types})")
        if charges.numel() and (charges.min() < 0 or charges.max() >= num_charges):
            raise ValueError(f"charge index outside [0, {num_charges})")
        state = cls.from_batch(Batch.from_data_list(graphs), center=center)
        state.pos = state.pos.to(dtype)
        state.center = state.center.to(dtype)
        if state.node_attr is not None:
            state.node_attr = state.node_attr.to(dtype)
        return state.to(device) if device is not None else state

    def to_graphs(self) -> list[Data]:
        """Molecule graphs (``molgen.chem.convert`` layout), one per graph, context atoms dropped.

        Class states must be final (see ``GenerativeProcess.finalize``); float class states are
        decoded by argmax. Bonds of class 0 are dropped; each bond is stored in both directions.
        """
        types = self.atom_type if self.atom_type.dim() == 1 else self.atom_type.argmax(-1)
        charges = self.charge if self.charge.dim() == 1 else self.charge.argmax(-1)
        bonds = self.bond if self.bond.dim() == 1 else self.bond.argmax(-1)
        lig = ~self.context
        # local index of every ligand atom inside its own graph
        counts = torch.bincount(self.batch[lig], minlength=self.num_graphs)
        offset = torch.cumsum(counts, 0) - counts
        local = torch.cumsum(lig.long(), 0) - 1 - offset[self.batch]
        keep = (bonds > 0) & lig[self.pairs[0]] & lig[self.pairs[1]]
        pb = self.pair_batch
        out = []
        for g in range(self.num_graphs):
            atoms = lig & (self.batch == g)
            sel = keep & (pb == g)
            ij = local[self.pairs[:, sel]]
            bt = bonds[sel]
            out.append(
                Data(
                    pos=self.pos[atoms].detach().cpu().float(),
                    atom_type=types[atoms].cpu(),
                    charge=charges[atoms].cpu(),
                    edge_index=torch.cat([ij, ij.flip(0)], 1).cpu(),
                    bond_type=torch.cat([bt, bt]).cpu(),
                    num_nodes=int(atoms.sum()),
                )
            )
        return out
