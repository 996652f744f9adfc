"""Fixtures for the validation tests: RDKit-built conformers (ETKDG + MMFF), distorted variants,
a tiny receptor PDB and the PoseBusters crystal complexes (extracted to a temporary folder)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolTransforms
from rdkit.Geometry import Point3D

from molgen.validation.build import build_molecule
from molgen.validation.checks import CHECKS, CheckContext
from molgen.validation.config import ValidationConfig
from molgen.validation.io import load_protein

# The shared data folder sits beside the project checkout (see its PROVENANCE.md).
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
PB_ARCHIVE = SHARED / "posebusters" / "posebusters_examples.tar.xz"
PB_INDEX = SHARED / "posebusters" / "posebusters_examples_index.csv"


def embed(smiles: str, seed: int = 0) -> Chem.Mol:
    """Molecule with explicit H and one ETKDG conformer relaxed with MMFF94."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    mol.SetProp("_Name", smiles)
    return mol


def set_positions(mol: Chem.Mol, pos: np.ndarray) -> Chem.Mol:
    mol = Chem.Mol(mol)
    conf = mol.GetConformer()
    for i, (x, y, z) in enumerate(np.asarray(pos, dtype=float).tolist()):
        conf.SetAtomPosition(i, Point3D(x, y, z))
    return mol


def side(mol: Chem.Mol, i: int, j: int) -> list[int]:
    """Atoms on j's side of the bond i-j (j included)."""
    rw = Chem.RWMol(mol)
    rw.RemoveBond(i, j)
    frags = Chem.GetMolFrags(rw.GetMol(), asMols=False, sanitizeFrags=False)
    return list(next(f for f in frags if j in f))


@pytest.fixture(scope="session")
def mols() -> dict[str, Chem.Mol]:
    """Relaxed conformers of a few small molecules, by name."""
    smiles = {
        "phenol": "Oc1ccccc1",
        "toluene": "Cc1ccccc1",
        "paracetamol": "CC(=O)Nc1ccc(O)cc1",
        "cyclohexane": "C1CCCCC1",
        "butene": "C/C=C/C",
        "butane": "CCCC",
        "heptane": "CCCCCCC",
        "ethanol": "CCO",
        "pyrrole": "c1cc[nH]c1",
        "methylpyridinium": "C[n+]1ccccc1",
    }
    return {k: embed(v) for k, v in smiles.items()}


@pytest.fixture(scope="session")
def distorted(mols) -> dict[str, Chem.Mol]:
    """One failing fixture per geometry check, each made from a relaxed conformer."""
    out = {}
    # Stretched bond: move one end of butane's central C-C (with everything on its side) 0.8 Å out.
    m = mols["butane"]
    pos = m.GetConformer().GetPositions()
    moving = side(m, 1, 2)
    u = (pos[2] - pos[1]) / np.linalg.norm(pos[2] - pos[1])
    pos[moving] += 0.8 * u
    out["stretched_bond"] = set_positions(m, pos)
    # Squashed angle: C0-C1-C2 of butane closed to 60 degrees.
    m = Chem.Mol(mols["butane"])
    rdMolTransforms.SetAngleDeg(m.GetConformer(), 0, 1, 2, 60.0)
    out["squashed_angle"] = m
    # Clash: heptane with every C-C-C-C torsion at 0 degrees curls into a ring, ends overlapping.
    m = Chem.Mol(mols["heptane"])
    for k in range(4):
        rdMolTransforms.SetDihedralDeg(m.GetConformer(), k, k + 1, k + 2, k + 3, 0.0)
    out["clash"] = m
    # Bent aromatic ring: one ring carbon of toluene (and its H) 0.7 Å out of the ring plane.
    m = mols["toluene"]
    pos = m.GetConformer().GetPositions()
    ring = [a.GetIdx() for a in m.GetAtoms() if a.GetIsAromatic()]
    x = pos[ring] - pos[ring].mean(0)
    normal = np.linalg.svd(x)[2][-1]
    k = ring[3]
    hk = [n.GetIdx() for n in m.GetAtomWithIdx(k).GetNeighbors() if n.GetAtomicNum() == 1]
    pos[[k, *hk]] += 0.7 * normal
    out["bent_ring"] = set_positions(m, pos)
    # Twisted double bond: trans-2-butene turned 90 degrees about C=C.
    m = Chem.Mol(mols["butene"])
    rdMolTransforms.SetDihedralDeg(m.GetConformer(), 0, 1, 2, 3, 90.0)
    out["twisted_double_bond"] = m
    # Flat cyclohexane: ring atoms projected onto their best plane.
    m = mols["cyclohexane"]
    pos = m.GetConformer().GetPositions()
    ring = [a.GetIdx() for a in m.GetAtoms() if a.GetAtomicNum() == 6]
    c = pos[ring].mean(0)
    normal = np.linalg.svd(pos[ring] - c)[2][-1]
    pos[ring] -= np.outer((pos[ring] - c) @ normal, normal)
    out["flat_cyclohexane"] = set_positions(m, pos)
    # Strained conformer: paracetamol with every atom displaced by 0.15 Å in a random direction.
    m = mols["paracetamol"]
    rng = np.random.default_rng(0)
    d = rng.normal(size=(m.GetNumAtoms(), 3))
    pos = m.GetConformer().GetPositions() + 0.15 * d / np.linalg.norm(d, axis=1, keepdims=True)
    out["strained"] = set_positions(m, pos)
    return out


