"""RDKit molecule <-> molecule graph (PyG ``Data``).

A molecule graph holds:

* ``pos [N, 3] float32, Å`` — coordinates of every atom, hydrogens included (for a vocabulary with
  ``H``; with a heavy-atom vocabulary such as ``drug_heavy`` the graph holds heavy atoms only, its bonds
  are Kekulé single/double/triple, and RDKit infers the hydrogens from valences and charges);
* ``atom_type [N] long`` and ``charge [N] long`` — indices into a :class:`~molgen.chem.vocab.Vocab`;
* ``edge_index [2, 2M] long`` and ``bond_type [2M] long`` — the M bonds, each stored in both
  directions (first the M pairs with i < j, then the same M pairs reversed), bond classes as in
  :data:`~molgen.chem.vocab.BOND_TYPES` (1 single, 2 double, 3 triple, 4 aromatic);
* ``name: str`` and ``smiles: str`` metadata.
"""

from __future__ import annotations

import numpy as np
import torch
from rdkit import Chem
from rdkit.Geometry import Point3D
from torch_geometric.data import Data

from molgen.chem.vocab import RDKIT_BOND, RDKIT_BOND_INV, Vocab
from molgen.errors import SkipRecord


def mol_to_graph(mol: Chem.Mol, vocab: Vocab, conf_id: int = -1, name: str | None = None) -> Data:
    """Convert an RDKit molecule with a 3D conformer into a molecule graph.

    Args:
        mol: molecule with at least one conformer. For a vocabulary with hydrogen, implicit hydrogens
            are added with coordinates (``Chem.AddHs(addCoords=True)``); for a heavy-atom vocabulary
            (:attr:`Vocab.explicit_hydrogens` false) hydrogens are removed and the bonds kekulized.
        vocab: element and charge vocabulary.
        conf_id: conformer to read.
        name: stored as ``data.name``; defaults to the ``_Name`` property.

    Raises:
        SkipRecord: no conformer, an element or charge outside the vocabulary, an unknown bond
            type, or non-finite coordinates.
    """
    if mol is None:
        raise SkipRecord("RDKit could not parse the molecule")
    if mol.GetNumConformers() == 0:
        raise SkipRecord("molecule has no conformer")
    if not vocab.explicit_hydrogens:
        mol = heavy_kekule(mol)
    elif any(a.GetTotalNumHs() > 0 for a in mol.GetAtoms()):
        mol = Chem.AddHs(mol, addCoords=True)
    conf = mol.GetConformer(conf_id)
    pos = np.asarray(conf.GetPositions(), dtype=np.float32)
    if not np.isfinite(pos).all():
        raise SkipRecord("non-finite coordinates")
    if not conf.Is3D() and np.allclose(pos[:, 2], 0.0) and mol.GetNumAtoms() > 3:
        raise SkipRecord("conformer is 2D, not 3D")
    types = [vocab.type_index(a.GetSymbol()) for a in mol.GetAtoms()]
    charges = [vocab.charge_index(a.GetFormalCharge()) for a in mol.GetAtoms()]
    pairs, btypes = [], []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        bt = RDKIT_BOND.get(b.GetBondType())
        if bt is None:
            raise SkipRecord(f"unsupported bond type {b.GetBondType()}")
        pairs.append((min(i, j), max(i, j)))
        btypes.append(bt)
    edge_index, bond_type = bonds_to_edges(pairs, btypes)
    if name is None:
        name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
    try:
        smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))
    except Exception:  # RemoveHs fails on some valid-but-odd molecules; keep the H-ful SMILES
        smiles = Chem.MolToSmiles(mol)
    return Data(
        pos=torch.from_numpy(pos),
        atom_type=torch.tensor(types, dtype=torch.long),
        charge=torch.tensor(charges, dtype=torch.long),
        edge_index=edge_index,
        bond_type=bond_type,
        name=name,
        smiles=smiles,
        num_nodes=len(types),
    )


def heavy_kekule(mol: Chem.Mol) -> Chem.Mol:
    """The molecule without its hydrogens and with Kekulé bonds (aromatic flags cleared), as the graphs
    of a heavy-atom vocabulary hold it.

    Raises:
        SkipRecord: RDKit cannot sanitize or kekulize the molecule (its hydrogens are then unknowable).
    """
    try:
        heavy = Chem.RemoveHs(mol)
        Chem.Kekulize(heavy, clearAromaticFlags=True)
    except (ValueError, RuntimeError) as err:  # MolSanitizeException derives from ValueError
        raise SkipRecord(f"cannot remove hydrogens and kekulize: {str(err).splitlines()[0]}") from None
    return heavy


