"""The step types: the work of one chunk, a step's setup, and the merge of its chunks.

Each molecule step (``generate``, ``validate``, ``filter``, ``dock``, ``relax``) works chunk by chunk.
Chunk k of a step reads chunk k of its input step and writes, into a folder renamed into place when whole:

* ``molecules.sdf``: the molecules, each titled with its stable id (``gen_000123``) and carrying the
  table row as SD properties (filter passes its input records through unchanged);
* ``table.parquet`` (``.csv`` without pyarrow): one row per molecule of the input chunk that the step
  keeps, ``id`` first; a step adds its columns to those of its input (its own win on a clash);
* ``done.json``: fingerprint, counts, seconds, seed, host, shard, the size and SHA-256 of each file
  (``files``) and a digest of the input chunk's files (``input_digest``): a chunk whose files or
  input no longer match is recomputed;
* extras: ``features.json`` (validate: distribution features, pooled when the step is merged),
  ``poses.sdf`` (dock: every pose); a merged relax step also writes ``summary.json``.

A chunk task is a picklable :class:`ChunkTask` run by :func:`execute_chunk`, in this process or on a
Dask worker. A molecule that fails is a row with a reason; an exception fails the step.
"""

from __future__ import annotations

import functools
import json
import logging
import multiprocessing as mp
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from molgen.errors import MolgenError
from molgen.pipeline.rundir import (
    CHUNK_DONE,
    MOLECULES,
    TABLE_STEM,
    RunDir,
    digest_of,
    folder_digests,
    format_record,
    read_json,
    read_table,
    record_title,
    sdf_records,
    write_json_atomic,
    write_table,
    write_text_atomic,
)

log = logging.getLogger(__name__)

#: Test hook: a process that has finished this many chunks is SIGKILLed while writing the next one
#: (after its files are written, before the chunk folder is renamed into place).
KILL_ENV = "MOLGEN_TEST_KILL_AFTER_CHUNKS"
#: Test hook: the signal of KILL_ENV (``TERM`` for SIGTERM; default ``KILL``).
KILL_SIGNAL_ENV = "MOLGEN_TEST_KILL_SIGNAL"
_CHUNKS_DONE_HERE = 0


@dataclass
class ChunkTask:
    """Everything one chunk needs (picklable: it travels to Dask workers).

    Attributes:
        run_dir: the run directory (a shared filesystem for distributed runs).
        step: the step's settings.
        k: chunk index; fingerprint: the step's chunk fingerprint (written into ``done.json``).
        input_step: the input step's name (None for generate).
        seed: generate: the chunk seed, derived from (workflow seed, k).
        start, count: generate: global index of the chunk's first molecule, molecules in the chunk.
        device, workers, threads: where and how wide to run.
        context: results of the step's setup (dock: the prepared receptor and the box).
        origin: who runs it (shard / executor), recorded in ``done.json``.
    """

    run_dir: str
    step: Any
    k: int
    fingerprint: str
    input_step: str | None = None
    seed: int | None = None
    start: int = 0
    count: int = 0
    device: str = "cpu"
    workers: int = 0
    threads: int | None = None
    context: dict = field(default_factory=dict)
    origin: dict = field(default_factory=dict)


