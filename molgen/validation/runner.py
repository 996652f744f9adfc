"""Runs the validation: records -> built molecules -> stability, chemistry, checks -> table + metrics.

Per molecule (one row of the table, in input order):

* ``index``, ``name``, ``read_ok``, ``reason`` (why the record could not be read, why the molecule
  is not valid, which check could not run, or, for a valid molecule that is not ``pb_valid``, which
  PoseBusters checks it fails: ``failed checks: bond_angles, no_radicals``; null when all went through);
* ``n_atoms``, ``n_heavy_atoms`` (the atoms as given);
* protocol A: ``n_stable_atoms_edm``, ``mol_stable_edm``; protocol B: ``n_stable_atoms``,
  ``mol_stable`` (both on the atoms as given; see :mod:`molgen.validation.stability`);
* ``valid`` (RDKit sanitization), ``valid_connected`` (valid and one fragment), ``smiles``
  (canonical, largest fragment), ``qed``, ``sa``, ``logp``, ``mw``, ``lipinski_violations``,
  ``n_rings``, ``ring_sizes``;
* one pass/fail column per check (True = passes) plus its value columns (see
  :mod:`molgen.validation.checks`), and ``pb_valid`` (valid, and every selected PoseBusters-equivalent
  check passes: PoseBusters' own first test is that RDKit sanitizes the molecule, so an invalid molecule
  is never ``pb_valid``, even when no check was selected).

Molecules are processed in worker processes (``workers > 0``; chunked, with a progress bar) or in
this process (``workers=0``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing as mp
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rdkit import Chem, rdBase
from tqdm import tqdm

from molgen.chem.vocab import DRUG, Vocab
from molgen.errors import MolgenError
from molgen.io import check_output_dir, write_json_atomic
from molgen.validation.build import build_molecule
from molgen.validation.checks import CHECKS, CheckContext
from molgen.validation.config import ValidationConfig
from molgen.validation.distributions import FeatureSet, molecule_features
from molgen.validation.io import ProteinAtoms, Record, load_protein, read_sdf_records, records_from_objects
from molgen.validation.metrics import summarize
from molgen.validation.properties import canonical_smiles, properties
from molgen.validation.reference import Reference, load_reference
from molgen.validation.stability import stability_edm, stability_graph

log = logging.getLogger(__name__)

TABLE_STEM = "validation"
SDF_NAME = "validated.sdf"
#: Columns every table has (check columns and ``pb_valid`` follow), present even when empty.
BASE_COLUMNS = ("index", "name", "read_ok", "reason", "n_atoms", "n_heavy_atoms", "n_stable_atoms_edm",
                "mol_stable_edm", "n_stable_atoms", "mol_stable", "hydrogens", "valid", "valid_connected",
                "smiles", "qed", "sa", "logp", "mw", "lipinski_violations", "n_rings", "ring_sizes")
METRICS_NAME = "metrics.json"
#: The value columns each check adds beside its pass/fail column (``tests/validation`` keeps this in step
#: with what the checks return), so that a workflow's filter can be checked before anything runs.
CHECK_COLUMNS: dict[str, tuple[str, ...]] = {
    "sanitization": (), "inchi_convertible": (), "all_atoms_connected": ("n_fragments",),
    "no_radicals": ("n_radical_electrons",), "bond_lengths": ("bond_lengths_n_bad", "bond_lengths_worst_rel"),
    "bond_angles": ("bond_angles_n_bad", "bond_angles_worst_rel"),
    "no_internal_clash": ("internal_clash_min_ratio", "internal_clash_n"),
    "aromatic_ring_flatness": ("aromatic_ring_max_dist", "aromatic_rings_checked"),
    "non_aromatic_ring_non_flatness": ("non_aromatic_ring_min_dist",),
    "double_bond_flatness": ("double_bond_max_dist", "double_bonds_checked"),
    "internal_energy": ("energy_ratio", "ensemble_energy_uff", "pose_energy_uff", "energy_ensemble_conformers"),
    "strain_energy": ("strain_energy_kcal_mol", "strain_forcefield"),
    "protein_max_distance": ("protein_min_distance",),
    "no_protein_clash": ("protein_clash_group", "protein_clash_min_rel_distance", "protein_clash_n"),
    "no_volume_clash": ("volume_overlap_max", "volume_overlap_protein"),
}


@dataclass
class ValidationResult:
    """Outcome of a validation run.

    Attributes:
        table: one row per input molecule (columns in :mod:`molgen.validation.runner`).
        metrics: summary metrics (see :mod:`molgen.validation.metrics`).
        molblocks: per row, the validated molecule as a mol block (None for unread records).
    """

    table: pd.DataFrame
    metrics: dict
    molblocks: list[str | None] = field(default_factory=list, repr=False)


def selected_checks(config: ValidationConfig, with_protein: bool) -> list[str]:
    """Names of the checks a run uses, in column order.

    Raises:
        MolgenError: an unknown check name in ``config.checks``.
    """
    names = list(CHECKS) if config.checks is None else list(config.checks)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise MolgenError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    return [n for n in names if with_protein or not CHECKS[n].protein]


def table_columns(config: ValidationConfig, with_protein: bool) -> list[str]:
    """Every column a validation table can have with these settings (base, checks, values, ``pb_valid``).

    Raises:
        MolgenError: an unknown check name in ``config.checks``.
    """
    names = selected_checks(config, with_protein)
    return [*BASE_COLUMNS, *(c for n in names for c in (n, *CHECK_COLUMNS.get(n, ()))), "pb_valid"]


def _molblock(mol: Chem.Mol) -> str | None:
    try:
        return Chem.MolToMolBlock(mol)
    except ValueError:  # an aromatic system without a Kekulé structure: write it as aromatic
        return Chem.MolToMolBlock(mol, kekulize=False)


def validate_record(
    rec: Record, config: ValidationConfig, protein: ProteinAtoms | None = None
) -> tuple[dict, dict | None, str | None]:
    """Validate one record; never raises for a bad molecule (its row gets the reason).

    Returns:
        ``(row, features, molblock)``: the table row, distribution features (None when unread) and
        the validated molecule as a mol block (None when unread).
    """
    names = selected_checks(config, protein is not None)
    if rec.mol is not None:
        try:
            return _validate(rec, names, config, protein)
        except Exception as err:  # noqa: BLE001  one odd molecule must not stop the batch
            reason = f"validation error: {' '.join(str(err).split()) or type(err).__name__}"
            rec = Record(rec.index, rec.name, None, reason)
    row = {"index": rec.index, "name": rec.name, "read_ok": False, "reason": rec.reason,
           "mol_stable_edm": False, "mol_stable": False, "valid": False, "valid_connected": False}
    return {**row, **{n: False for n in names}, "pb_valid": False}, None, None


def _validate(rec: Record, names: list[str], config: ValidationConfig,
              protein: ProteinAtoms | None) -> tuple[dict, dict, str | None]:
    mol = rec.mol
    row: dict = {"index": rec.index, "name": rec.name, "read_ok": True, "reason": None}
    reasons = []
    row["n_atoms"] = mol.GetNumAtoms()
    row["n_heavy_atoms"] = sum(a.GetAtomicNum() > 1 for a in mol.GetAtoms())
    row["n_stable_atoms_edm"], row["mol_stable_edm"] = stability_edm(mol)
    built = build_molecule(mol, config.bonds, config.hydrogens)
    row["n_stable_atoms"], row["mol_stable"] = stability_graph(built.raw)
    row["hydrogens"] = built.hydrogens
    row["valid"] = built.mol is not None
    if built.error:
        reasons.append(built.error)
    n_frag = len(Chem.GetMolFrags(built.raw, asMols=False, sanitizeFrags=False))
    row["valid_connected"] = bool(row["valid"] and n_frag == 1)
    if built.mol is not None:
        row["smiles"] = canonical_smiles(built.mol)
        row.update(properties(built.mol))
    ctx = CheckContext(raw=built.raw, mol=built.mol, config=config, added_h=built.added_h, protein=protein)
    for name in names:
        check = CHECKS[name]
        if check.needs_valid and built.mol is None:
            row[name] = False
            continue
        try:
            row.update(check.func(ctx))
        except Exception as err:  # noqa: BLE001  a check that cannot run fails; the reason is kept
            row[name] = False
            reasons.append(f"check {name}: {' '.join(str(err).split()) or type(err).__name__}")
    row["pb_valid"] = row["valid"] and all(bool(row[n]) for n in names if CHECKS[n].pb)
    if built.mol is not None and not row["pb_valid"]:  # say which checks fail (an invalid molecule's reason says why)
        explained = {r.split(":", 1)[0].removeprefix("check ") for r in reasons if r.startswith("check ")}
        failed = [n for n in names if CHECKS[n].pb and not row[n] and n not in explained]
        if failed:
            reasons.append("failed checks: " + ", ".join(failed))
    row["reason"] = "; ".join(reasons) or None
    shown = built.mol if built.mol is not None else built.raw
    feats = molecule_features(shown, geometry=built.mol is not None)
    if built.mol is None:  # atom counts and types of the molecule as given, ring sizes unknown
        feats["ring_sizes"] = []
    return row, feats, _molblock(shown)


# Worker-process state, set once per process by the pool initializer.
_STATE: dict = {}


def _init_worker(config: ValidationConfig, protein: ProteinAtoms | None) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _STATE.update(config=config, protein=protein)


def _work(rec: Record) -> tuple[dict, dict | None, str | None]:
    with rdBase.BlockLogs():
        return validate_record(rec, _STATE["config"], _STATE["protein"])


def _run(records: list[Record], config: ValidationConfig, protein: ProteinAtoms | None, workers: int,
         progress: bool) -> list[tuple[dict, dict | None, str | None]]:
    bar = tqdm(total=len(records), desc="validate", unit="mol", disable=not progress)
    out = []
    if workers <= 0 or len(records) <= 1:
        _init_worker(config, protein)
        for rec in records:
            out.append(_work(rec))
            bar.update()
    else:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        chunk = max(1, min(32, math.ceil(len(records) / (4 * workers))))
        with mp.get_context(method).Pool(workers, initializer=_init_worker, initargs=(config, protein)) as pool:
            for res in pool.imap(_work, records, chunksize=chunk):
                out.append(res)
                bar.update()
    bar.close()
    return out


def validate_records(
    records: list[Record],
    reference: str | Path | Reference | None = None,
    protein: str | Path | ProteinAtoms | None = None,
    workers: int = 0,
    config: ValidationConfig | None = None,
    qm9_dir: str | Path | None = None,
    progress: bool = True,
) -> ValidationResult:
    """Validate records (see :func:`validate_molecules` for the arguments)."""
    config = config or ValidationConfig()
    if not records:
        raise MolgenError("no molecules to validate")
    if isinstance(reference, (str, Path)):
        reference = load_reference(reference, qm9_dir)
    if isinstance(protein, (str, Path)):
        protein = load_protein(protein)
    names = selected_checks(config, protein is not None)
    results = _run(records, config, protein, workers, progress)
    table = pd.DataFrame([r for r, _, _ in results])
    table = table.reindex(columns=[*BASE_COLUMNS, *(c for c in table.columns if c not in BASE_COLUMNS)])
    for col in ("read_ok", "mol_stable_edm", "mol_stable", "valid", "valid_connected", "pb_valid", *names):
        table[col] = table[col].fillna(False).astype(bool)
    for col in ("n_atoms", "n_heavy_atoms", "n_stable_atoms_edm", "n_stable_atoms", "n_fragments"):
        if col in table:
            table[col] = table[col].astype("Int64")
    features = FeatureSet()
    for _, feats, _ in results:
        if feats is not None:
            features.add(feats)
    cfg = config.to_dict()
    cfg["protein"] = None if protein is None else protein.path
    metrics = summarize(table, names, features, reference, cfg)
    return ValidationResult(table, metrics, [m for _, _, m in results])


def validate_molecules(
    mols_or_graphs: Iterable,
    vocab: Vocab | None = None,
    reference: str | Path | Reference | None = None,
    protein: str | Path | ProteinAtoms | None = None,
    workers: int = 0,
    config: ValidationConfig | None = None,
    qm9_dir: str | Path | None = None,
    progress: bool = True,
    **options,
) -> ValidationResult:
    """Validate generated molecules.

    Args:
        mols_or_graphs: RDKit molecules (one 3D conformer each) and/or molecule graphs (PyG ``Data``
            or a ``Batch``: ``pos [N, 3]`` Å, ``atom_type [N]``, ``charge [N]``, ``edge_index [2, 2M]``,
            ``bond_type [2M]``).
        vocab: the graphs' vocabulary (required for graphs); for molecules, the allowed elements
            (default: drug vocabulary).
        reference: ``"qm9"``, a SMILES file, an SDF file, or a loaded
            :class:`~molgen.validation.reference.Reference`; enables ``novel`` and distributions.
        protein: receptor PDB path (or loaded atoms); enables the protein checks.
        workers: worker processes; 0 runs in this process.
        config: settings and thresholds; ``options`` (e.g. ``bonds="edm"``) override its fields.
        qm9_dir: prepared QM9 folder for ``reference="qm9"`` (else ``$MOLGEN_QM9_DIR``).
        progress: show a progress bar.

    Returns:
        :class:`ValidationResult` with the per-molecule table and the summary metrics.
    """
    config = _with_options(config, options)
    records = records_from_objects(mols_or_graphs, vocab)
    return validate_records(records, reference, protein, workers, config, qm9_dir, progress)


def _with_options(config: ValidationConfig | None, options: dict) -> ValidationConfig:
    config = config or ValidationConfig()
    return dataclasses.replace(config, **options) if options else config


def write_outputs(result: ValidationResult, out_dir: str | Path) -> dict[str, str]:
    """Write the table (Parquet, or CSV without pyarrow), the SDF with properties and metrics.json
    (which then also names the three paths under ``outputs``).

    Returns:
        ``{"table": path, "sdf": path, "metrics": path}``.
    """
    out = Path(out_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MolgenError(f"cannot create the output folder ({err.strerror})", out) from None
    try:
        import pyarrow  # noqa: F401

        table_path = out / f"{TABLE_STEM}.parquet"
        result.table.to_parquet(table_path, index=False)
    except ImportError:
        table_path = out / f"{TABLE_STEM}.csv"
        result.table.to_csv(table_path, index=False)
    sdf_path = out / SDF_NAME
    with open(sdf_path, "w") as fh:
        for row, block in zip(result.table.to_dict("records"), result.molblocks):
            if block is None:
                continue
            fh.write(block)
            for key, value in row.items():
                if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                    continue
                fh.write(f">  <{key}>\n{' '.join(str(value).split())}\n\n")
            fh.write("$$$$\n")
    metrics_path = out / METRICS_NAME
    paths = {"table": str(table_path), "sdf": str(sdf_path), "metrics": str(metrics_path)}
    result.metrics["outputs"] = paths
    write_json_atomic(metrics_path, result.metrics)
    return paths


def unread_summary(records: list[Record]) -> str | None:
    """One line naming the records that could not be read (1-based numbers, first reason), or None."""
    bad = [r for r in records if r.mol is None]
    if not bad:
        return None
    nums = ", ".join(str(r.index + 1) for r in bad[:10]) + (f", ... ({len(bad)} in all)" if len(bad) > 10 else "")
    return (f"{len(bad)} of {len(records)} records could not be read: record{'s' * (len(bad) > 1)} {nums} "
            f"(counting from 1; {'first ' * (len(bad) > 1)}reason: {bad[0].reason}); they are rows with read_ok = false")


def warn_unread(records: list[Record], path: str | Path) -> None:
    """Log :func:`unread_summary` as one warning naming the file."""
    text = unread_summary(records)
    if text is not None:
        log.warning("%s: %s", path, text)


def validate_sdf(
    path: str | Path,
    out_dir: str | Path | None = None,
    vocab: Vocab | None = None,
    reference: str | Path | Reference | None = None,
    protein: str | Path | ProteinAtoms | None = None,
    workers: int = 0,
    config: ValidationConfig | None = None,
    qm9_dir: str | Path | None = None,
    progress: bool = True,
    **options,
) -> ValidationResult:
    """Validate the molecules of an SDF file and, with ``out_dir``, write the three outputs there.

    Broken or empty records, records without a 3D conformer and unknown elements become rows with
    a ``reason`` (counted in ``n_failed_to_read``).

    Raises:
        MolgenError: the file is missing, not an SDF, has no record, or none of its records could
            be read (the first reason is given).
    """
    config = _with_options(config, options)
    if out_dir is not None:
        check_output_dir(out_dir)
    records = read_sdf_records(path, vocab)
    if all(r.mol is None for r in records):
        raise MolgenError(f"none of the {len(records)} records could be read (first: {records[0].reason})", path)
    warn_unread(records, path)
    result = validate_records(records, reference, protein, workers, config, qm9_dir, progress)
    if isinstance(result.metrics.get("config"), dict):
        result.metrics["config"]["vocab"] = (vocab or DRUG).name
    if out_dir is not None:
        write_outputs(result, out_dir)
    return result
