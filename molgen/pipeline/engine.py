"""The workflow engine: steps in order, chunks through an executor, resume, shards, merge, manifest.

A molecule step of K chunks is complete when its K chunk folders exist with the step's current
fingerprint and its merged output is written; the manifest then says so. Re-running skips complete
steps and complete chunks (a killed run loses at most the chunks in flight). The fingerprint of a
step hashes its settings, the workflow seed, its input step's fingerprint and, for generate, the
checkpoint's SHA-256, so changing a setting recomputes that step and what follows it, nothing else.

A chunk is trusted only while its files match the sizes and SHA-256 sums of its ``done.json`` and its
input chunk is the one it was computed from; otherwise it is recomputed (and the manifest's
``warnings`` say so, as they say when a filter keeps nothing or ``final.sdf`` is empty). A run holds
``RUN_DIR/run.lock`` (``flock``; a shard: ``shards/I/run.lock``), so a second run into the same
directory is refused; SIGTERM or Ctrl-C leaves the manifest ``interrupted``, and a rerun resumes.

Sharding (``--shard I/N``): shard I computes the chunks k with k mod N = I of every molecule step
and records itself in ``shards/I/manifest.json``; ``molgen merge RUN_DIR`` checks that every chunk
exists and writes the merged outputs, the final files and the report, as a plain run would.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from molgen.errors import MolgenError
from molgen.pipeline.executors import make_executor
from molgen.pipeline.rundir import (
    MOLECULES,
    TABLE_STEM,
    RunDir,
    digest_of,
    read_json,
    read_table,
    sdf_records,
    table_path,
    write_json_atomic,
    write_text_atomic,
)
from molgen.pipeline.schema import MAP_STEPS, Workflow, load_workflow, workflow_to_dict
from molgen.pipeline.steps import (
    ChunkTask,
    chunk_seed,
    execute_chunk,
    merge_chunks,
    resolve_checkpoint,
    setup_dock,
    setup_generate,
    setup_relax,
    validation_config,
)

log = logging.getLogger(__name__)

FORMAT = "molgen-run/1"
#: Settings that change where and how fast a run goes, not its results.
EXECUTION_KEYS = ("name", "out_dir", "device", "workers", "threads", "executor")
#: Keys of a step that only its merge uses (changing them does not recompute its chunks).
MERGE_ONLY_KEYS = {"validate": ("reference", "qm9_dir")}
_PACKAGES = ("molgen", "torch", "torch_geometric", "rdkit", "numpy", "pandas", "pyarrow", "pydantic", "vina",
             "meeko", "dask", "distributed", "dask-jobqueue")
_STEP_PACKAGES = {"generate": ("molgen", "torch", "torch_geometric"), "validate": ("molgen", "rdkit"),
                  "filter": ("molgen", "pandas"), "dock": ("molgen", "vina", "meeko", "rdkit"),
                  "relax": ("molgen", "rdkit"),
                  "report": ("molgen",)}


class RunFailed(MolgenError):
    """A step failed (or merge found chunks missing): the command exits 1 with one line."""

    exit_code = 1


class RunInterrupted(MolgenError):
    """SIGTERM or Ctrl-C stopped a run; its manifest says ``interrupted`` and a rerun resumes it.
    The command exits 128 + the signal number (143 for SIGTERM, 130 for SIGINT)."""

    def __init__(self, message: str, signum: int = signal.SIGTERM) -> None:
        super().__init__(message)
        self.signum = int(signum)
        self.exit_code = 128 + self.signum


class _Terminated(BaseException):
    """Raised by the SIGTERM handler (a BaseException, so no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _sigterm_raises():
    """While running: SIGTERM raises :class:`_Terminated` in the main thread (as Ctrl-C raises
    KeyboardInterrupt), so the run can say ``interrupted`` before it exits. Elsewhere: nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    main_pid = os.getpid()

    def handler(signum, frame):
        if os.getpid() != main_pid:  # a forked worker (validation, docking pools): die as by default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        raise _Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


LOCK_NAME = "run.lock"


@contextmanager
def run_lock(folder: Path, what: str = "run"):
    """Hold an exclusive ``flock`` on ``folder/run.lock`` while a run or merge writes into ``folder``;
    the kernel drops it when the process ends, however it ends, so a killed run leaves no stale lock.

    Raises:
        MolgenError: another process holds it (its pid, host, start and command are named).
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): no lock
        yield
        return
    path = folder / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise MolgenError(f"cannot create the lock file ({err.strerror})", path) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another process"
            raise MolgenError(f"another molgen {what} is writing into this run directory ({holder}); wait for "
                              "it to finish, or choose another --out", folder) from None
        except OSError as err:  # a filesystem without locks: go on unlocked, but say so
            log.warning("%s: cannot lock (%s); make sure no other run writes here", path, err.strerror)
        else:
            os.ftruncate(fd, 0)
            os.write(fd, (f"pid {os.getpid()} on {platform.node()}, started "
                          f"{time.strftime('%Y-%m-%dT%H:%M:%S')}: {' '.join(sys.argv)}\n").encode())
        yield
    finally:
        os.close(fd)  # closing drops the lock


