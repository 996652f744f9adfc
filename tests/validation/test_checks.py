"""Each geometry/chemistry check: a passing and a failing fixture (protein checks: test_protein.py)."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from molgen.validation.checks import CHECKS

# check name -> (passing fixture in `mols`, failing fixture in `distorted`)
GEOMETRY_CASES = {
    "bond_lengths": ("butane", "stretched_bond"),
    "bond_angles": ("butane", "squashed_angle"),
    "no_internal_clash": ("heptane", "clash"),
    "aromatic_ring_flatness": ("toluene", "bent_ring"),
    "double_bond_flatness": ("butene", "twisted_double_bond"),
    "non_aromatic_ring_non_flatness": ("cyclohexane", "flat_cyclohexane"),
    "internal_energy": ("paracetamol", "strained"),
    "strain_energy": ("paracetamol", "strained"),
}


def test_registry_lists_every_check_once_with_a_description():
    assert len(CHECKS) == 15
    assert all(c.description for c in CHECKS.values())
    assert [n for n, c in CHECKS.items() if not c.pb] == ["strain_energy"]
    assert {n for n, c in CHECKS.items() if c.protein} == {"protein_max_distance", "no_protein_clash",
                                                           "no_volume_clash"}


@pytest.mark.parametrize("name", list(GEOMETRY_CASES))
def test_geometry_check_passes_and_fails(name, mols, distorted, run_check):
    good, bad = GEOMETRY_CASES[name]
    assert run_check(name, mols[good], n_conformers=10)[name] is True
    assert run_check(name, distorted[bad], n_conformers=10)[name] is False


def test_failing_fixtures_break_only_what_they_distort(distorted, run_check):
    """The clash, ring and double-bond fixtures keep bond lengths and angles within bounds."""
    for key in ("clash", "bent_ring", "twisted_double_bond", "strained"):
        assert run_check("bond_lengths", distorted[key])["bond_lengths"], key
        assert run_check("bond_angles", distorted[key])["bond_angles"], key


def test_values_behind_the_verdicts(mols, distorted, run_check):
    out = run_check("bond_lengths", distorted["stretched_bond"])
    assert out["bond_lengths_n_bad"] == 1 and out["bond_lengths_worst_rel"] > 0.25
    out = run_check("no_internal_clash", distorted["clash"])
    assert out["internal_clash_n"] >= 1 and out["internal_clash_min_ratio"] < 0.7
    out = run_check("double_bond_flatness", distorted["twisted_double_bond"])
    assert out["double_bonds_checked"] == 1 and out["double_bond_max_dist"] > 0.25
    out = run_check("strain_energy", mols["paracetamol"])
    assert abs(out["strain_energy_kcal_mol"]) < 0.5 and out["strain_forcefield"] == "MMFF94"
    out = run_check("internal_energy", distorted["strained"], n_conformers=10)
    assert out["energy_ratio"] > 7 and out["pose_energy_uff"] > out["ensemble_energy_uff"]
    assert run_check("strain_energy", distorted["strained"])["strain_energy_kcal_mol"] > 60


def test_sanitization_check(mols, run_check):
    assert run_check("sanitization", mols["ethanol"])["sanitization"] is True
    bad = Chem.RWMol(Chem.AddHs(Chem.MolFromSmiles("C[NH3+]")))
    bad.GetAtomWithIdx(1).SetFormalCharge(0)  # neutral N with four bonds
    bad.AddConformer(Chem.Conformer(bad.GetNumAtoms()))
    bad.GetConformer().Set3D(True)
    assert run_check("sanitization", bad.GetMol())["sanitization"] is False

def _from_molfile(mol: Chem.Mol) -> Chem.Mol:
    """The molecule as validation reads it back from a molfile written with its aromatic bonds (type 4)."""
    return Chem.MolFromMolBlock(Chem.MolToMolBlock(mol, kekulize=False), sanitize=False, removeHs=False)


def test_aromatic_bonds_count_only_in_rings(mols, run_check):
    """A molfile keeps bond type 4 but no atom flags; the chain C:C:O must still fail, benzene still pass."""
    chain = Chem.RWMol(Chem.MolFromSmiles("CCO"))
    for bond in chain.GetBonds():
        bond.SetBondType(Chem.BondType.AROMATIC)
        bond.SetIsAromatic(True)
    chain.AddConformer(Chem.Conformer(chain.GetNumAtoms()))
    chain.GetConformer().Set3D(True)
    read = _from_molfile(chain.GetMol())
    assert [b.GetBondType() for b in read.GetBonds()] == [Chem.BondType.AROMATIC] * 2
    assert not any(a.GetIsAromatic() for a in read.GetAtoms())
    assert run_check("sanitization", read)["sanitization"] is False
    assert run_check("sanitization", _from_molfile(mols["toluene"]))["sanitization"] is True



def test_inchi_check(mols, run_check):
    assert run_check("inchi_convertible", mols["ethanol"])["inchi_convertible"] is True
    mol = Chem.RWMol(mols["ethanol"])
    h = next(a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 1)
    mol.GetAtomWithIdx(h).SetAtomicNum(0)  # a dummy atom: RDKit accepts it, InChI cannot express it
    assert run_check("inchi_convertible", mol.GetMol())["inchi_convertible"] is False


def test_connectivity_check(mols, tools, run_check):
    assert run_check("all_atoms_connected", mols["ethanol"])["all_atoms_connected"] is True
    far = tools.place(mols["butane"], np.array([10.0, 0.0, 0.0]))
    two = Chem.CombineMols(mols["ethanol"], far)
    out = run_check("all_atoms_connected", two)
    assert out["all_atoms_connected"] is False and out["n_fragments"] == 2


def test_radical_check_sees_a_missing_hydrogen(mols, run_check):
    assert run_check("no_radicals", mols["ethanol"])["no_radicals"] is True
    rw = Chem.RWMol(mols["ethanol"])
    rw.RemoveAtom(max(a.GetIdx() for a in rw.GetAtoms() if a.GetAtomicNum() == 1))
    out = run_check("no_radicals", rw.GetMol())  # H atoms present -> hydrogens kept as given
    assert out["no_radicals"] is False and out["n_radical_electrons"] == 1
    # asking for hydrogens to be added repairs it
    assert run_check("no_radicals", rw.GetMol(), hydrogens="add")["no_radicals"] is True


def test_energy_screen_decides_only_clear_cases():
    from molgen.validation.checks.energy_ratio import screen_verdict

    # mean 100, sd 0.607: margin 4 * 0.607 / sqrt(8) + 5 + 0.5 = 6.359, plausible means 93.641-106.359
    ens = [100.0, 101.0, 99.0, 100.5, 99.5, 100.0, 100.2, 99.8]
    assert screen_verdict(200.0, ens, 7.0) is True  # ratio 2
    assert screen_verdict(-50.0, ens, 7.0) is True  # negative pose energy
    assert screen_verdict(1000.0, ens, 7.0) is False  # ratio 10
    assert screen_verdict(700.0, ens, 7.0) is None  # ratio 7: the full ensemble decides
    assert screen_verdict(7 * 93.7, ens, 7.0) is None  # 655.9 / 93.641 = 7.004: undecided
    assert screen_verdict(7 * 93.6, ens, 7.0) is True  # 655.2 / 93.641 = 6.997
    assert screen_verdict(200.0, [3.0, -2.0, 4.0, 1.0], 7.0) is None  # mean near zero
    assert screen_verdict(200.0, [100.0, 100.0], 7.0) is None  # too few conformers


@pytest.mark.parametrize("fixture,name", [("mols", "paracetamol"), ("distorted", "strained")])
def test_energy_screen_gives_the_full_ensemble_verdict(fixture, name, request, run_check):
    mol = request.getfixturevalue(fixture)[name]
    full = run_check("internal_energy", mol, n_conformers=20, energy_screen_conformers=0)
    screened = run_check("internal_energy", mol, n_conformers=20, energy_screen_conformers=8)
    assert full["energy_ensemble_conformers"] == 20 and screened["energy_ensemble_conformers"] == 8
    assert screened["internal_energy"] == full["internal_energy"]
    assert abs(screened["ensemble_energy_uff"] / full["ensemble_energy_uff"] - 1) < 0.05


def test_energy_ensemble_time_limit_fails_the_check_with_its_reason(run_check):
    """embed_timeout_s: an ensemble ETKDG cannot finish in time fails internal_energy with the reason
    (RDKit keeps no conformer past the limit) instead of holding the batch."""
    from rdkit.Chem import AllChem

    from molgen.validation.checks import energy_ratio

    peptide = Chem.AddHs(Chem.MolFromSmiles(  # cyclic hexapeptide: 8 conformers take a few seconds
        "CC(C)C[C@@H]1NC(=O)[C@H](CC(C)C)NC(=O)[C@H](Cc2ccccc2)NC(=O)[C@H](C)NC(=O)[C@H](CO)NC(=O)"
        "[C@H](Cc2ccccc2)NC1=O"))
    assert AllChem.EmbedMolecule(peptide, randomSeed=1) == 0
    energy_ratio._CACHE.clear()
    with pytest.raises(RuntimeError, match="within 1 s"):
        run_check("internal_energy", peptide, embed_timeout_s=1)
