"""Round trips of molgen.chem.convert on the committed drug-like ligands (data/ligands, data/complexes).

RDKit molecule -> graph -> RDKit molecule must keep every atom's element and formal charge, every
coordinate (at float32, the graph's precision), every bond with its order (aromatic included), and
graph -> molecule -> graph must give identical tensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem

from molgen.chem.convert import data_to_mol, mol_to_graph
from molgen.chem.vocab import DRUG

REPO = Path(__file__).resolve().parents[2]
LIGANDS = REPO / "data/ligands/fep_ligands.sdf"
CRYSTAL = sorted((REPO / "data/complexes/posebusters").glob("*/*.sdf"))


def _fep_ligands() -> list[Chem.Mol]:
    mols = list(Chem.SDMolSupplier(str(LIGANDS), removeHs=False))
    assert len(mols) == 40 and all(m is not None for m in mols)
    return mols


def _check_round_trip(mol: Chem.Mol) -> tuple[int, int]:
    """Assert the round trips; returns (aromatic bonds, charged atoms) of the molecule."""
    g = mol_to_graph(mol, DRUG)
    back = data_to_mol(g, DRUG)
    assert back.GetNumAtoms() == mol.GetNumAtoms() == g.num_nodes
    assert [a.GetSymbol() for a in back.GetAtoms()] == [a.GetSymbol() for a in mol.GetAtoms()]
    assert [a.GetFormalCharge() for a in back.GetAtoms()] == [a.GetFormalCharge() for a in mol.GetAtoms()]
    src = mol.GetConformer().GetPositions()
    np.testing.assert_array_equal(g.pos.numpy(), src.astype(np.float32))
    np.testing.assert_array_equal(back.GetConformer().GetPositions(), g.pos.double().numpy())
    assert back.GetNumBonds() == mol.GetNumBonds()
    for b in mol.GetBonds():
        nb = back.GetBondBetweenAtoms(b.GetBeginAtomIdx(), b.GetEndAtomIdx())
        assert (
            nb is not None and nb.GetBondType() == b.GetBondType() and nb.GetIsAromatic() == b.GetIsAromatic()
        )
    assert Chem.MolToSmiles(back, isomericSmiles=False) == Chem.MolToSmiles(mol, isomericSmiles=False)
    again = mol_to_graph(back, DRUG)
    for key in ("pos", "atom_type", "charge", "edge_index", "bond_type"):
        assert torch.equal(again[key], g[key]), key
    aromatic = sum(b.GetBondType() == Chem.BondType.AROMATIC for b in mol.GetBonds())
    return aromatic, sum(a.GetFormalCharge() != 0 for a in mol.GetAtoms())


def test_fep_ligands_round_trip_exactly() -> None:
    aromatic = charged = 0
    elements: set[str] = set()
    for mol in _fep_ligands():
        a, c = _check_round_trip(mol)
        aromatic, charged = aromatic + a, charged + c
        elements |= {x.GetSymbol() for x in mol.GetAtoms()}
    # the sample exercises what the test claims: aromatic bonds, charges, halogens and S
    assert aromatic > 200 and charged >= 20
    assert elements == {"H", "C", "N", "O", "F", "S", "Cl", "Br", "I"}


@pytest.mark.parametrize("path", CRYSTAL, ids=lambda p: p.parent.name)
def test_crystal_ligands_round_trip_with_added_hydrogens(path: Path) -> None:
    mol = Chem.AddHs(Chem.MolFromMolFile(str(path)), addCoords=True)
    _check_round_trip(mol)


def test_bond_classes_in_the_graph() -> None:
    mol = _fep_ligands()[0]  # jmc_23 (TYK2): two aromatic rings, two amide C=O
    g = mol_to_graph(mol, DRUG)
    m = g.edge_index.shape[1] // 2
    assert torch.equal(g.edge_index[:, m:], g.edge_index[:, :m].flip(0))
    assert torch.equal(g.bond_type[m:], g.bond_type[:m])
    assert bool((g.edge_index[0, :m] < g.edge_index[1, :m]).all())
    counts = torch.bincount(g.bond_type[:m], minlength=5).tolist()
    expected = [0, 0, 0, 0, 0]
    for b in mol.GetBonds():
        expected[{1.0: 1, 2.0: 2, 3.0: 3, 1.5: 4}[b.GetBondTypeAsDouble()]] += 1
    assert counts == expected and expected[4] == 12 and expected[2] == 2
