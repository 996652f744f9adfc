"""Reference molecules for the distribution plots: per-molecule properties and pooled 3D features.

A reference is given as the validate step's ``reference`` is (``qm9``, a SMILES file or an SDF,
see :mod:`molgen.validation.reference`). Properties are computed as validation computes them for
generated molecules (:func:`molgen.validation.properties.properties` on the largest fragment), so
the two sides of a plot mean the same thing. Only an SDF gives bond lengths, angles and torsions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, rdBase

from molgen.errors import MolgenError
from molgen.validation.reference import smiles_lines

log = logging.getLogger(__name__)

#: Columns of :attr:`ReferenceSet.table`.
REFERENCE_COLUMNS = ("name", "smiles", "n_atoms", "n_heavy_atoms", "qed", "sa", "logp", "mw", "n_rings")


def _empty_features():
    from molgen.validation.distributions import FeatureSet

    return FeatureSet()


@dataclass
class ReferenceSet:
    """Reference molecules as plotted against generated ones.

    Attributes:
        source: the file read.
        table: one row per molecule used (columns :data:`REFERENCE_COLUMNS`; ``n_atoms`` counts
            hydrogens, implicit ones included).
        features: pooled distribution features (bond lengths, angles and torsions only from 3D).
        n_total: molecules in the file; ``len(table)`` of them were used (a seeded subsample).
        n_unreadable: records or lines RDKit could not read.
    """

    source: str
    table: pd.DataFrame
    features: object = field(default_factory=_empty_features)
    n_total: int = 0
    n_unreadable: int = 0

    @property
    def has_geometry(self) -> bool:
        return bool(getattr(self.features, "n_geometry", 0))

    def label(self) -> str:
        return f"reference (n={len(self.table)})"


def _row(name: str, mol: Chem.Mol) -> dict:
    from molgen.validation.properties import canonical_smiles, properties

    props = properties(mol)
    return {"name": name, "smiles": canonical_smiles(mol), "n_atoms": Chem.AddHs(mol).GetNumAtoms(),
            "n_heavy_atoms": mol.GetNumHeavyAtoms(),
            **{k: props.get(k) for k in ("qed", "sa", "logp", "mw", "n_rings")}}


def _pick(n: int, max_molecules: int | None, seed: int) -> np.ndarray:
    if max_molecules is None or n <= max_molecules:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_molecules, replace=False))


def load_reference_set(spec: str | Path, qm9_dir: str | Path | None = None, max_molecules: int | None = 1000,
                       seed: int = 0) -> ReferenceSet:
    """Read a reference set for plotting.

    Args:
        spec: ``qm9``, a SMILES file or an SDF file (see :mod:`molgen.validation.reference`).
        qm9_dir: the prepared QM9 folder for ``qm9`` (else ``$MOLGEN_QM9_DIR``).
        max_molecules: use a seeded random subsample of at most this many (None: all).
        seed: the subsample's seed.

    Raises:
        MolgenError: missing file, or no molecule could be read.
    """
    from molgen.validation.distributions import FeatureSet, molecule_features
    from molgen.validation.reference import resolve_reference_path

    path = resolve_reference_path(spec, qm9_dir)
    rows, features, bad = [], FeatureSet(), 0
    with rdBase.BlockLogs():
        if path.name.endswith((".sdf", ".sdf.gz", ".sd", ".mol")):
            from molgen.validation.io import read_sdf_records

            records = read_sdf_records(path)
            n_total = len(records)
            for i in _pick(n_total, max_molecules, seed):
                rec = records[i]
                mol = None if rec.mol is None else Chem.Mol(rec.mol)
                if mol is None or Chem.SanitizeMol(mol, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
                    bad += 1
                    continue
                rows.append(_row(rec.name or f"ref_{i}", mol))
                features.add(molecule_features(mol, geometry=mol.GetNumConformers() > 0))
        else:
            lines = smiles_lines(path)
            n_total = len(lines)
            for i in _pick(n_total, max_molecules, seed):
                mol = Chem.MolFromSmiles(lines[i])
                if mol is None:
                    bad += 1
                    continue
                rows.append(_row(f"ref_{i}", mol))
                features.add(molecule_features(Chem.AddHs(mol), geometry=False))
    if not rows:
        raise MolgenError("no reference molecule could be read", path)
    table = pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS))
    log.info("reference %s: %d of %d molecules used", path, len(table), n_total)
    return ReferenceSet(str(path), table, features, n_total, bad)