@pytest.fixture
def run_check():
    """``run_check(name, mol, protein=None, **config) -> dict`` of the check's columns."""

    def _run(name: str, mol: Chem.Mol, protein=None, **cfg) -> dict:
        config = ValidationConfig(**cfg)
        built = build_molecule(mol, config.bonds, config.hydrogens)
        ctx = CheckContext(raw=built.raw, mol=built.mol, config=config, added_h=built.added_h, protein=protein)
        return CHECKS[name].func(ctx)

    return _run


def write_pdb(path: Path, pos: np.ndarray, element: str = "C") -> Path:
    """A PDB of one-atom GLY "residues" at ``pos [P, 3]`` Å."""
    lines = []
    for k, (x, y, z) in enumerate(np.asarray(pos).tolist(), start=1):
        lines.append(f"ATOM  {k:5d}  CA  GLY A{k:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {element:>2s}")
    path.write_text("\n".join(lines) + "\nEND\n")
    return path


@pytest.fixture(scope="session")
def sheet_pdb(tmp_path_factory) -> Path:
    """A 9 x 9 sheet of carbon atoms, 2 Å apart, in the plane z = 0 around the origin."""
    g = np.arange(-4, 5) * 2.0
    xx, yy = np.meshgrid(g, g)
    pos = np.stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)], axis=1)
    return write_pdb(tmp_path_factory.mktemp("protein") / "sheet.pdb", pos)


@pytest.fixture(scope="session")
def sheet(sheet_pdb):
    return load_protein(sheet_pdb)


@pytest.fixture(scope="session")
def pb_index():
    """Index of the PoseBusters crystal complexes (complex_id, protein_pdb, ligand_sdf, smiles, n_heavy)."""
    import pandas as pd

    if not PB_INDEX.exists():
        pytest.skip("PoseBusters example index not available")
    return pd.read_csv(PB_INDEX).set_index("complex_id")


@pytest.fixture(scope="session")
def pb_examples(tmp_path_factory) -> Path:
    """The 12 PoseBusters crystal complexes (protein PDB + ligand SDF per folder)."""
    if not PB_ARCHIVE.exists():
        pytest.skip("PoseBusters example archive not available")
    out = tmp_path_factory.mktemp("pbx")
    with tarfile.open(PB_ARCHIVE) as tar:
        tar.extractall(out, filter="data")
    return out / "posebusters_examples"


def place(mol: Chem.Mol, centre: np.ndarray) -> Chem.Mol:
    """``mol`` translated so that its heavy-atom centroid sits at ``centre`` (Å)."""
    pos = mol.GetConformer().GetPositions()
    heavy = [a.GetAtomicNum() > 1 for a in mol.GetAtoms()]
    return set_positions(mol, pos - pos[heavy].mean(0) + np.asarray(centre))


@pytest.fixture(scope="session")
def tools():
    """Helper functions: ``embed``, ``set_positions``, ``place``, ``write_pdb``."""
    from types import SimpleNamespace

    return SimpleNamespace(embed=embed, set_positions=set_positions, place=place, write_pdb=write_pdb)