def chunk_seed(seed: int, k: int) -> int:
    """The seed of chunk k: a function of (seed, k) only, so chunks agree across processes."""
    import numpy as np

    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def execute_chunk(task: ChunkTask) -> dict:
    """Compute one chunk into a temporary folder, then rename it into place; returns ``done.json``."""
    global _CHUNKS_DONE_HERE
    run = RunDir(task.run_dir)
    name = task.step.name
    t0 = time.perf_counter()
    tmp = run.new_chunk_tmp(name, task.k)
    source = None
    if task.input_step is not None:  # what this chunk was computed from: a changed input recomputes it
        source = (run.chunk_meta(task.input_step, task.k) or {}).get("files")
    counts = _WORK[task.step.type](task, run, tmp)
    meta = {"chunk": task.k, "step": name, "type": task.step.type, "fingerprint": task.fingerprint,
            **counts, "seed": task.seed, "seconds": round(time.perf_counter() - t0, 3),
            "host": socket.gethostname(), "pid": os.getpid(), **task.origin,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "files": folder_digests(tmp),
            "input_digest": None if source is None else digest_of(source)}
    write_json_atomic(tmp / CHUNK_DONE, meta)
    limit = os.environ.get(KILL_ENV)
    if limit is not None and _CHUNKS_DONE_HERE >= int(limit):
        sig = getattr(signal, "SIG" + os.environ.get(KILL_SIGNAL_ENV, "KILL"))
        os.kill(os.getpid(), sig)  # tests only: die (or be told to stop) with a half-written chunk
    run.commit_chunk(tmp, name, task.k, task.fingerprint, meta["input_digest"])
    _CHUNKS_DONE_HERE += 1
    return meta


def _input_paths(task: ChunkTask, run: RunDir) -> tuple[Path, pd.DataFrame]:
    d = run.chunk_dir(task.input_step, task.k)
    return d / MOLECULES, read_table(d / TABLE_STEM)


def _join(carried: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``id`` + the input's columns the step did not recompute + the step's columns; input row order."""
    keep = ["id", *(c for c in carried.columns if c != "id" and c not in new.columns)]
    return carried[keep].merge(new, on="id", how="left", validate="one_to_one")


# -------------------------------------------------------------------------------------- generate
@functools.lru_cache(maxsize=2)
def _model(checkpoint: str, device: str, options: str):
    from molgen.training.checkpoint import load_model

    return load_model(checkpoint, device=device, process_options=json.loads(options) or None)


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_checkpoint(step) -> Path:
    """The generate step's model file (``checkpoint: null``: the shipped QM9 model)."""
    if step.checkpoint is not None:
        return Path(step.checkpoint)
    from molgen.sampling.generate import default_checkpoint

    return default_checkpoint()


def setup_generate(step, run: RunDir, device: str) -> dict:
    """Pocket and fragment modes: cut the pocket and read the fragment once per step; their summary
    goes to ``steps/NAME/condition.json``. Unconditional: nothing.

    Raises:
        MolgenError: an unreadable protein, ligand or fragment; a SMARTS without a match.
    """
    if step.mode == "unconditional":
        return {}
    from molgen.sampling.conditioning import fragment_from_sdf, fragment_from_smarts, load_pocket

    gm = _model(str(resolve_checkpoint(step)), resolve_device(device), json.dumps(step.options, sort_keys=True))
    pocket = frag = None
    summary: dict = {"mode": step.mode, "pocket": None, "fragment": None, "guidance": step.guidance}
    if step.protein is not None:
        pocket_rule = step.residues is None and step.box is None
        box = None if step.box is None else [*step.box.center, *step.box.size]
        pocket = load_pocket(step.protein, ref_ligand=step.ref_ligand if pocket_rule else None,
                             residues=step.residues, box=box, vocab=gm.vocab, cutoff=step.pocket_cutoff)
        summary["pocket"] = pocket.summary()
    if step.fragment is not None:
        frag = fragment_from_sdf(step.fragment, gm.vocab)
        summary["fragment"] = {"source": str(step.fragment), "atoms": int(frag.num_nodes)}
    elif step.fragment_smarts is not None:
        frag, atoms = fragment_from_smarts(step.ref_ligand, step.fragment_smarts, gm.vocab)
        summary["fragment"] = {"source": f"SMARTS {step.fragment_smarts} on {step.ref_ligand}",
                               "atoms": int(frag.num_nodes), "reference_atoms": atoms}
    out = run.step_dir(step.name)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "condition.json", summary)
    return {"pocket": pocket, "fragment": frag}


