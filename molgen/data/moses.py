"""MOSES SMILES -> 3D molecule graphs (RDKit ETKDG conformers, MMFF-optimised).

MOSES ships SMILES only (``train.csv.gz``, ``test.csv.gz``, ``test_scaffolds.csv.gz``; column
``SMILES``, and ``SPLIT`` in the original single-file release). Each SMILES gets hydrogens and one
ETKDGv3 conformer (random-coordinate start as a second try), then an MMFF94 optimisation; molecules
MMFF has no parameters for fall back to UFF, then to the plain ETKDG geometry; which one was used
is counted in ``summary.json`` (``force_field``).

Reproducibility: the embedding seed of a molecule is a hash of (``seed``, its SMILES), and workers
return molecules in input order, so the output does not depend on the number of worker processes
or the chunking. Workers run RDKit only; molecules travel back as RDKit pickles with coordinates
in double precision.

Throughput is a few tens of molecules per second per core (drug-like molecules of ~25 heavy
atoms); the full MOSES training set (1.58 M) is hours of CPU time, so use ``--workers`` and
``--limit``.
"""

from __future__ import annotations

import gzip
import logging
import multiprocessing as mp
import os
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem
from torch_geometric.data import Data
from tqdm import tqdm

from molgen.chem.convert import mol_to_graph
from molgen.chem.vocab import Vocab
from molgen.data.cache import write_cache
from molgen.data.prepare import PrepareReport
from molgen.errors import MolgenError, SkipRecord, require_file

log = logging.getLogger(__name__)

_PICKLE = Chem.PropertyPickleOptions.CoordsAsDouble | Chem.PropertyPickleOptions.MolProps


def molecule_seed(smiles: str, seed: int) -> int:
    """Deterministic per-molecule RDKit seed (31-bit) from the SMILES and the run seed."""
    return zlib.crc32(f"{seed}|{smiles}".encode()) & 0x7FFFFFFF


def embed_smiles(smiles: str, seed: int, max_iters: int = 2000) -> tuple[Chem.Mol, str, bool]:
    """One 3D conformer with explicit hydrogens for a SMILES.

    Args:
        smiles: input SMILES.
        seed: RDKit random seed of this molecule (see :func:`molecule_seed`).
        max_iters: force-field optimisation iterations.

    Returns:
        ``(molecule, method, converged)``: method is ``"mmff"``, ``"uff"`` or ``"etkdg"`` (no
        force field had parameters); converged is False if the optimiser hit ``max_iters``.

    Raises:
        SkipRecord: unparseable SMILES or failed embedding.
    """
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise SkipRecord("RDKit could not parse the SMILES")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    params.numThreads = 1
    if AllChem.EmbedMolecule(mol, params) != 0:
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(mol, params) != 0:
            raise SkipRecord("ETKDG embedding failed")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        return mol, "mmff", AllChem.MMFFOptimizeMolecule(mol, maxIters=max_iters) == 0
    if AllChem.UFFHasAllMoleculeParams(mol):
        return mol, "uff", AllChem.UFFOptimizeMolecule(mol, maxIters=max_iters) == 0
    return mol, "etkdg", True


def _embed_task(task: tuple[int, str, int]) -> tuple[int, bytes | None, str, bool]:
    """Worker: ``(row, smiles, seed)`` -> ``(row, pickled molecule or None, method or reason, converged)``."""
    row, smiles, seed = task
    try:
        mol, method, converged = embed_smiles(smiles, seed)
    except SkipRecord as err:
        return row, None, err.reason, False
    except Exception as err:  # noqa: BLE001 (an RDKit failure on one molecule must not end the batch)
        return row, None, f"3D embedding error: {type(err).__name__}", False
    return row, mol.ToBinary(_PICKLE), method, converged


def _worker_init() -> None:
    RDLogger.DisableLog("rdApp.*")


