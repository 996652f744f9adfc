"""Fixtures for the data readers: the committed samples and small broken inputs written per test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

REPO = Path(__file__).resolve().parents[2]
LIGANDS_SDF = REPO / "data" / "ligands" / "fep_ligands.sdf"
COMPLEXES = REPO / "data" / "complexes"

#: A carbon with five bonds: parses, fails RDKit sanitisation (AtomValenceException).
PENTAVALENT_C = """pentavalent
  hand-written

  6  5  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.0900    0.0000    0.0000 H   0  0  0  0  0  0  0  0  0  0  0  0
   -1.0900    0.0000    0.0000 H   0  0  0  0  0  0  0  0  0  0  0  0
    0.0000    1.0900    0.0000 H   0  0  0  0  0  0  0  0  0  0  0  0
    0.0000   -1.0900    0.0000 H   0  0  0  0  0  0  0  0  0  0  0  0
    0.0000    0.0000    1.0900 H   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  1  3  1  0
  1  4  1  0
  1  5  1  0
  1  6  1  0
M  END
$$$$
"""
#: An atom line cut short: RDKit cannot parse the record at all.
TRUNCATED_ATOM_LINE = """truncated
  hand-written

  2  1  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.5
  1  2  1  0
M  END
$$$$
"""


def sdf_records(path: Path) -> list[str]:
    """Raw text of each record of an SDF file, ``$$$$`` line included."""
    return [b + "$$$$\n" for b in path.read_text().split("$$$$\n") if b.strip()]


@pytest.fixture
def repo_root() -> Path:
    """The repository checkout."""
    return REPO


@pytest.fixture
def ligands_sdf() -> Path:
    """40 FEP ligand poses with hydrogens (data/ligands/fep_ligands.sdf)."""
    return LIGANDS_SDF


@pytest.fixture
def complexes_dir() -> Path:
    """data/complexes: 4 PoseBusters crystal complexes and 2 FEP systems, with index.csv."""
    return COMPLEXES


@pytest.fixture
def broken_sdf(tmp_path: Path) -> Path:
    """Four records: good, pentavalent carbon, truncated atom line, good."""
    good = sdf_records(LIGANDS_SDF)
    path = tmp_path / "broken.sdf"
    path.write_text(good[0] + PENTAVALENT_C + TRUNCATED_ATOM_LINE + good[1])
    return path


@pytest.fixture
def selenophene_sdf(tmp_path: Path) -> Path:
    """One 3D selenophene (Se is in neither the QM9 nor the DRUG vocabulary)."""
    mol = Chem.AddHs(Chem.MolFromSmiles("Cc1cc[se]c1"))
    assert AllChem.EmbedMolecule(mol, randomSeed=7) == 0
    mol.SetProp("_Name", "methylselenophene")
    path = tmp_path / "selenophene.sdf"
    with Chem.SDWriter(str(path)) as w:
        w.write(mol)
    return path


@pytest.fixture
def far_ligand_sdf(tmp_path: Path) -> Path:
    """The 1S3V crystal ligand moved 100 Å along x: no protein atom near it."""
    mol = Chem.MolFromMolFile(str(COMPLEXES / "posebusters/1S3V/1s3v_ligand.sdf"))
    conf = mol.GetConformer()
    pos = conf.GetPositions() + np.array([100.0, 0.0, 0.0])
    for k, p in enumerate(pos):
        conf.SetAtomPosition(k, p.tolist())
    path = tmp_path / "far_ligand.sdf"
    with Chem.SDWriter(str(path)) as w:
        w.write(mol)
    return path
