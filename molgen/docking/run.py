"""Dock a batch of ligands against one receptor, in process or over a pool of worker processes.

The receptor is prepared once (PDB -> PDBQT) in the calling process. Each worker's initializer then
loads that PDBQT into Vina and computes the maps once; ligands are streamed to the workers and the
rows come back in input order. A ligand that fails is a row with ``status="failed"`` and a reason.

Outputs of :func:`run_docking` (``molgen dock``), in ``out_dir``:

* ``docking.csv``: one row per input ligand, input order (see :func:`molgen.docking.scorer.empty_row`).
* ``poses.sdf``: the scored pose (``score``), the minimised pose (``minimize``) or up to
  ``num_poses`` poses (``dock``) per ligand, with bonds, hydrogens and SD properties
  ``vina_kcal_mol``, ``pose_rank``, ``mode``, ``input_index``.
* ``receptor.pdbqt``: the prepared receptor; ``receptor.json``: how it was prepared (method, residues
  removed and why, other repairs); ``summary.json``: counts, box, settings, timings.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from rdkit import Chem
from tqdm import tqdm

from molgen.docking.box import DEFAULT_PADDING, Box, box_from_mols, parse_xyz
from molgen.docking.receptor import PreparedReceptor, prepare_receptor, read_text
from molgen.docking.scorer import DockSettings, LigandResult, VinaScorer, empty_row
from molgen.errors import MolgenError, require_file
from molgen.io import check_output_dir, write_text_atomic

log = logging.getLogger(__name__)

_PICKLE_PROPS = Chem.PropertyPickleOptions.AllProps


class DockingResult(NamedTuple):
    """What :func:`dock_ligands` returns.

    Attributes:
        table: one row per input ligand, input order.
        poses: ``poses[i]`` lists ligand i's poses, best first (empty if it failed).
        receptor: the prepared receptor.
        box: the search box used.
        timings: seconds for ``receptor`` preparation, ``maps`` (per worker), ``ligands`` and ``total``.
    """

    table: pd.DataFrame
    poses: list[list[Chem.Mol]]
    receptor: PreparedReceptor
    box: Box
    timings: dict


def read_ligands(path: str | Path) -> list[Chem.Mol | None]:
    """Read every record of an SDF (or ``.sdf.gz``) with its hydrogens; unreadable records are None."""
    from rdkit import rdBase

    src = require_file(path, "ligand file")
    try:
        supplier = Chem.SDMolSupplier()
        supplier.SetData(read_text(src), sanitize=True, removeHs=False)
        with rdBase.BlockLogs():  # one molgen warning below instead of RDKit's lines
            records = list(supplier)
    except (OSError, UnicodeError, EOFError) as err:
        raise MolgenError(f"cannot read the ligands: {err}", src) from None
    if not records:
        raise MolgenError("no molecule records (expected an SDF)", src)
    if all(m is None for m in records):
        raise MolgenError(f"none of the {len(records)} records could be read by RDKit", src)
    bad = [i + 1 for i, m in enumerate(records) if m is None]
    if bad:
        nums = ", ".join(map(str, bad[:10])) + (f", ... ({len(bad)} in all)" if len(bad) > 10 else "")
        log.warning("%s: %d of %d records could not be read by RDKit: record%s %s (counting from 1); they are "
                    "rows with status failed", src, len(bad), len(records), "s" * (len(bad) > 1), nums)
    return records


def resolve_box(box: Box | None, ref_ligand: str | Path | Chem.Mol | None, ligands: Sequence[Chem.Mol | None],
                padding: float = DEFAULT_PADDING) -> Box:
    """The box to use: ``box`` if given, else around ``ref_ligand``, else around all input ligands."""
    if box is not None and ref_ligand is not None:
        raise MolgenError("give either a box (centre + size) or a reference ligand, not both")
    if box is not None:
        return box
    if ref_ligand is not None:
        if not isinstance(ref_ligand, Chem.Mol):
            ref_ligand = read_ligands(ref_ligand)[0]
            if ref_ligand is None:
                raise MolgenError("the first record of the reference ligand cannot be read")
        return box_from_mols([ref_ligand], padding)
    log.info("no box given: using the box around all input ligands, padding %.1f Å", padding)
    return box_from_mols(ligands, padding)


# ---- worker side -------------------------------------------------------------------------------------
_SCORER: VinaScorer | None = None
_INIT_ERROR: str | None = None


def _init_worker(pdbqt: str, box: Box, settings: DockSettings) -> None:
    global _SCORER, _INIT_ERROR
    try:
        _SCORER = VinaScorer(pdbqt, box, settings)
    except Exception as err:  # noqa: BLE001 - reported in every row this worker handles
        _INIT_ERROR = f"Vina setup failed: {' '.join(str(err).split())[:300]}"


def _work(index: int, name: str, blob: bytes | None) -> tuple[dict, list[bytes], float]:
    if _SCORER is None:
        row = empty_row(index, name, "")
        row["reason"] = _INIT_ERROR or "worker not initialised"
        return row, [], math.nan
    mol = Chem.Mol(blob) if blob is not None else None
    res = _SCORER.run(mol, index, name)
    return res.row, [p.ToBinary(_PICKLE_PROPS) for p in res.poses], _SCORER.map_seconds


# ---- driver ------------------------------------------------------------------------------------------
def _names(mols: Sequence[Chem.Mol | None]) -> list[str]:
    out = []
    for i, m in enumerate(mols):
        name = m.GetProp("_Name").strip() if m is not None and m.HasProp("_Name") else ""
        out.append(name or f"ligand_{i}")
    return out


def _check_receptor(pdbqt: Path, settings: DockSettings) -> None:
    """Parse the receptor once in this process so a broken PDBQT is a user error, not N failed rows."""
    from vina import Vina

    try:
        Vina(sf_name=settings.scoring, cpu=1, verbosity=0).set_receptor(rigid_pdbqt_filename=str(pdbqt))
    except Exception as err:  # noqa: BLE001 - Vina raises TypeError/RuntimeError on parse errors
        raise MolgenError(f"Vina cannot read the receptor: {' '.join(str(err).split())[:200]}", pdbqt) from None


def _run_in_process(pdbqt: Path, box: Box, settings: DockSettings, mols, names, progress: bool):
    scorer = VinaScorer(pdbqt, box, settings)
    try:
        results = [scorer.run(m, i, n) for i, (m, n) in
                   enumerate(tqdm(list(zip(mols, names)), desc="docking", unit="lig", disable=not progress))]
    finally:
        scorer.close()
    return results, scorer.map_seconds


def _run_pool(pdbqt: Path, box: Box, settings: DockSettings, mols, names, workers: int, progress: bool):
    results: list[LigandResult] = [LigandResult({}) for _ in mols]  # each slot set below
    map_seconds = 0.0
    # spawn, not fork: the parent may hold threads (torch, Vina) that a forked child would inherit broken
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(str(pdbqt), box, settings)) as pool:
        futures = {pool.submit(_work, i, n, None if m is None else m.ToBinary(_PICKLE_PROPS)): i
                   for i, (m, n) in enumerate(zip(mols, names))}
        for fut in tqdm(as_completed(futures), total=len(futures), desc="docking", unit="lig",
                        disable=not progress):
            i = futures[fut]
            try:
                row, blobs, secs = fut.result()
            except Exception as err:  # noqa: BLE001 - a lost worker fails its ligands, not the batch
                row, blobs, secs = empty_row(i, names[i], settings.mode), [], math.nan
                row["reason"] = ("worker process died (Vina crashed on this or a neighbouring ligand)"
                                 if isinstance(err, BrokenProcessPool) else f"{type(err).__name__}: {err}")
            results[i] = LigandResult(row, [Chem.Mol(b) for b in blobs])
            if not math.isnan(secs):
                map_seconds = max(map_seconds, secs)
    if any(r.row["reason"].startswith("worker process died") for r in results):
        log.error("a docking worker process died; the ligands it had not finished are marked failed")
    return results, map_seconds


def dock_ligands(
    receptor: str | Path | PreparedReceptor,
    ligands: str | Path | Sequence[Chem.Mol | None],
    mode: str = "score",
    box: Box | None = None,
    *,
    ref_ligand: str | Path | Chem.Mol | None = None,
    padding: float = DEFAULT_PADDING,
    exhaustiveness: int = 8,
    num_poses: int = 9,
    energy_range: float = 3.0,
    workers: int = 0,
    seed: int = 1,
    cpu: int = 1,
    scoring: str = "vina",
    receptor_method: str = "auto",
    work_dir: str | Path | None = None,
    progress: bool = False,
) -> DockingResult:
    """Score, minimise or dock ligands against a receptor with AutoDock Vina.

    Args:
        receptor: receptor ``.pdb`` (prepared with Meeko, hydrogens added) or ``.pdbqt``, or an
            already :class:`PreparedReceptor`.
        ligands: an SDF path, or RDKit molecules with 3D coordinates (None entries become failed rows).
            Hydrogens are added with coordinates when missing (column ``h_added``).
        mode: ``score`` (in place), ``minimize`` (local optimisation) or ``dock`` (global search).
        box: search box; default: around ``ref_ligand`` if given, else around all the input ligands.
        ref_ligand: SDF path or molecule whose atoms the box wraps, with ``padding`` Å on each side.
        padding: margin around the reference ligand, Å.
        exhaustiveness: Vina Monte Carlo runs per ligand (``dock``).
        num_poses: poses kept per ligand (``dock``).
        energy_range: poses worse than the best by more than this are dropped (``dock``), kcal/mol.
        workers: worker processes (0 = in this process); each computes the maps once.
        seed: Vina seed, so docking is reproducible (0 = random).
        cpu: Vina threads per ligand (0 = all cores); with workers > 0 each worker uses 1.
        scoring: ``vina`` or ``vinardo``.
        receptor_method: ``auto``, ``meeko`` or ``openbabel`` (see :mod:`molgen.docking.receptor`).
        work_dir: where ``receptor.pdbqt`` is written; default a temporary folder removed on return.
        progress: show a progress bar.

    Returns:
        The table (one row per ligand, input order), the poses, the receptor, the box and timings.
    """
    t0 = time.perf_counter()
    settings = DockSettings(mode=mode, exhaustiveness=exhaustiveness, num_poses=num_poses,
                            energy_range=energy_range, seed=seed, cpu=1 if workers > 0 else cpu,
                            scoring=scoring)
    if workers < 0:
        raise MolgenError(f"workers must be >= 0, got {workers}")
    if not isinstance(receptor, PreparedReceptor):
        require_file(receptor, "receptor file")
    mols = read_ligands(ligands) if isinstance(ligands, (str, Path)) else list(ligands)
    if not mols:
        raise MolgenError("no ligands given")
    names = _names(mols)
    box = resolve_box(box, ref_ligand, mols, padding)

    with tempfile.TemporaryDirectory(prefix="molgen_dock_") as tmp:
        t1 = time.perf_counter()
        if isinstance(receptor, PreparedReceptor):
            prepared = receptor
        else:
            prepared = prepare_receptor(receptor, Path(work_dir or tmp) / "receptor.pdbqt", receptor_method)
        t_receptor = time.perf_counter() - t1
        _check_receptor(prepared.pdbqt, settings)
        t2 = time.perf_counter()
        n_workers = min(workers, len(mols))
        if n_workers == 0:
            results, map_s = _run_in_process(prepared.pdbqt, box, settings, mols, names, progress)
        else:
            results, map_s = _run_pool(prepared.pdbqt, box, settings, mols, names, n_workers, progress)
        t_ligands = time.perf_counter() - t2

    table = pd.DataFrame([r.row for r in results])
    table["mode"] = mode
    timings = {"receptor": round(t_receptor, 3), "maps": round(map_s, 3), "ligands": round(t_ligands, 3),
               "total": round(time.perf_counter() - t0, 3)}
    return DockingResult(table, [r.poses for r in results], prepared, box, timings)


def write_poses(result: DockingResult, path: str | Path) -> int:
    """Write every pose to an SDF with its score and rank as SD properties; returns poses written."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with Chem.SDWriter(str(tmp)) as writer:
        for (_, row), poses in zip(result.table.iterrows(), result.poses):
            for pose in poses:
                pose = Chem.Mol(pose)
                pose.SetProp("_Name", str(row["name"]))
                if pose.HasProp("vina_kcal_mol"):  # 3 decimals, as Vina reports it
                    pose.SetProp("vina_kcal_mol", f"{pose.GetDoubleProp('vina_kcal_mol'):.3f}")
                pose.SetProp("mode", str(row["mode"]))
                pose.SetIntProp("input_index", int(row["index"]))
                writer.write(pose)
                n += 1
    os.replace(tmp, path)
    return n


