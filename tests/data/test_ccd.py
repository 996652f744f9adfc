"""Crystal ligands from PDB HETATM records with bond orders from the chemical component."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from molgen.data.ccd import Component, ccd_component, ligand_from_records, split_pdb_ligand
from molgen.errors import SkipRecord

PB2 = Path(__file__).parent / "fixtures" / "pb2"

#: The components' chemistry as the CCD names them (4NC: 4-NITROCATECHOL; TPP: THIAMINE
#: DIPHOSPHATE, in the CCD's neutral-acid form with the thiazolium cation); stereo left out.
CCD_SMILES = {
    "7jmv_4NC": "Oc1ccc(cc1O)[N+](=O)[O-]",
    "7a9h_TPP": "Cc1ncc(C[n+]2csc(CCOP(=O)(O)OP(=O)(O)O)c2C)c(N)n1",
}


def _canonical(mol_or_smiles) -> str:
    mol = Chem.MolFromSmiles(mol_or_smiles) if isinstance(mol_or_smiles, str) else Chem.RemoveHs(mol_or_smiles)
    return Chem.MolToSmiles(mol, isomericSmiles=False)


def _skeleton(mol: Chem.Mol) -> str:
    """Heavy-atom connectivity only: every bond single, no charges, no hydrogens, no stereo."""
    rw = Chem.RWMol(mol)
    for b in rw.GetBonds():
        b.SetBondType(Chem.BondType.SINGLE)
        b.SetIsAromatic(False)
    for a in rw.GetAtoms():
        a.SetFormalCharge(0)
        a.SetIsAromatic(False)
        a.SetNoImplicit(True)
        a.SetNumExplicitHs(0)
        a.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for idx in sorted((a.GetIdx() for a in rw.GetAtoms() if a.GetAtomicNum() == 1), reverse=True):
        rw.RemoveAtom(idx)
    return Chem.MolToSmiles(rw.GetMol())


def _fasta_ligand(pdb: str) -> str:
    block = next(b for b in (PB2 / f"{pdb}.fasta").read_text().split(">") if b.startswith("ligand|"))
    return "".join(block.splitlines()[1:])


def _records(cid: str) -> list[str]:
    return split_pdb_ligand((PB2 / f"{cid}.pdb").read_text().splitlines(), cid.split("_")[1])[1]


@pytest.mark.parametrize("cid", sorted(CCD_SMILES))
def test_pb2_ligand_gets_the_components_bond_orders(cid: str) -> None:
    pytest.importorskip("biotite")
    code = cid.split("_")[1]
    records = _records(cid)
    mol = ligand_from_records(records, ccd_component(code))
    assert _canonical(mol) == _canonical(CCD_SMILES[cid])
    # the PoseBusters FASTA SMILES (connectivity only) agrees on the graph
    fasta = Chem.MolFromSmiles(_fasta_ligand(cid.split("_")[0]), sanitize=False)
    assert {_skeleton(mol)} == set(_skeleton(fasta).split("."))
    # heavy atoms sit at the crystal coordinates, in record order; hydrogens were added to them
    heavy = [ln for ln in records if ln[76:78].strip() != "H"]
    xyz = np.array([[float(ln[30:38]), float(ln[38:46]), float(ln[46:54])] for ln in heavy])
    pos = mol.GetConformer().GetPositions()
    assert np.allclose(pos[: len(heavy)], xyz, atol=1e-3)
    assert mol.GetNumAtoms() > len(heavy) and mol.GetProp("_Name") == code


def test_split_takes_the_first_copy_and_removes_every_copy() -> None:
    lines = (PB2 / "7a9h_TPP.pdb").read_text().splitlines()
    receptor, ligand = split_pdb_ligand(lines, "TPP")
    assert len(ligand) == 42 and {ln[21:27] for ln in ligand} == {"A 702 "}
    assert not any(ln[17:20] == "TPP" for ln in receptor) and len(receptor) == len(lines) - 1 - 84  # END, 2 x 42
    assert split_pdb_ligand(lines, "XYZ")[1] == []


def _mutate(records: list[str], name: str, **change) -> list[str]:
    out = []
    for ln in records:
        if ln[12:16].strip() == name:
            if change.get("drop"):
                continue
            if "rename" in change:
                ln = ln[:12] + f"{change['rename']:<4}" + ln[16:]
            if "element" in change:
                ln = ln[:76] + f"{change['element']:>2}" + ln[78:]
            if "shift" in change:
                ln = ln[:30] + f"{float(ln[30:38]) + change['shift']:8.3f}" + ln[38:]
        out.append(ln)
    return out


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"rename": "O9"}, "atom O9 is not in chemical component 4NC"),
        ({"drop": True}, "1 heavy atoms of 4NC missing from the crystal (O7)"),
        ({"element": "S"}, "atom O7 is S in the crystal, O in 4NC"),
        ({"shift": 3.0}, "bond C1-O7 of 4NC is 2.89 Å long in the crystal"),
    ],
)
def test_a_broken_record_is_one_line_reason(change: dict, reason: str) -> None:
    pytest.importorskip("biotite")
    records = _mutate(_records("7jmv_4NC"), "O7", **change)
    with pytest.raises(SkipRecord) as err:
        ligand_from_records(records, ccd_component("4NC"))
    assert err.value.reason == reason


def test_charges_and_hydrogens_come_from_the_component() -> None:
    # acetate, hand-made: the carboxylate O carries the component's -1; the crystal's H records are ignored
    comp = Component(
        "ACT",
        (("C", "C", 0, False), ("O", "O", 0, False), ("OXT", "O", -1, False), ("CH3", "C", 0, False),
         ("H1", "H", 0, False), ("H2", "H", 0, False), ("H3", "H", 0, False)),
        (("C", "O", "DOUB"), ("C", "OXT", "SING"), ("C", "CH3", "SING"), ("CH3", "H1", "SING"),
         ("CH3", "H2", "SING"), ("CH3", "H3", "SING")),
    )
    xyz = {"C": (0.0, 0.0, 0.0), "O": (1.25, 0.0, 0.0), "OXT": (-0.62, 1.08, 0.0), "CH3": (-0.75, -1.3, 0.0),
           "HXT": (-0.2, 1.9, 0.0)}
    records = [f"HETATM{k + 1:5d} {n:<4}{'':1}ACT A   1    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          "
               f"{'H' if n.startswith('H') else n[0]:>2}" for k, (n, (x, y, z)) in enumerate(xyz.items())]
    mol = ligand_from_records(records, comp)
    assert _canonical(mol) == "CC(=O)[O-]" and mol.GetNumAtoms() == 7
    with pytest.raises(SkipRecord, match="has order AROM"):
        ligand_from_records(records, Component(comp.code, comp.atoms, (("C", "O", "AROM"), *comp.bonds[1:])))


def test_unknown_component_is_a_skip() -> None:
    pytest.importorskip("biotite")
    with pytest.raises(SkipRecord, match="QQQQ is not in the CCD"):
        ccd_component("QQQQ")