def _generate(task: ChunkTask, run: RunDir, out: Path) -> dict:
    import torch

    from molgen.sampling.conditioning import generate_conditioned_graphs
    from molgen.sampling.generate import generate_graphs
    from molgen.sampling.guidance import parse_guidance
    from molgen.sampling.writers import graph_to_molblock

    step = task.step
    device = resolve_device(task.device)
    gm = _model(str(resolve_checkpoint(step)), device, json.dumps(step.options, sort_keys=True))
    threads = torch.get_num_threads()
    if task.threads:
        torch.set_num_threads(task.threads)
    atoms_range = tuple(step.atoms_range) if step.atoms_range else None
    try:
        if step.mode == "unconditional":
            graphs = generate_graphs(gm.model, gm.process, gm.vocab, gm.stats, task.count, step.steps,
                                     step.batch_size, task.seed, gm.self_condition, device, step.num_atoms,
                                     atoms_range)
        else:
            graphs = generate_conditioned_graphs(
                gm.model, gm.process, gm.vocab, gm.stats, task.count, step.steps,
                pocket=task.context.get("pocket"), fragment=task.context.get("fragment"),
                batch_size=step.batch_size, seed=task.seed, self_condition=gm.self_condition, device=device,
                num_atoms=step.num_atoms, atoms_range=atoms_range, guidance=parse_guidance(step.guidance),
                sizes=step.sizes)
    finally:
        torch.set_num_threads(threads)
    rows, text = [], []
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # invalid generated molecules are expected; validation reports them
    for i, g in enumerate(graphs):
        index = task.start + i
        g.molgen_index = index
        g.name = f"gen_{index:06d}"
        block, ok = graph_to_molblock(g, gm.vocab)
        text.append(block)
        rows.append({"id": g.name, "index": index, "chunk": task.k, "n_atoms": int(g.num_nodes),
                     "sanitized": ok})
    write_text_atomic(out / MOLECULES, "".join(text))
    table = pd.DataFrame(rows, columns=["id", "index", "chunk", "n_atoms", "sanitized"])
    write_table(table, out / TABLE_STEM)
    return {"n_in": task.count, "n_out": len(rows), "n_sanitized": int(table["sanitized"].sum())}


# -------------------------------------------------------------------------------------- validate
_VSTATE: dict = {}


def _vinit(config, protein) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _VSTATE.update(config=config, protein=protein)


def _vwork(rec):
    from rdkit import rdBase

    from molgen.validation.runner import validate_record

    with rdBase.BlockLogs():
        return validate_record(rec, _VSTATE["config"], _VSTATE["protein"])


def validation_config(step):
    from molgen.validation import ValidationConfig

    return ValidationConfig(bonds=step.bonds, hydrogens=step.hydrogens, checks=step.checks, **step.thresholds)


