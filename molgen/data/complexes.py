"""Protein–ligand complexes: a ligand molecule graph plus the features of its protein pocket.

A complex is one PyG ``Data``: the ligand's molecule graph (``pos``, ``atom_type``, ``charge``,
``edge_index``, ``bond_type``, ``name``, ``smiles``; see :mod:`molgen.chem.convert`) plus

* ``pocket_pos [M, 3] float32 Å``, ``pocket_element [M]``, ``pocket_residue [M]``,
  ``pocket_backbone [M] bool``, ``pocket_atom_residue [M]`` (see :mod:`molgen.data.pocket`);
* ``pocket_residue_ids: str`` (space-separated ``"A:123"`` ids) and ``protein: str`` (file name).

Coordinates are those of the input files (no centring here). PyG batches the ``pocket_*`` tensors
along dim 0; ``Batch.from_data_list(items, follow_batch=["pocket_pos"])`` adds
``pocket_pos_batch [ΣM]``, the graph index of each pocket atom (``num_nodes`` counts ligand atoms only).

Index CSV of :func:`prepare_complexes`: columns ``protein,ligand`` (or ``protein_pdb,ligand_sdf``,
the FEP benchmark index), paths relative to the CSV's folder or absolute; optional ``record``
(0-based record of a multi-molecule SDF; empty = every record) and ``name``. For the FEP benchmark::

    FEP=/tmp/fep/schrodinger_fep_structure_inputs
    mkdir -p /tmp/fep && tar xJf shared/data/fep_benchmark/schrodinger_fep_structure_inputs.tar.xz -C /tmp/fep
    cp shared/data/fep_benchmark/fep_ligands_index.csv $FEP/
    molgen data prepare complexes $FEP/fep_ligands_index.csv --out runs/fep
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rdkit import Chem
from torch_geometric.data import Data
from tqdm import tqdm

from molgen.chem.convert import mol_to_graph
from molgen.chem.vocab import DRUG, Vocab
from molgen.data.cache import write_cache
from molgen.data.pocket import Protein, extract_pocket, read_protein
from molgen.data.prepare import PrepareReport
from molgen.data.sdf import iter_sdf_mols, sdf_stem
from molgen.errors import MolgenError, SkipRecord, require_file

log = logging.getLogger(__name__)

_COLUMNS = (("protein", "ligand"), ("protein_pdb", "ligand_sdf"))


def _ligand_mol(ligand: str | Path, record: int) -> Chem.Mol:
    for k, (rid, mol) in enumerate(iter_sdf_mols(ligand)):
        if k == record:
            if isinstance(mol, str):
                raise SkipRecord(mol)
            return mol
    raise SkipRecord("ligand record out of range")


def make_complex(
    protein: Protein | str | Path,
    ligand: Chem.Mol | str | Path,
    vocab: Vocab = DRUG,
    cutoff: float = 8.0,
    ca_only: bool = False,
    *,
    record: int = 0,
    name: str | None = None,
) -> Data:
    """Ligand molecule graph + pocket features (see the module docstring).

    Args:
        protein: a parsed :class:`~molgen.data.pocket.Protein` (reuse it for many ligands) or a
            PDB/mmCIF path.
        ligand: an RDKit molecule with a 3D conformer, or an SDF path (record ``record`` is read).
        vocab: ligand element and charge vocabulary.
        cutoff: pocket = residues with an atom within this distance (Å) of a ligand atom.
        ca_only: one pocket atom per residue.
        record: 0-based SDF record when ``ligand`` is a path.
        name: ``data.name``; default the ligand's title.

    Raises:
        SkipRecord: the ligand cannot be converted, or no pocket atom lies within ``cutoff``.
        MolgenError: an input file is missing or unreadable.
    """
    if not isinstance(protein, Protein):
        protein = read_protein(protein)
    mol = ligand if isinstance(ligand, Chem.Mol) else _ligand_mol(ligand, record)
    data = mol_to_graph(mol, vocab, name=name)
    pocket = extract_pocket(protein, data.pos, cutoff=cutoff, ca_only=ca_only)
    if len(pocket) == 0:
        raise SkipRecord(f"no pocket atoms within {cutoff:g} Å of the ligand")
    for key, value in pocket.to_fields().items():
        data[key] = value
    data.protein = protein.name
    return data


@dataclass
class _Row:
    line: int  # 1-based data row number in the CSV (header excluded)
    protein: Path
    ligand: Path
    record: int | None
    name: str


def read_complex_index(index_csv: str | Path) -> list[_Row]:
    """Parse an index CSV (see the module docstring) into rows with resolved paths.

    Raises:
        MolgenError: missing/unreadable file, no protein/ligand columns, or a bad ``record`` value.
    """
    path = require_file(index_csv, "index CSV")
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            header = [c.strip() for c in (reader.fieldnames or [])]
            raw = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise MolgenError(f"cannot read index CSV ({err})", path) from None
    cols = next((c for c in _COLUMNS if set(c) <= set(header)), None)
    if cols is None:
        raise MolgenError(
            f"index CSV needs columns protein,ligand (or protein_pdb,ligand_sdf); found {header}", path
        )
    rows = []
    for line, r in enumerate(raw, start=1):
        r = {(k or "").strip(): (v or "").strip() for k, v in r.items()}
        rec = r.get("record", "")
        try:
            record = int(rec) if rec else None
        except ValueError:
            raise MolgenError(f"row {line}: record {rec!r} is not an integer", path) from None
        rows.append(
            _Row(line, path.parent / r[cols[0]], path.parent / r[cols[1]], record, r.get("name", ""))
        )  # an absolute path in the CSV wins over the CSV's folder in the `/` join
    return rows


def _row_ligands(row: _Row, files: dict[Path, list | str]) -> Iterator[tuple[str, str, Chem.Mol | str]]:
    """``(record id, name, molecule or skip reason)`` for each ligand record an index row asks for."""
    if row.ligand not in files:
        try:
            files[row.ligand] = list(iter_sdf_mols(row.ligand))
        except MolgenError as err:
            log.warning("%s", err)
            files[row.ligand] = (
                "ligand file not found" if not row.ligand.exists() else "ligand file could not be read"
            )
    records = files[row.ligand]
    if isinstance(records, str) or not records:
        yield f"row {row.line}", "", records or "ligand file has no records"
        return
    for k in range(len(records)) if row.record is None else [row.record]:
        rid = f"row {row.line}: {row.ligand.name}:{k}"
        if row.record is None:
            name = f"{row.name or sdf_stem(row.ligand)}:{k}"
        else:
            name = row.name or f"{sdf_stem(row.ligand)}:{k}"
        yield rid, name, records[k][1] if 0 <= k < len(records) else "ligand record out of range"


def prepare_complexes(
    index_csv: Path, out: Path, vocab: Vocab, cutoff: float, ca_only: bool, limit: int | None
) -> dict:
    """Prepare protein–ligand complexes listed in an index CSV into a cache.

    Rows are grouped by protein (in order of first appearance) so that every protein file is
    parsed once; each ligand SDF is read once per protein. A bad row (missing or unparseable file,
    record out of range, bad ligand, no pocket atom within ``cutoff``) is skipped with its reason.

    Args:
        index_csv: the index (see the module docstring).
        out: output cache directory.
        vocab: ligand vocabulary.
        cutoff: pocket cutoff, Å.
        ca_only: one pocket atom per residue.
        limit: keep at most this many complexes.

    Returns:
        The summary written to ``out/summary.json``.

    Raises:
        MolgenError: unreadable index, or no complex could be made.
    """
    from molgen.data.stats import write_stats

    rows = read_complex_index(index_csv)
    groups: dict[Path, list[_Row]] = {}
    for row in rows:
        groups.setdefault(row.protein, []).append(row)
    report = PrepareReport("complexes")
    pocket_sizes: list[int] = []
    proteins_parsed = 0
    bar = tqdm(total=len(rows), desc="complexes", unit="row", disable=None)

    def graphs() -> Iterator[Data]:
        nonlocal proteins_parsed
        for protein_path, group in groups.items():
            try:
                protein = read_protein(protein_path)
                proteins_parsed += 1
            except MolgenError as err:
                log.warning("%s", err)
                gone = not protein_path.exists()
                for row in group:
                    report.skip(
                        "protein file not found" if gone else "protein file could not be parsed",
                        f"row {row.line}",
                    )
                bar.update(len(group))
                continue
            ligand_files: dict[Path, list | str] = {}  # each SDF read once per protein
            for row in group:
                bar.update(1)
                for rid, name, mol in _row_ligands(row, ligand_files):
                    if isinstance(mol, str):
                        report.skip(mol, rid)
                        continue
                    try:
                        data = make_complex(protein, mol, vocab, cutoff, ca_only, name=name)
                    except SkipRecord as err:
                        report.skip(err.reason, rid)
                        continue
                    report.keep()
                    pocket_sizes.append(int(data.pocket_pos.shape[0]))
                    yield data
                    if limit is not None and report.kept >= limit:
                        return

    out = Path(out)
    try:
        write_cache(
            graphs(),
            out,
            vocab,
            meta={"dataset": "complexes", "index": str(index_csv), "cutoff": cutoff, "ca_only": ca_only},
        )
    finally:
        bar.close()
    report.extra.update(
        vocab=vocab.name,
        index=str(index_csv),
        rows=len(rows),
        proteins=len(groups),
        proteins_parsed=proteins_parsed,
        cutoff=cutoff,
        ca_only=ca_only,
        limit=limit,
    )
    if pocket_sizes:
        s = np.asarray(pocket_sizes)
        report.extra["pocket_atoms"] = {
            "min": int(s.min()),
            "median": float(np.median(s)),
            "max": int(s.max()),
        }
    if report.kept == 0:
        report.write(out)
        reasons = ", ".join(f"{r} ({n})" for r, n in report.skipped.most_common(3)) or "no rows"
        raise MolgenError(f"no complex could be prepared: {reasons}", index_csv)
    write_stats(out)
    summary = report.write(out)
    log.info("complexes: kept %d, skipped %d %s", report.kept, report.num_skipped, dict(report.skipped))
    return summary


__all__ = ["make_complex", "prepare_complexes", "read_complex_index"]