def parse_box_options(center: str | None, size: str | None) -> Box | None:
    """``--box-center x,y,z --box-size x,y,z`` -> Box (both or neither)."""
    if center is None and size is None:
        return None
    if center is None or size is None:
        raise MolgenError("--box-center and --box-size go together")
    return Box(parse_xyz(center, "--box-center"), parse_xyz(size, "--box-size"))


def run_docking(receptor: str | Path, ligands: str | Path, out_dir: str | Path, mode: str = "score",
                box: Box | None = None, **kwargs) -> dict:
    """Dock an SDF against a receptor and write ``docking.csv``, ``poses.sdf``, ``receptor.pdbqt``,
    ``receptor.json`` and ``summary.json`` into ``out_dir`` (created).

    Args:
        receptor: receptor ``.pdb`` / ``.pdbqt``.
        ligands: ligand SDF.
        out_dir: output folder.
        mode: ``score``, ``minimize`` or ``dock``.
        box: search box (else ``ref_ligand=`` or the ligands' own box, see :func:`dock_ligands`).
        **kwargs: passed to :func:`dock_ligands`.

    Returns:
        The summary written to ``summary.json``.

    Raises:
        MolgenError: bad input, or every ligand failed (the table is still written).
    """
    out = check_output_dir(out_dir)  # before any work: a file in the way, a folder we cannot write
    out.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("progress", True)
    result = dock_ligands(receptor, ligands, mode, box, work_dir=out, **kwargs)
    table = result.table
    write_text_atomic(out / "docking.csv", table.to_csv(index=False))
    n_poses = write_poses(result, out / "poses.sdf")
    write_text_atomic(out / "receptor.json", json.dumps(result.receptor.to_dict(), indent=2) + "\n")
    ok = table["status"] == "ok"
    summary = {
        "mode": mode, "receptor": result.receptor.to_dict(), "ligands": str(Path(ligands).resolve()),
        "box": result.box.to_dict(), "num_ligands": len(table), "num_ok": int(ok.sum()),
        "num_failed": int((~ok).sum()), "num_poses_written": n_poses,
        "best_kcal_mol": None if not ok.any() else round(float(table.loc[ok, "vina_kcal_mol"].min()), 3),
        "failures": {str(r): int(c) for r, c in table.loc[~ok, "reason"].value_counts().items()},
        "settings": {k: v for k, v in kwargs.items() if k != "progress" and not isinstance(v, Chem.Mol)},
        "timings_s": result.timings,
        "files": {"table": str(out / "docking.csv"), "poses": str(out / "poses.sdf"),
                  "receptor": str(result.receptor.pdbqt), "receptor_report": str(out / "receptor.json")},
    }
    summary["settings"] = json.loads(json.dumps(summary["settings"], default=str))
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    if not ok.any():
        raise MolgenError(f"all {len(table)} ligands failed (first reason: {table['reason'].iloc[0]}); "
                          f"see {out / 'docking.csv'}")
    return summary