def _validate(task: ChunkTask, run: RunDir, out: Path) -> dict:
    from molgen.chem.vocab import get_vocab
    from molgen.validation.io import load_protein, read_sdf_records
    from molgen.validation.runner import BASE_COLUMNS, selected_checks

    step = task.step
    sdf, carried = _input_paths(task, run)
    config = validation_config(step)
    protein = load_protein(step.protein) if step.protein else None
    records = read_sdf_records(sdf, get_vocab(step.vocab)) if sdf.stat().st_size else []
    if task.workers > 0 and len(records) > 1:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with mp.get_context(method).Pool(task.workers, initializer=_vinit, initargs=(config, protein)) as pool:
            results = pool.map(_vwork, records, chunksize=max(1, len(records) // (4 * task.workers)))
    else:
        _VSTATE.update(config=config, protein=protein)
        results = [_vwork(rec) for rec in records]
    names = selected_checks(config, protein is not None)
    new = pd.DataFrame([r for r, _, _ in results])
    cols = [c for c in BASE_COLUMNS if c not in ("index", "name")]
    if new.empty:
        new = pd.DataFrame(columns=["name", *cols, *names, "pb_valid"])
    new = new.rename(columns={"name": "id"}).drop(columns=["index"], errors="ignore")
    new = new.reindex(columns=["id", *cols, *(c for c in new.columns if c not in cols and c != "id")])
    table = _join(carried, new)
    missing = ~table["id"].isin(new["id"])
    if missing.any():  # rows of the input without a structure (unreadable upstream)
        table.loc[missing, "reason"] = "no structure in the input step's SDF"
    for col in ("read_ok", "mol_stable_edm", "mol_stable", "valid", "valid_connected", "pb_valid", *names):
        if col in table:
            table[col] = table[col].astype("boolean").fillna(False).astype(bool)
    for col in ("n_atoms", "n_heavy_atoms", "n_stable_atoms_edm", "n_stable_atoms", "n_fragments"):
        if col in table:
            table[col] = table[col].astype("Int64")
    rows = {r["id"]: r for r in table.to_dict("records")}
    text, feats = [], []
    for (row, f, block) in results:
        feats.append(None if f is None else {"id": row["name"], **f})
        if block is not None:
            text.append(format_record(block, row["name"], rows[row["name"]]))
    write_text_atomic(out / MOLECULES, "".join(text))
    write_table(table, out / TABLE_STEM)
    write_json_atomic(out / "features.json", [f for f in feats if f is not None])
    return {"n_in": len(carried), "n_out": len(table), "n_valid": int(table["valid"].sum()) if len(table) else 0,
            "n_pb_valid": int(table["pb_valid"].sum()) if len(table) else 0}


# ---------------------------------------------------------------------------------------- filter
def apply_condition(table: pd.DataFrame, where: str) -> pd.Series:
    """Boolean mask of the rows satisfying ``where`` (null values count as false).

    Raises:
        MolgenError: an unknown column (with a did-you-mean) or a condition that is not true/false.
    """
    import difflib

    if table.empty:
        return pd.Series([], dtype=bool)
    try:
        mask = table.eval(where, engine="python")
    except Exception as err:  # noqa: BLE001 - pandas raises UndefinedVariableError, TypeError, ...
        text = " ".join(str(err).split())
        name = text.split("'")[1] if text.startswith("name '") and text.count("'") >= 2 else None
        if name is not None:
            hint = difflib.get_close_matches(name, [str(c) for c in table.columns], n=1)
            more = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise MolgenError(f"filter condition {where!r}: unknown column {name!r}{more}") from None
        raise MolgenError(f"filter condition {where!r} cannot be evaluated: {text[:200]}") from None
    if not isinstance(mask, pd.Series) or not (pd.api.types.is_bool_dtype(mask) or mask.dtype == object):
        raise MolgenError(f"filter condition {where!r} is not a true/false condition")
    return mask.astype("boolean").fillna(False).astype(bool)


def _filter(task: ChunkTask, run: RunDir, out: Path) -> dict:
    sdf, table = _input_paths(task, run)
    mask = apply_condition(table, task.step.where)
    kept = table[mask.values].reset_index(drop=True)
    ids = set(kept["id"])
    records = [r for r in sdf_records(sdf.read_text()) if record_title(r) in ids]
    write_text_atomic(out / MOLECULES, "".join(records))
    write_table(kept, out / TABLE_STEM)
    return {"n_in": len(table), "n_out": len(kept)}


# ------------------------------------------------------------------------------------------ dock
_DOCK_RENAME = {"status": "dock_status", "reason": "dock_reason", "mode": "dock_mode", "seconds": "dock_seconds"}


def setup_dock(step, run: RunDir) -> dict:
    """Prepare the receptor once (``steps/NAME/receptor.pdbqt``) and fix the box.

    Raises:
        MolgenError: the receptor or the reference ligand cannot be used.
    """
    import tempfile

    from molgen.docking import Box, prepare_receptor, resolve_box

    out = run.step_dir(step.name)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".receptor-") as tmp:
        prepared = prepare_receptor(step.receptor, Path(tmp) / "receptor.pdbqt", step.receptor_prep)
        final = out / "receptor.pdbqt"
        os.replace(prepared.pdbqt, final)
        prepared.pdbqt = final
    box = Box(tuple(step.box.center), tuple(step.box.size)) if step.box is not None else None
    box = resolve_box(box, step.ref_ligand if box is None else None, [], step.padding)
    _check_vina(final, step)
    return {"receptor": prepared, "box": box}


def _check_vina(pdbqt: Path, step) -> None:
    from vina import Vina

    try:
        Vina(sf_name=step.scoring, cpu=1, verbosity=0).set_receptor(rigid_pdbqt_filename=str(pdbqt))
    except Exception as err:  # noqa: BLE001 - Vina raises TypeError/RuntimeError on parse errors
        raise MolgenError(f"Vina cannot read the receptor: {' '.join(str(err).split())[:200]}", pdbqt) from None


def _dock(task: ChunkTask, run: RunDir, out: Path) -> dict:
    from rdkit import Chem

    from molgen.docking import dock_ligands

    step = task.step
    sdf, carried = _input_paths(task, run)
    by_id = {}
    if sdf.stat().st_size:
        for rec in sdf_records(sdf.read_text()):
            mol = Chem.MolFromMolBlock(rec, sanitize=True, removeHs=False)
            by_id[record_title(rec)] = mol
    ids = list(carried["id"])
    if not ids:
        write_text_atomic(out / MOLECULES, "")
        write_text_atomic(out / "poses.sdf", "")
        write_table(carried.assign(vina_kcal_mol=pd.Series(dtype=float),
                                   dock_status=pd.Series(dtype=str)), out / TABLE_STEM)
        return {"n_in": 0, "n_out": 0, "n_ok": 0}
    mols = []
    for i in ids:
        m = by_id.get(i)
        if m is not None:
            m.SetProp("_Name", i)
        mols.append(m)
    res = dock_ligands(task.context["receptor"], mols, step.mode, task.context["box"],
                       exhaustiveness=step.exhaustiveness, num_poses=step.num_poses, workers=task.workers,
                       seed=step.seed, cpu=1, scoring=step.scoring, progress=False)
    new = res.table.rename(columns=_DOCK_RENAME).drop(columns=["index", "name"])
    new.insert(0, "id", ids)
    for i, m in enumerate(mols):
        if m is None and not new.at[i, "dock_reason"]:
            new.at[i, "dock_reason"] = "no readable structure in the input step's SDF"
    table = _join(carried, new)
    rows = table.to_dict("records")
    best, poses = [], []
    for row, pose_list in zip(rows, res.poses):
        for rank, pose in enumerate(pose_list):
            props = {"pose_rank": rank + 1, "vina_kcal_mol": _prop(pose, "vina_kcal_mol"), "dock_mode": step.mode}
            block = Chem.MolToMolBlock(pose)
            poses.append(format_record(block, row["id"], props))
            if rank == 0:
                best.append(format_record(block, row["id"], row))
    write_text_atomic(out / MOLECULES, "".join(best))
    write_text_atomic(out / "poses.sdf", "".join(poses))
    write_table(table, out / TABLE_STEM)
    ok = int((table["dock_status"] == "ok").sum())
    return {"n_in": len(carried), "n_out": len(table), "n_ok": ok}


def _prop(mol, key: str):
    if not mol.HasProp(key):
        return None
    try:
        return round(mol.GetDoubleProp(key), 3)
    except (RuntimeError, ValueError):
        return mol.GetProp(key)


# ----------------------------------------------------------------------------------------- relax
def setup_relax(step, run: RunDir) -> dict:
    """Read the protein's heavy atoms once per step.

    Raises:
        MolgenError: an unreadable protein file.
    """
    from molgen.docking.relax import protein_heavy_atoms

    return {"protein": protein_heavy_atoms(step.protein)}


def relax_settings(step):
    from molgen.docking.relax import RelaxSettings

    return RelaxSettings(clash_distance=step.clash_distance, hydrogen_clash_distance=step.hydrogen_clash_distance,
                         cutoff=step.cutoff, force_constant=step.force_constant, max_iters=step.max_iters)


def _relax(task: ChunkTask, run: RunDir, out: Path) -> dict:
    from rdkit import Chem, rdBase

    from molgen.docking.relax import RELAX_COLUMNS, relax_in_pocket

    step = task.step
    sdf, carried = _input_paths(task, run)
    by_id = {}
    if sdf.stat().st_size:
        with rdBase.BlockLogs():
            for rec in sdf_records(sdf.read_text()):
                by_id[record_title(rec)] = Chem.MolFromMolBlock(rec, sanitize=True, removeHs=False)
    settings = relax_settings(step)
    rows, relaxed = [], {}
    for i in carried["id"]:
        mol, row = relax_in_pocket(by_id.get(i), task.context["protein"], settings)
        if i not in by_id:
            row["relax_reason"] = "no structure in the input step's SDF"
        elif by_id[i] is None and row["relax_status"] == "failed":
            row["relax_reason"] = "RDKit cannot read or sanitise the input record"
        rows.append({"id": i, **row})
        if mol is not None:
            relaxed[i] = mol
    new = pd.DataFrame(rows, columns=["id", *RELAX_COLUMNS])
    table = _join(carried, new)
    text = [format_record(Chem.MolToMolBlock(relaxed[r["id"]]), r["id"], r)
            for r in table.to_dict("records") if r["id"] in relaxed]
    write_text_atomic(out / MOLECULES, "".join(text))
    write_table(table, out / TABLE_STEM)
    return {"n_in": len(carried), "n_out": len(table), "n_ok": len(relaxed)}


_WORK = {"generate": _generate, "validate": _validate, "filter": _filter, "dock": _dock, "relax": _relax}


# ------------------------------------------------------------------------------------------ merge
def merge_chunks(step, run: RunDir, n_chunks: int) -> dict:
    """Concatenate the chunks of a step, in chunk order, into ``steps/NAME/`` and write its extras.

    Returns:
        ``{"counts": {...}, "outputs": {...}, "metrics": {...}}`` for the manifest.

    Raises:
        MolgenError: dock: every ligand failed.
    """
    out = run.step_dir(step.name)
    tables, sdf_parts, metas = [], [], []
    for k in range(n_chunks):
        d = run.chunk_dir(step.name, k)
        tables.append(read_table(d / TABLE_STEM))
        sdf_parts.append((d / MOLECULES).read_text())
        metas.append(read_json(d / CHUNK_DONE) or {})
    non_empty = [t for t in tables if len(t)]
    table = pd.concat(non_empty, ignore_index=True) if non_empty else tables[0]
    outputs = {"sdf": str(write_text_atomic(out / MOLECULES, "".join(sdf_parts))),
               "table": str(write_table(table, out / TABLE_STEM))}
    counts = {"input": int(sum(m.get("n_in", 0) for m in metas)), "output": len(table)}
    metrics: dict = {}
    if step.type == "generate":
        counts["sanitized"] = int(sum(m.get("n_sanitized", 0) for m in metas))
    elif step.type == "validate":
        metrics = _validation_metrics(step, run, table, n_chunks)
        write_json_atomic(out / "metrics.json", metrics)
        outputs["metrics"] = str(out / "metrics.json")
        counts["valid"] = int(table["valid"].sum()) if len(table) else 0
        counts["pb_valid"] = int(table["pb_valid"].sum()) if len(table) else 0
    elif step.type == "dock":
        poses = "".join((run.chunk_dir(step.name, k) / "poses.sdf").read_text() for k in range(n_chunks))
        outputs["poses"] = str(write_text_atomic(out / "poses.sdf", poses))
        metrics = _dock_summary(step, run, table)
        counts["docked"] = _write_summary(metrics, out, outputs, table, "dock_reason", "ligands failed docking")
    elif step.type == "relax":
        metrics = _relax_summary(step, table)
        counts["relaxed"] = _write_summary(metrics, out, outputs, table, "relax_reason",
                                           "molecules failed relaxation")
    return {"counts": counts, "outputs": outputs, "metrics": metrics,
            "compute_seconds": round(sum(m.get("seconds", 0.0) for m in metas), 3),
            "seeds": {str(m["chunk"]): m["seed"] for m in metas if m.get("seed") is not None}}


def _write_summary(metrics: dict, out: Path, outputs: dict, table: pd.DataFrame, reason: str, failed: str) -> int:
    """Write a dock or relax step's ``summary.json``; returns its ``num_ok``.

    Raises:
        MolgenError: every molecule of a non-empty table failed (the first reason is quoted).
    """
    write_json_atomic(out / "summary.json", metrics)
    outputs["summary"] = str(out / "summary.json")
    if len(table) and metrics["num_ok"] == 0:
        raise MolgenError(f"all {len(table)} {failed} (first reason: {table[reason].iloc[0]}); "
                          f"see {outputs['table']}")
    return metrics["num_ok"]


def _validation_metrics(step, run: RunDir, table: pd.DataFrame, n_chunks: int) -> dict:
    """metrics.json of the merged step: the same summary as ``molgen validate`` over every chunk."""
    from molgen.validation.distributions import FeatureSet
    from molgen.validation.metrics import summarize
    from molgen.validation.reference import load_reference
    from molgen.validation.runner import selected_checks

    if table.empty:
        return {"n_input": 0}
    config = validation_config(step)
    names = selected_checks(config, step.protein is not None)
    features = FeatureSet()
    for k in range(n_chunks):
        for f in read_json(run.chunk_dir(step.name, k) / "features.json") or []:
            f = dict(f)
            f.pop("id", None)
            features.add(f)
    reference = load_reference(step.reference, step.qm9_dir) if step.reference else None
    cfg = config.to_dict()
    cfg["protein"] = None if step.protein is None else str(step.protein)
    return summarize(table, names, features, reference, cfg)


def _relax_summary(step, table: pd.DataFrame) -> dict:
    ok = (table["relax_status"] == "ok") if len(table) else pd.Series([], dtype=bool)

    def median(col: str):
        vals = pd.to_numeric(table.loc[ok, col], errors="coerce").dropna() if ok.any() else []
        return round(float(pd.Series(vals).median()), 3) if len(vals) else None

    fails = table.loc[~ok, "relax_reason"].value_counts().items() if len(table) else []
    return {"method": step.method, "protein": str(step.protein), "num_molecules": len(table),
            "num_ok": int(ok.sum()), "num_failed": int((~ok).sum()),
            "median_rmsd_A": median("relax_rmsd_A"),
            "median_energy_before_kcal_mol": median("relax_energy_before_kcal_mol"),
            "median_energy_after_kcal_mol": median("relax_energy_after_kcal_mol"),
            "median_min_protein_dist_before_A": median("relax_min_protein_dist_before_A"),
            "median_min_protein_dist_after_A": median("relax_min_protein_dist_after_A"),
            "failures": {str(r): int(c) for r, c in fails}}


def _dock_summary(step, run: RunDir, table: pd.DataFrame) -> dict:
    ok = table["dock_status"] == "ok" if len(table) else pd.Series([], dtype=bool)
    best = None if not ok.any() else round(float(table.loc[ok, "vina_kcal_mol"].min()), 3)
    fails = table.loc[~ok, "dock_reason"].value_counts().items() if len(table) else []
    return {"mode": step.mode, "receptor": str(step.receptor),
            "receptor_pdbqt": str(run.step_dir(step.name) / "receptor.pdbqt"),
            "box": None if step.box is None else step.box.model_dump(mode="json"),
            "ref_ligand": None if step.ref_ligand is None else str(step.ref_ligand),
            "num_ligands": len(table), "num_ok": int(ok.sum()), "num_failed": int((~ok).sum()),
            "best_kcal_mol": best, "failures": {str(r): int(c) for r, c in fails}}