# ------------------------------------------------------------------------------------------ helpers
def tool_versions(packages=_PACKAGES) -> dict[str, str | None]:
    """Installed versions (None where a package is absent), without importing anything."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``I/N`` -> (I, N); default from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT (minus
    SLURM_ARRAY_TASK_MIN, so ``--array=1-8`` works too); None when neither is given.

    Raises:
        MolgenError: not of the form I/N with 0 <= I < N.
    """
    if text is None:
        tid, count = os.environ.get("SLURM_ARRAY_TASK_ID"), os.environ.get("SLURM_ARRAY_TASK_COUNT")
        if tid is None or count is None:
            return None
        text = f"{int(tid) - int(os.environ.get('SLURM_ARRAY_TASK_MIN', '0'))}/{count}"
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise MolgenError(f"--shard must be I/N (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise MolgenError(f"--shard I/N needs 0 <= I < N, got {text!r}")
    return i, n


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fingerprints(wf: Workflow) -> dict[str, dict[str, str]]:
    """Per step: ``chunk`` (what its chunks depend on) and ``step`` (also what its merge uses)."""
    out: dict[str, dict[str, str]] = {}
    for s in wf.steps:
        d = s.model_dump(mode="json", exclude={"name"})
        if s.type == "report":
            fp = _hash({"after": [out[x.name]["step"] for x in wf.steps if x.name in out]})
            out[s.name] = {"chunk": fp, "step": fp}
            continue
        merge_only = {k: d.pop(k) for k in MERGE_ONLY_KEYS.get(s.type, ()) if k in d}
        if s.type == "generate":
            if d.get("guidance") is None:  # off: the fingerprint of runs made before the key existed
                d.pop("guidance", None)
            elif d["guidance"].get("refine") is True:  # the default: as before the setting existed
                d["guidance"].pop("refine")
            if d.get("sizes") == "pocket":  # the default: as before the key existed
                d.pop("sizes")
            d["seed"] = s.seed if s.seed is not None else wf.seed
            ckpt = resolve_checkpoint(s)
            if not ckpt.is_file():
                raise MolgenError(f"steps.{s.name}.checkpoint: file not found", ckpt)
            d["checkpoint_sha256"] = _sha256(ckpt)
            d["input_sha256"] = {str(p): _sha256(p) for p in s.input_files()}
        else:
            d["input"] = out[s.input]["chunk"]
        chunk = _hash(d)
        out[s.name] = {"chunk": chunk, "step": _hash({"chunk": chunk, **merge_only}) if merge_only else chunk}
    return out


def _diff(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]


def _results_view(cfg: dict) -> dict:
    view = {k: v for k, v in cfg.items() if k not in EXECUTION_KEYS}
    view["steps"] = {s["name"]: s for s in cfg.get("steps", [])}
    return view


def _create(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MolgenError(f"cannot create the run directory ({err.strerror})", folder) from None


def _prepare_run_dir(run: RunDir, wf: Workflow, resume: bool) -> None:
    """Create the run directory and write the resolved workflow; refuse to mix different settings.

    Raises:
        MolgenError: the folder holds a run with other settings and ``resume`` is off.
    """
    _create(run.root)
    new = workflow_to_dict(wf)
    if run.config.is_file() and not resume:
        old = yaml.safe_load(run.config.read_text()) or {}
        changes = _diff(_results_view(old), _results_view(new))
        if changes:
            shown = "; ".join(changes[:4]) + (f"; ... ({len(changes)} changes)" if len(changes) > 4 else "")
            raise MolgenError(f"holds a run with other settings ({shown}); pass --resume to continue it with the "
                              "new settings (changed steps are recomputed) or choose another --out", run.root)
    write_text_atomic(run.config, "# molgen resolved workflow (absolute paths, overrides applied)\n"
                      + yaml.safe_dump(new, sort_keys=False))


# ------------------------------------------------------------------------------------------ result
@dataclass
class RunResult:
    """What a run or a merge did.

    Attributes:
        run_dir: the run directory.
        status: ``complete``, ``failed`` or, for a shard, ``shard complete``.
        steps: one dict per step: name, type, status, chunks, computed, input, output, seconds, note.
        error: the first failure, one line (None when nothing failed).
        shard: (I, N) or None.
        final: paths of the final outputs (empty for a shard or a failed run).
        warnings: what went through but deserves a look, one line each (also ``manifest["warnings"]``):
            a filter that kept nothing, an empty ``final.sdf``, damaged chunks that were recomputed.
    """

    run_dir: Path
    status: str
    steps: list[dict] = field(default_factory=list)
    error: str | None = None
    shard: tuple[int, int] | None = None
    final: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def _rebase(obj, old: str, new: str):
    """``obj`` with every string path under ``old`` moved under ``new`` (a copied run directory)."""
    if isinstance(obj, dict):
        return {k: _rebase(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rebase(v, old, new) for v in obj]
    if isinstance(obj, str) and (obj == old or obj.startswith(old.rstrip("/") + "/")):
        return new + obj[len(old):]
    return obj


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if isinstance(err, MolgenError) else f"{type(err).__name__}: {text}"


def _note(entry: dict) -> str:
    m, c = entry.get("metrics") or {}, entry.get("counts") or {}
    t = entry.get("type")
    if t == "generate" and "sanitized" in c:
        return f"sanitized {c['sanitized']}/{c.get('output', 0)}"
    if t == "validate" and m:
        parts = [f"{k} {m[k]:.2f}" for k in ("valid", "mol_stable", "pb_valid", "unique", "novel")
                 if isinstance(m.get(k), (int, float))]
        return ", ".join(parts)
    if t == "relax" and m:
        rmsd = m.get("median_rmsd_A")
        return f"ok {m.get('num_ok')}/{m.get('num_molecules')}" + (f", median rmsd {rmsd:.2f} Å" if rmsd is not None else "")
    if t == "dock" and m:
        best = m.get("best_kcal_mol")
        return f"ok {m.get('num_ok')}/{m.get('num_ligands')}" + (f", best {best:.2f} kcal/mol" if best is not None else "")
    return ""


# ------------------------------------------------------------------------------------------ engine
class _Engine:
    def __init__(self, wf: Workflow, shard: tuple[int, int] | None, executor: str | None, address: str | None,
                 progress: bool, merge_only: bool, origin: dict) -> None:
        self.wf = wf
        self.run = RunDir(wf.out_dir)
        self.shard = shard
        self.executor_name = executor
        self.address = address
        self.progress = progress
        self.merge_only = merge_only
        self.origin = origin
        self.fps = fingerprints(wf)
        self.path = self.run.shard_manifest(shard[0]) if shard else self.run.manifest
        old = read_json(self.path) or {}
        self.moved = bool(old.get("run_dir")) and old["run_dir"] != str(self.run.root)
        if self.moved:  # a copied or moved run directory: its recorded paths follow it
            old = _rebase(old, old["run_dir"], str(self.run.root))
        self.damaged: dict[str, dict[int, str]] = {}
        now = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.manifest = {
            "format": FORMAT, "name": wf.name, "run_dir": str(self.run.root), "status": "running",
            "created": old.get("created", now), "updated": now, "seed": wf.seed,
            "shard": None if shard is None else {"index": shard[0], "count": shard[1]},
            "executor": None, "host": platform.node(), "command": " ".join(sys.argv),
            "tool_versions": tool_versions(), "final": old.get("final", {}), "warnings": [],
            "steps": {s.name: old.get("steps", {}).get(s.name, {}) for s in wf.steps},
        }

    # manifest ----------------------------------------------------------------------------------
    def save(self) -> None:
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.manifest["warnings"] = self.warnings()
        write_json_atomic(self.path, self.manifest)

    def warnings(self) -> list[str]:
        """One line per thing that went through but deserves a look (``manifest["warnings"]``)."""
        out = []
        for name, chunks in self.damaged.items():
            ks = ", ".join(map(str, sorted(chunks)))
            out.append(f"step {name!r}: chunk{'s' * (len(chunks) > 1)} {ks} did not match the sizes and SHA-256 "
                       f"sums in done.json ({next(iter(chunks.values()))}) and {'were' if len(chunks) > 1 else 'was'} "
                       "recomputed")
        for s in self.wf.steps:
            entry = self.manifest["steps"].get(s.name) or {}
            c = entry.get("counts") or {}
            if (s.type == "filter" and entry.get("status") == "complete" and c.get("input")
                    and c.get("output") == 0):
                out.append(f"step {s.name!r} kept none of its {c['input']} molecules (where: {s.where})")
        final = self.manifest.get("final") or {}
        if final.get("num_molecules") == 0:
            out.append(f"final.sdf is empty: no molecule came through step {final.get('step')!r}")
        return out

    def mine(self, n: int) -> list[int]:
        i, count = self.shard or (0, 1)
        return [k for k in range(n) if k % count == i]

    def chunk_complete(self, name: str, k: int) -> bool:
        """Chunk k of step ``name`` is there with the current fingerprint, its files match the sizes and
        SHA-256 sums of its ``done.json``, and its input chunk is the one it was computed from."""
        meta = self.run.chunk_meta(name, k)
        if meta is None or meta.get("fingerprint") != self.fps[name]["chunk"]:
            return False
        damage = self.run.chunk_damage(name, k, meta)
        if damage is not None:
            if k not in self.damaged.setdefault(name, {}):
                log.warning("step %s, chunk %d is damaged (%s): it is recomputed", name, k, damage)
            self.damaged[name][k] = damage
            return False
        s = self.wf.step(name)
        if s.type != "generate" and meta.get("input_digest") is not None:
            source = (self.run.chunk_meta(s.input, k) or {}).get("files")
            if source is not None and digest_of(source) != meta["input_digest"]:
                return False  # its input chunk was recomputed with other contents
        return True

    def missing_chunks(self) -> dict[str, list[int]]:
        out = {}
        for s in self.wf.steps:
            if s.type in MAP_STEPS:
                miss = [k for k in range(self.wf.num_chunks(s.name)) if not self.chunk_complete(s.name, k)]
                if miss:
                    out[s.name] = miss
        return out

    def step_is_done(self, s, entry: dict) -> bool:
        if entry.get("status") != "complete" or entry.get("fingerprint") != self.fps[s.name]["step"]:
            return False
        if s.type == "report":
            return (self.run.root / "report.json").is_file()
        d = self.run.step_dir(s.name)
        if not (d / MOLECULES).is_file() or table_path(d / TABLE_STEM) is None:
            return False
        return all(self.chunk_complete(s.name, k) for k in range(self.wf.num_chunks(s.name)))

    # steps -------------------------------------------------------------------------------------
    def tasks(self, s, todo: list[int], context: dict, in_process: bool) -> list[ChunkTask]:
        out = []
        for k in todo:
            t = ChunkTask(str(self.run.root), s, k, self.fps[s.name]["chunk"], device=self.wf.device,
                          workers=self.wf.workers if in_process else 0, threads=self.wf.threads,
                          context=context, origin=self.origin)
            if s.type == "generate":
                seed = s.seed if s.seed is not None else self.wf.seed
                t.seed = chunk_seed(seed, k)
                t.start = k * s.chunk_size
                t.count = min(s.chunk_size, s.num - t.start)
            else:
                t.input_step = s.input
            out.append(t)
        return out

    def run_map_step(self, s, entry: dict, ex) -> None:
        n = self.wf.num_chunks(s.name)
        mine = self.mine(n)
        self.run.clean_tmp(s.name)
        done = [k for k in mine if self.chunk_complete(s.name, k)]
        todo = [k for k in mine if k not in set(done)]
        log.info("step %s: %d chunks%s, %d complete, %d to compute", s.name, n,
                 f" ({len(mine)} in this shard)" if self.shard else "", len(done), len(todo))
        entry["chunks"] = {"total": n, "this_shard" if self.shard else "mine": len(mine), "complete": len(done),
                           "computed": 0}
        if self.damaged.get(s.name):
            entry["chunks"]["damaged"] = {str(k): why for k, why in sorted(self.damaged[s.name].items())}
        if todo:
            if self.merge_only:
                raise RunFailed(f"chunks {todo} of step {s.name!r} are missing")
            context = (setup_dock(s, self.run) if s.type == "dock"
                       else setup_generate(s, self.run, self.wf.device) if s.type == "generate"
                       else setup_relax(s, self.run) if s.type == "relax" else {})
            tasks = self.tasks(s, todo, context, ex.in_process)
            with tqdm(total=len(mine), initial=len(done), desc=s.name, unit="chunk", disable=not self.progress,
                      leave=True) as bar:
                for meta in ex.map(execute_chunk, tasks, bar):
                    entry["chunks"]["computed"] += 1
                    entry["chunks"]["complete"] += 1
                    bar.set_postfix_str(f"{meta.get('n_out', 0)} mol in chunk {meta['chunk']}", refresh=False)
        if s.type == "generate":
            seed = s.seed if s.seed is not None else self.wf.seed
            entry["seeds"] = {"seed": seed, "chunks": {str(k): chunk_seed(seed, k) for k in range(n)}}
        elif s.type == "validate":
            entry["seeds"] = {"etkdg": validation_config(s).seed}
        elif s.type == "dock":
            entry["seeds"] = {"vina": s.seed}
        if self.shard is None:
            merged = merge_chunks(s, self.run, n)
            entry.update(counts=merged["counts"], outputs=merged["outputs"], metrics=merged["metrics"],
                         compute_seconds=merged["compute_seconds"])
            self.run.clean_tmp(s.name, everything=True)
        else:
            metas = [self.run.chunk_meta(s.name, k) or {} for k in mine]
            entry["counts"] = {"input": sum(m.get("n_in", 0) for m in metas),
                               "output": sum(m.get("n_out", 0) for m in metas)}

    def run_report(self, s, entry: dict) -> None:
        from molgen.pipeline.report import write_report

        self.save()
        html = write_report(self.run.root)
        entry["outputs"] = {"json": str(self.run.root / "report.json"), "html": str(html)}

    def write_final(self, last) -> dict:
        """``final.sdf`` + ``final.csv`` (+ ``final.parquet``) from the last molecule step; also how many
        molecules ``final.sdf`` holds (``num_molecules``; 0 gives a warning)."""
        d = self.run.step_dir(last.name)
        out: dict = {"step": last.name}
        text = (d / MOLECULES).read_text()
        out["sdf"] = str(write_text_atomic(self.run.final(".sdf"), text))
        out["num_molecules"] = len(sdf_records(text))
        table = read_table(d / TABLE_STEM)
        out["csv"] = str(write_text_atomic(self.run.final(".csv"), table.to_csv(index=False)))
        src = table_path(d / TABLE_STEM)
        if src is not None and src.suffix == ".parquet":
            dst = self.run.final(".parquet")
            tmp = dst.with_name(f".{dst.name}.tmp")  # binary: copied through a temporary name
            tmp.write_bytes(src.read_bytes())
            os.replace(tmp, dst)
            out["parquet"] = str(dst)
        return out

    def drop_final(self) -> None:
        for suffix in (".sdf", ".csv", ".parquet"):
            self.run.final(suffix).unlink(missing_ok=True)
        self.manifest["final"] = {}

    def execute(self) -> RunResult:
        """Run the steps; SIGTERM or Ctrl-C marks the manifest ``interrupted`` and raises RunInterrupted."""
        self.current: str | None = None
        try:
            with _sigterm_raises():
                return self._execute()
        except (_Terminated, KeyboardInterrupt) as err:
            signum = err.signum if isinstance(err, _Terminated) else signal.SIGINT
            name = signal.Signals(signum).name
            where = ""
            if self.current is not None:
                entry = self.manifest["steps"][self.current]
                entry.update(status="interrupted", error=f"interrupted by {name}")
                ch = entry.get("chunks") or {}
                where = f" during step {self.current!r}" + (
                    f" ({ch.get('complete', 0)} of {ch.get('total')} chunks complete)" if ch.get("total") else "")
            self.manifest["status"] = "interrupted"
            self.save()
            again = f"molgen run {self.run.root}" + (f" --shard {self.shard[0]}/{self.shard[1]}" if self.shard else "")
            raise RunInterrupted(f"interrupted by {name}{where}; complete chunks are kept: `{again}` resumes",
                                 signum) from None

    def _execute(self) -> RunResult:
        result = RunResult(self.run.root, "running", shard=self.shard)
        map_steps = [s for s in self.wf.steps if s.type in MAP_STEPS]
        last_map = map_steps[-1] if map_steps else None
        final_needed = not self.run.final(".sdf").is_file() or not self.run.final(".csv").is_file()
        failed = None
        if self.merge_only:
            shards = sorted(self.run.root.glob("shards/*/manifest.json"))
            self.manifest["shards"] = {p.parent.name: (read_json(p) or {}).get("status") for p in shards}
        with make_executor(self.wf.executor, self.executor_name, self.address) as ex:
            self.manifest["executor"] = ex.describe()
            self.save()
            for s in self.wf.steps:
                entry = self.manifest["steps"][s.name]
                row = {"name": s.name, "type": s.type, "status": "", "chunks": "", "computed": 0,
                       "input": None, "output": None, "seconds": 0.0, "note": ""}
                result.steps.append(row)
                if failed is not None:
                    entry.update(status="not run", type=s.type)
                    row["status"] = "not run"
                    continue
                if s.type == "report" and self.shard is not None:
                    row["status"] = "after merge"
                    entry.update(status="after merge", type=s.type)
                    continue
                if self.shard is None and self.step_is_done(s, entry):
                    row.update(status="cached", note=_note(entry), **self._row_counts(entry))
                    if s is last_map and (final_needed or "num_molecules" not in self.manifest["final"]):
                        self.manifest["final"] = self.write_final(s)  # dropped by an earlier step, or older
                        self.save()
                    continue
                if s.type in MAP_STEPS and self.shard is None and self.manifest["final"]:
                    self.drop_final()  # outdated from here on; written again when the last step completes
                    final_needed = True
                t0, started = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S")
                self.current = s.name
                entry.clear()
                entry.update(type=s.type, status="running", fingerprint=self.fps[s.name]["step"], started=started,
                             tool_versions={p: self.manifest["tool_versions"].get(p) for p in _STEP_PACKAGES[s.type]})
                self.save()
                try:
                    if s.type == "report":
                        self.run_report(s, entry)
                    else:
                        self.run_map_step(s, entry, ex)
                    status = "complete" if self.shard is None else "shard complete"
                    entry.update(status=status, error=None)
                except Exception as err:  # any failure fails the step, with one line
                    failed = f"step {s.name!r} failed: {_one_line(err)}"
                    entry.update(status="failed", error=_one_line(err))
                    if not isinstance(err, MolgenError):
                        self.run.step_dir(s.name).mkdir(parents=True, exist_ok=True)
                        write_text_atomic(self.run.step_dir(s.name) / "error.txt", traceback.format_exc())
                        log.debug("step %s failed", s.name, exc_info=True)
                entry["seconds"] = round(time.perf_counter() - t0, 3)
                entry["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
                if s is last_map and self.shard is None and failed is None and final_needed:
                    self.manifest["final"] = self.write_final(s)
                self.save()
                self.current = None
                chunks = entry.get("chunks") or {}
                row.update(status=entry["status"], computed=chunks.get("computed", 0), seconds=entry["seconds"],
                           note=entry.get("error") or _note(entry), **self._row_counts(entry))
        if failed is not None:
            status = "failed"
        else:
            status = "shard complete" if self.shard else "complete"
        self.manifest["status"] = status
        self.save()
        result.status, result.error = status, failed
        result.warnings = list(self.manifest["warnings"])  # printed with the summary table
        result.final = {} if (self.shard or failed) else {k: v for k, v in self.manifest["final"].items()}
        computed = any(r["status"] != "cached" for r in result.steps) or self.moved
        if self.shard is None and failed is None and computed and any(s.type == "report" for s in self.wf.steps):
            from molgen.pipeline.report import write_report  # the report shows the final status too

            write_report(self.run.root)
        return result

    @staticmethod
    def _row_counts(entry: dict) -> dict:
        c, ch = entry.get("counts") or {}, entry.get("chunks") or {}
        chunks = f"{ch.get('complete', 0)}/{ch.get('total', 0)}" if ch else ""
        return {"input": c.get("input"), "output": c.get("output"), "chunks": chunks}


def run_workflow(
    wf: Workflow,
    shard: tuple[int, int] | None = None,
    executor: str | None = None,
    address: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> RunResult:
    """Run a validated workflow into ``wf.out_dir``.

    Args:
        wf: the workflow (see :func:`molgen.pipeline.load_workflow`).
        shard: (I, N): compute only the chunks k with k mod N = I and leave the merge to
            :func:`merge_run`; None runs everything.
        executor: ``local`` or ``dask`` (default: ``wf.executor.name``).
        address: Dask scheduler address (default: ``wf.executor.address``).
        resume: continue a run directory whose stored settings differ (changed steps are recomputed).
        progress: progress bars.

    Returns:
        The :class:`RunResult` (``result.error`` says which step failed, if one did).

    Raises:
        MolgenError: the run directory holds a run with other settings (without ``resume``), or another
            run (the same shard, for a shard) is writing into it.
        RunInterrupted: SIGTERM or Ctrl-C (the manifest then says ``interrupted``).
    """
    if shard is not None and shard[1] == 1:
        shard = None
    run = RunDir(wf.out_dir)
    lock_dir = run.root if shard is None else run.shard_manifest(shard[0]).parent  # shards run side by side
    _create(lock_dir)
    with run_lock(lock_dir, "run" if shard is None else f"run of shard {shard[0]}/{shard[1]}"):
        _prepare_run_dir(run, wf, resume)
        origin = {"executor": executor or wf.executor.name}
        if shard is not None:
            origin["shard"] = f"{shard[0]}/{shard[1]}"
        return _Engine(wf, shard, executor, address, progress, merge_only=False, origin=origin).execute()


def load_run(run_dir: str | Path) -> Workflow:
    """The resolved workflow of a run directory.

    Raises:
        MolgenError: not a run directory.
    """
    run = RunDir(Path(run_dir).expanduser().resolve())
    if not run.config.is_file():
        raise MolgenError("not a run directory (no workflow.yaml)", run.root)
    return load_workflow(run.config, out_dir=run.root, check_files=False)


def merge_run(run_dir: str | Path, progress: bool = True) -> RunResult:
    """Combine the chunks written by the shards of a run: merged step outputs, final files, report.

    Raises:
        MolgenError: not a run directory.
        RunFailed: chunks are missing (every step's missing chunks are listed).
    """
    wf = load_run(run_dir)
    with run_lock(Path(wf.out_dir), "run or merge"):
        engine = _Engine(wf, None, "local", None, progress, merge_only=True, origin={"executor": "merge"})
        missing = engine.missing_chunks()
        if missing:
            def fmt(ks: list[int]) -> str:
                return ", ".join(map(str, ks[:10])) + (f", ... ({len(ks)} in all)" if len(ks) > 10 else "")

            parts = [f"{name}: chunks {fmt(ks)} of {wf.num_chunks(name)}" for name, ks in missing.items()]
            damaged = sum(len(v) for v in engine.damaged.values())
            more = f"; {damaged} of them damaged (files do not match done.json)" if damaged else ""
            raise RunFailed(f"cannot merge {engine.run.root}: missing {'; '.join(parts)}{more} (run the shards "
                            "that own them: chunk k belongs to shard k mod N)")
        return engine.execute()
