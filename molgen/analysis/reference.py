"""References for the distribution plots: a reference file's molecules, and the training statistics.

Two sources, each drawn beside the generated distribution when present:

* a reference file (:func:`load_reference_set`), given as the validate step's ``reference`` is
  (``qm9``, a SMILES file or an SDF, see :mod:`molgen.validation.reference`). Properties are
  computed as validation computes them for generated molecules
  (:func:`molgen.validation.properties.properties` on the largest fragment), so the two sides of a
  plot mean the same thing. Only an SDF with 3D coordinates gives bond lengths, angles, torsions
  and strain energies (the ``strain_energy`` check's own computation, hydrogens added as
  validation adds them).
* the training set's statistics shipped in the checkpoint (:func:`load_training_stats`; keys in
  :mod:`molgen.data.stats`): atoms per molecule, element counts and bond lengths per bond order.
  They hold no bond angles, ring sizes, QED, SA or strain: those plots need a reference file.
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
REFERENCE_COLUMNS = ("name", "smiles", "n_atoms", "n_heavy_atoms", "qed", "sa", "logp", "mw", "n_rings",
                     "strain_energy_kcal_mol")
#: Reference molecules of an SDF whose strain energy is computed (a force-field minimisation each).
STRAIN_MAX = 100


def _empty_features():
    from molgen.validation.distributions import FeatureSet

    return FeatureSet()


@dataclass
class ReferenceSet:
    """Reference molecules as plotted against generated ones.

    Attributes:
        source: the file read.
        table: one row per molecule used (columns :data:`REFERENCE_COLUMNS`; ``n_atoms`` counts
            hydrogens, implicit ones included; ``strain_energy_kcal_mol`` only for the first
            :data:`STRAIN_MAX` molecules of an SDF with 3D coordinates, else NaN).
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

    @property
    def name(self) -> str:
        """The file name (``train_smiles.txt``, ``ligands.sdf``), for legends."""
        return Path(self.source).name


def reference_strain(mol: Chem.Mol) -> float | None:
    """Strain energy (kcal/mol) of a 3D reference molecule, as the ``strain_energy`` check computes
    it for a generated one (hydrogens added and relaxed first when the file has none); None when
    the molecule has no conformer or the force field fails."""
    from molgen.validation.build import build_molecule
    from molgen.validation.checks import CheckContext
    from molgen.validation.checks.strain_energy import strain_energy
    from molgen.validation.config import ValidationConfig

    if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
        return None
    try:
        built = build_molecule(mol, "predicted", "auto")
        if built.mol is None:
            return None
        ctx = CheckContext(raw=built.raw, mol=built.mol, config=ValidationConfig(), added_h=built.added_h)
        return float(strain_energy(ctx)["strain_energy_kcal_mol"])
    except Exception as err:  # noqa: BLE001 - one odd reference molecule only loses its strain
        log.debug("reference strain not computed: %s", err)
        return None


@dataclass
class TrainingStats:
    """The training set's statistics of a checkpoint (keys in :mod:`molgen.data.stats`).

    Attributes:
        source: the checkpoint file.
        stats: the statistics dict.
    """

    source: str
    stats: dict

    @property
    def elements(self) -> list[str]:
        return list((self.stats.get("vocab") or {}).get("elements") or self.stats.get("atom_types", {}).get(
            "counts", {}))

    @property
    def has_hydrogens(self) -> bool:
        """Whether the training molecules had explicit hydrogens (their atom counts include H)."""
        return "H" in self.elements

    @property
    def num_graphs(self) -> int | None:
        return self.stats.get("num_graphs")

    def sizes(self) -> dict[int, int]:
        """Atoms per training molecule (hydrogens included when :attr:`has_hydrogens`): ``{n: count}``."""
        from molgen.data.stats import size_histogram

        return size_histogram(self.stats) if (self.stats.get("num_atoms") or {}).get("hist") else {}

    def atom_types(self) -> dict[str, int]:
        """Atoms per element over the training set."""
        return {k: int(v) for k, v in (self.stats.get("atom_types") or {}).get("counts", {}).items()}

    def bond_lengths(self, bond_class: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(bin edges [61] Å, counts [60])`` of one bond order (``single``, ``double``, ``triple``,
        ``aromatic``), None when the statistics have no such bond."""
        bins, bond = self.stats.get("bond_length_bins"), (self.stats.get("bonds") or {}).get(bond_class)
        if not bins or not bond or not bond.get("count"):
            return None
        edges = bins["lo"] + bins["width"] * np.arange(bins["n"] + 1)
        return edges, np.asarray(bond["hist"], dtype=float)


def load_training_stats(checkpoint: str | Path) -> TrainingStats:
    """The training statistics stored in a model file or Lightning checkpoint (``weights_only``
    load; the network is not built).

    Raises:
        MolgenError: missing or unreadable checkpoint, or one without statistics.
    """
    from molgen.training.checkpoint import read_model_file

    _, stats, *_ = read_model_file(checkpoint)
    if not isinstance(stats, dict) or not stats.get("num_atoms"):
        raise MolgenError("the checkpoint holds no training statistics", checkpoint)
    return TrainingStats(str(Path(checkpoint).expanduser()), stats)


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
                       seed: int = 0, strain_max: int = STRAIN_MAX) -> ReferenceSet:
    """Read a reference set for plotting.

    Args:
        spec: ``qm9``, a SMILES file or an SDF file (see :mod:`molgen.validation.reference`).
        qm9_dir: the prepared QM9 folder for ``qm9`` (else ``$MOLGEN_QM9_DIR``).
        max_molecules: use a seeded random subsample of at most this many (None: all).
        seed: the subsample's seed.
        strain_max: compute the strain energy of at most this many 3D molecules (the first of the
            subsample; 0: none).

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
                row = _row(rec.name or f"ref_{i}", mol)
                if len(rows) < strain_max:
                    row["strain_energy_kcal_mol"] = reference_strain(mol)
                rows.append(row)
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
