"""Docking fixtures: two real complexes, each receptor prepared once per session (see data/README.md).

* ``prolif``: receptor with hydrogens (CHARMM names) + 9 Vina poses of ergotamine, in Vina's rank order.
* ``s3v``: PDB 1S3V crystal protein without hydrogens + its crystal ligand without hydrogens.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from rdkit import Chem

from molgen.docking import Box, PreparedReceptor, box_from_mols, prepare_receptor

DATA = Path(__file__).resolve().parent / "data"


@dataclass
class Complex:
    """A prepared receptor, its ligands and the box around the reference ligand(s)."""

    receptor_pdb: Path
    receptor: PreparedReceptor
    ligand_sdf: Path
    ligands: list[Chem.Mol]
    box: Box


def gunzip(src: Path, dst: Path) -> Path:
    """Decompress ``src`` (.gz) into ``dst``."""
    with gzip.open(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dst


def need_vina() -> None:
    """Skip when the docking extra is not installed (pip install molgen[docking])."""
    pytest.importorskip("vina", reason="AutoDock Vina python bindings missing: pip install molgen[docking]")
    pytest.importorskip("meeko", reason="Meeko missing: pip install molgen[docking]")


def read_sdf(path: Path) -> list[Chem.Mol]:
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


@pytest.fixture(scope="session")
def prolif(tmp_path_factory) -> Complex:
    need_vina()
    tmp = tmp_path_factory.mktemp("prolif")
    pdb = gunzip(DATA / "prolif_rec.pdb.gz", tmp / "rec.pdb")
    sdf = gunzip(DATA / "prolif_vina_output.sdf.gz", tmp / "vina_output.sdf")
    ligands = read_sdf(sdf)
    rec = prepare_receptor(pdb, tmp / "rec.pdbqt")
    return Complex(pdb, rec, sdf, ligands, box_from_mols(ligands, 4.0))


@pytest.fixture(scope="session")
def s3v(tmp_path_factory) -> Complex:
    need_vina()
    tmp = tmp_path_factory.mktemp("s3v")
    pdb = gunzip(DATA / "1s3v_protein.pdb.gz", tmp / "1s3v_protein.pdb")
    sdf = DATA / "1s3v_ligand.sdf"
    ligands = read_sdf(sdf)
    rec = prepare_receptor(pdb, tmp / "1s3v_protein.pdbqt")
    return Complex(pdb, rec, sdf, ligands, box_from_mols(ligands, 4.0))