def read_smiles_csv(
    path: str | Path, limit: int | None = None, skip: int = 0
) -> tuple[list[str], list[str] | None]:
    """SMILES (and the split column, if any) of a MOSES-style CSV, optionally gzipped.

    Args:
        path: CSV with a ``SMILES`` column (any case); an optional ``SPLIT`` column is returned too.
        limit: read only the first N rows (after ``skip``).
        skip: leave out the first N data rows.

    Raises:
        MolgenError: missing/unreadable file or no SMILES column.
    """
    path = require_file(path, "SMILES CSV")
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt") as fh:
            header = fh.readline().strip().split(",")
        cols = {c.strip().lower(): c for c in header}
        if "smiles" not in cols:
            raise MolgenError(f"no SMILES column in the CSV header {header}", path)
        use = [cols["smiles"]] + ([cols["split"]] if "split" in cols else [])
        df = pd.read_csv(path, usecols=use, nrows=limit, dtype=str, keep_default_na=False,
                         skiprows=range(1, skip + 1) if skip else None)
    except MolgenError:
        raise
    except Exception as err:  # noqa: BLE001 (gzip, decoding and CSV parser errors)
        raise MolgenError(f"cannot read SMILES CSV ({type(err).__name__}: {err})", path) from None
    smiles = df[cols["smiles"]].str.strip().tolist()
    splits = df[cols["split"]].str.strip().tolist() if "split" in cols else None
    return smiles, splits


def prepare_moses(
    source: Path, out: Path, vocab: Vocab, limit: int | None, workers: int, seed: int, skip: int = 0
) -> dict:
    """Embed MOSES SMILES in 3D and write them into a molecule cache.

    A large set is prepared in slices (``skip`` and ``limit``), each its own cache, so that a long
    preparation can stop and go on slice by slice; training reads several caches at once
    (``data.extra_train``). Molecules are named by their row in the file (``train:12345``), so the
    slices' names never collide, and a molecule gets the same conformer in any slicing.

    Args:
        source: SMILES CSV(.gz) (column ``SMILES``, optional ``SPLIT``).
        out: output cache directory.
        vocab: element and charge vocabulary.
        limit: use only the first N SMILES (after ``skip``).
        workers: processes for embedding; 0 = all available cores, 1 = in this process.
        seed: run seed, mixed into every molecule's embedding seed.
        skip: leave out the first N SMILES rows.

    Returns:
        The summary written to ``out/summary.json``; ``force_field`` counts the method used per
        kept molecule and ``not_converged`` the optimisations that hit the iteration cap.

    Raises:
        MolgenError: unreadable input, or no molecule could be embedded.
    """
    from molgen.data.stats import write_stats

    source, out = Path(source), Path(out)
    if skip < 0:
        raise MolgenError(f"skip must be >= 0, got {skip}", source)
    smiles, splits = read_smiles_csv(source, limit, skip)
    if not smiles:
        raise MolgenError("no SMILES rows", source)
    if workers <= 0:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(workers, len(smiles))
    stem = source.name.split(".")[0]
    report = PrepareReport("moses")
    methods: Counter = Counter()
    not_converged = 0
    tasks = ((i, s, molecule_seed(s, seed)) for i, s in enumerate(smiles))
    if workers > 1:
        pool = mp.get_context("fork").Pool(workers, initializer=_worker_init)
        results = pool.imap(_embed_task, tasks, chunksize=max(1, min(64, len(smiles) // (workers * 16))))
    else:
        pool, results = None, map(_embed_task, tasks)
        RDLogger.DisableLog("rdApp.*")

    def graphs() -> Iterator[Data]:
        nonlocal not_converged
        for row, blob, info, converged in tqdm(
            results, total=len(smiles), desc="MOSES 3D", unit="mol", disable=None
        ):
            rid = f"{stem}:{skip + row}"
            if blob is None:
                report.skip(info, rid)
                continue
            try:
                data = mol_to_graph(Chem.Mol(blob), vocab, name=rid)
            except SkipRecord as err:
                report.skip(err.reason, rid)
                continue
            if splits is not None:
                data.split = splits[row]
            methods[info] += 1
            not_converged += not converged
            report.keep()
            yield data

    try:
        write_cache(graphs(), out, vocab, meta={"dataset": "moses", "source": str(source), "seed": seed})
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        RDLogger.EnableLog("rdApp.*")
    report.extra.update(
        vocab=vocab.name,
        source=str(source),
        smiles_read=len(smiles),
        limit=limit,
        seed=seed,
        workers=workers,
        force_field=dict(methods),
        not_converged=not_converged,
    )
    if splits is not None:
        report.extra["splits"] = dict(Counter(splits))
    if report.kept == 0:
        report.write(out)
        reasons = ", ".join(f"{r} ({n})" for r, n in report.skipped.most_common(3))
        raise MolgenError(f"no molecule could be embedded: {reasons}", source)
    write_stats(out)
    summary = report.write(out)
    log.info("MOSES: kept %d, skipped %d %s", report.kept, report.num_skipped, dict(report.skipped))
    return summary


__all__ = ["embed_smiles", "molecule_seed", "prepare_moses", "read_smiles_csv"]
