"""Reference sets for novelty and distribution metrics.

A reference is given as

* ``qm9``: the ``train_smiles.txt`` of a prepared QM9 dataset folder (``molgen data prepare qm9
  --out DIR``). The folder comes from ``qm9_dir=`` (CLI ``--qm9-dir``) or else the environment
  variable ``MOLGEN_QM9_DIR``;
* a SMILES text file (``.txt``/``.smi``/``.smiles``/``.csv``; one SMILES per line, the first
  whitespace- or comma-separated field, lines starting with ``#`` and a ``smiles`` header skipped);
* an SDF file (``.sdf``/``.sdf.gz``): SMILES for novelty and 3D features for bond lengths, angles and
  torsions.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from rdkit import Chem, rdBase

from molgen.errors import MolgenError, require_file
from molgen.validation.distributions import FeatureSet, molecule_features
from molgen.validation.io import read_sdf_records
from molgen.validation.properties import canonical_smiles

log = logging.getLogger(__name__)

QM9_DIR_ENV = "MOLGEN_QM9_DIR"
QM9_SMILES_FILE = "train_smiles.txt"


@dataclass
class Reference:
    """A reference set.

    Attributes:
        source: where it came from (path).
        smiles: canonical non-isomeric SMILES (largest fragment, no H) for novelty.
        features: pooled distribution features (3D ones only for an SDF reference).
        n_unreadable: records or lines RDKit could not read (skipped).
    """

    source: str
    smiles: set[str] = field(default_factory=set)
    features: FeatureSet = field(default_factory=FeatureSet)
    n_unreadable: int = 0

    def summary(self) -> dict:
        return {"source": self.source, "n_molecules": self.features.n_molecules,
                "n_unique_smiles": len(self.smiles), "n_3d": self.features.n_geometry,
                "n_unreadable": self.n_unreadable}


def resolve_reference_path(spec: str | Path, qm9_dir: str | Path | None = None) -> Path:
    """Path of a reference given as ``qm9`` or a file path (see the module docstring).

    Raises:
        MolgenError: ``qm9`` without a folder, or the file is missing.
    """
    if str(spec) == "qm9":
        folder = qm9_dir or os.environ.get(QM9_DIR_ENV)
        if not folder:
            raise MolgenError(f"--reference qm9 needs a prepared QM9 folder: pass --qm9-dir DIR or set "
                              f"{QM9_DIR_ENV} (the folder written by `molgen data prepare qm9 --out DIR`)")
        return require_file(Path(folder) / QM9_SMILES_FILE, "QM9 reference SMILES file")
    return require_file(spec, "reference file")


def smiles_lines(path: Path) -> list[str]:
    """SMILES of a text file: the first whitespace- or comma-separated field of each line, comments
    (``#``) and a ``smiles``/``smi`` header skipped."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        token = re.split(r"[\s,]+", line, maxsplit=1)[0]
        if token.lower() in {"smiles", "smi"}:
            continue
        out.append(token)
    return out


def load_reference(spec: str | Path, qm9_dir: str | Path | None = None) -> Reference:
    """Load a reference set (``qm9``, a SMILES file or an SDF file).

    Raises:
        MolgenError: missing file, or no molecule in it could be read.
    """
    path = resolve_reference_path(spec, qm9_dir)
    ref = Reference(source=str(path))
    if path.name.endswith((".sdf", ".sdf.gz", ".sd", ".mol")):
        for rec in read_sdf_records(path):
            mol = None
            if rec.mol is not None:
                mol = Chem.Mol(rec.mol)
                if Chem.SanitizeMol(mol, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
                    mol = None
            if mol is None:
                ref.n_unreadable += 1
                continue
            ref.smiles.add(canonical_smiles(mol))
            ref.features.add(molecule_features(mol, geometry=True))
    else:
        with rdBase.BlockLogs():
            for smi in smiles_lines(path):
                mol = Chem.MolFromSmiles(smi)
                if mol is None:
                    ref.n_unreadable += 1
                    continue
                ref.smiles.add(canonical_smiles(mol))
                ref.features.add(molecule_features(Chem.AddHs(mol), geometry=False))
    if not ref.smiles:
        raise MolgenError("no reference molecule could be read", path)
    log.info("reference %s: %d molecules, %d unique SMILES", path, ref.features.n_molecules, len(ref.smiles))
    return ref
