"""Summary metrics of a validated set (the content of ``metrics.json``).

Denominators. Molecule-level fractions (``mol_stable_edm``, ``mol_stable``, ``valid``,
``valid_connected``, ``pb_valid`` and each check's pass rate) are over all ``n_input`` molecules, a
record that could not be read counting as a failure. Atom-level stability is over the atoms of the
molecules that were read. ``unique`` is the fraction of distinct canonical SMILES among the valid
molecules, ``novel`` the fraction of those distinct SMILES absent from the reference (EDM's
definitions); ``novel`` is null without a reference.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from molgen.validation.distributions import FeatureSet, compare


def _frac(num: float, den: float) -> float | None:
    return None if den == 0 else float(num) / float(den)


def _mean(series: pd.Series) -> float | None:
    s = pd.to_numeric(series, errors="coerce").dropna()
    return None if s.empty else float(s.mean())


def summarize(
    table: pd.DataFrame,
    checks: list[str],
    features: FeatureSet,
    reference=None,
    config: dict | None = None,
) -> dict:
    """Summary metrics from the per-molecule table.

    Args:
        table: one row per input molecule (see :func:`molgen.validation.validate_molecules`).
        checks: names of the check columns that were run.
        features: pooled distribution features of the generated molecules.
        reference: a :class:`~molgen.validation.reference.Reference`, or None.
        config: the run's settings, copied into the output.
    """
    n = len(table)
    read = table[table["read_ok"]]
    n_atoms = float(read["n_atoms"].sum()) if len(read) else 0.0
    valid = table[table["valid"].astype(bool)]
    smiles = [s for s in valid["smiles"].tolist() if isinstance(s, str) and s]
    distinct = set(smiles)
    out: dict = {
        "n_input": n,
        "n_failed_to_read": int((~table["read_ok"]).sum()),
        "n_valid": len(valid),
        "atom_stable_edm": _frac(read["n_stable_atoms_edm"].sum(), n_atoms),
        "mol_stable_edm": _frac(table["mol_stable_edm"].astype(bool).sum(), n),
        "atom_stable": _frac(read["n_stable_atoms"].sum(), n_atoms),
        "mol_stable": _frac(table["mol_stable"].astype(bool).sum(), n),
        "valid": _frac(len(valid), n),
        "valid_connected": _frac(table["valid_connected"].astype(bool).sum(), n),
        "unique": _frac(len(distinct), len(valid)),
        "novel": None,
        "pb_valid": _frac(table["pb_valid"].astype(bool).sum(), n),
        "checks": {c: _frac(table[c].astype(bool).sum(), n) for c in checks if c in table},
        "properties": {k: _mean(valid[k]) for k in ("qed", "sa", "logp", "mw", "lipinski_violations", "n_rings")
                       if k in valid},
        "ring_sizes": features.ring_size_histogram(),
        "reasons": table["reason"].dropna().map(lambda r: r.split(":")[0]).value_counts().to_dict(),
    }
    if "strain_energy_kcal_mol" in table:
        out["properties"]["strain_energy_kcal_mol_median"] = (
            None if table["strain_energy_kcal_mol"].dropna().empty
            else float(np.median(table["strain_energy_kcal_mol"].dropna()))
        )
    if reference is not None:
        out["novel"] = _frac(len(distinct - reference.smiles), len(distinct))
        out["reference"] = reference.summary()
        out["distributions"] = compare(features, reference.features)
    if config is not None:
        out["config"] = config
    return _clean(out)


def _clean(obj):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