def bonds_to_edges(pairs: list[tuple[int, int]], btypes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Bonds (i < j) -> ``edge_index [2, 2M]`` (pairs, then reversed pairs) and ``bond_type [2M]``."""
    if not pairs:
        return torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    ij = torch.tensor(pairs, dtype=torch.long).t()
    bt = torch.tensor(btypes, dtype=torch.long)
    return torch.cat([ij, ij.flip(0)], dim=1), torch.cat([bt, bt])


def graph_to_mol(
    atom_type: torch.Tensor,
    charge: torch.Tensor,
    edge_index: torch.Tensor,
    bond_type: torch.Tensor,
    pos: torch.Tensor | None,
    vocab: Vocab,
    sanitize: bool = True,
) -> Chem.Mol:
    """Build an RDKit molecule from graph tensors.

    Args:
        atom_type: [N] long, vocabulary indices.
        charge: [N] long, charge indices.
        edge_index: [2, E] long; each undirected bond may appear once or in both directions;
            edges with ``bond_type == 0`` are ignored.
        bond_type: [E] long, bond classes.
        pos: [N, 3] float, Å, or None for a molecule without a conformer.
        vocab: vocabulary the indices refer to.
        sanitize: run ``Chem.SanitizeMol``; raises ``Chem.rdchem.MolSanitizeException`` on failure.

    Returns:
        The molecule and, when ``pos`` is given, one 3D conformer. With a vocabulary that has
        hydrogen, every hydrogen is an explicit atom and no atom gets implicit ones; with a heavy-atom
        vocabulary the atoms are the graph's and RDKit infers their hydrogens (implicit; add them with
        coordinates by :func:`restore_hydrogens`).
    """
    rw = Chem.RWMol()
    for t, c in zip(atom_type.tolist(), charge.tolist()):
        atom = Chem.Atom(vocab.elements[t])
        atom.SetFormalCharge(vocab.charges[c])
        atom.SetNoImplicit(vocab.explicit_hydrogens)  # H-ful graphs hold every hydrogen as an atom
        rw.AddAtom(atom)
    seen = set()
    for (i, j), bt in zip(edge_index.t().tolist(), bond_type.tolist()):
        key = (min(i, j), max(i, j))
        if bt == 0 or i == j or key in seen:
            continue
        seen.add(key)
        rw.AddBond(key[0], key[1], RDKIT_BOND_INV[int(bt)])
        if bt == 4:
            rw.GetBondBetweenAtoms(*key).SetIsAromatic(True)
            rw.GetAtomWithIdx(key[0]).SetIsAromatic(True)
            rw.GetAtomWithIdx(key[1]).SetIsAromatic(True)
    mol = rw.GetMol()
    if pos is not None:
        conf = Chem.Conformer(mol.GetNumAtoms())
        for k, (x, y, z) in enumerate(pos.detach().double().cpu().tolist()):
            conf.SetAtomPosition(k, Point3D(x, y, z))
        conf.Set3D(True)
        mol.AddConformer(conf, assignId=True)
    if sanitize:
        Chem.SanitizeMol(mol)
    return mol


def restore_hydrogens(mol: Chem.Mol, vocab: Vocab) -> Chem.Mol:
    """A sanitized molecule of a heavy-atom vocabulary with its implicit hydrogens made atoms, placed by
    RDKit (``AddHs(addCoords=True)``); molecules of an H-ful vocabulary are returned unchanged."""
    if vocab.explicit_hydrogens:
        return mol
    return Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0)


def data_to_mol(data: Data, vocab: Vocab, sanitize: bool = True) -> Chem.Mol:
    """:func:`graph_to_mol` on a molecule graph; sets ``_Name`` from ``data.name``."""
    mol = graph_to_mol(data.atom_type, data.charge, data.edge_index, data.bond_type, data.pos, vocab, sanitize)
    name = getattr(data, "name", None)
    if name:
        mol.SetProp("_Name", str(name))
    return mol
