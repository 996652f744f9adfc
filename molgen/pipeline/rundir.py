"""The run directory: where everything of a workflow run lives, and how files get there atomically.

::

    RUN_DIR/
      workflow.yaml              the resolved workflow (absolute paths, overrides applied)
      manifest.json              per step: status, counts, timings, seeds, tool versions; warnings
      run.lock                   held (flock) by the run or merge writing here; a second one is refused
      steps/NAME/chunks/00000/   one finished chunk: molecules.sdf, table.parquet, done.json (+ extras);
                                 done.json records each file's size and SHA-256 (a mismatch: recomputed)
      steps/NAME/molecules.sdf   the step's merged output, chunks in order (+ table.parquet, extras)
      shards/I/manifest.json     what shard I of N did (``--shard I/N``)
      final.sdf, final.csv       the last molecule step's output (+ final.parquet)
      report.json, report.html   the report step

Every file is written to a temporary name and renamed into place. A chunk is built in a temporary
folder and renamed to ``chunks/KKKKK`` when complete, so a chunk folder is either whole or absent; a
process killed mid-chunk leaves only a ``.tmp-*`` folder, removed on the next run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import socket
import uuid
from pathlib import Path

import pandas as pd

from molgen.io import write_json_atomic, write_text_atomic  # noqa: F401  (re-exported)

CHUNK_DONE = "done.json"
_HOST = re.sub(r"[^A-Za-z0-9.]", "", socket.gethostname()) or "host"
MOLECULES = "molecules.sdf"
TABLE_STEM = "table"


def file_digest(path: str | Path) -> dict:
    """``{"size": bytes, "sha256": hex}`` of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return {"size": size, "sha256": h.hexdigest()}


def folder_digests(folder: str | Path, skip: tuple[str, ...] = (CHUNK_DONE,)) -> dict[str, dict]:
    """:func:`file_digest` of every plain file directly in ``folder`` except ``skip``, by name."""
    folder = Path(folder)
    return {p.name: file_digest(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name not in skip}


def digest_of(files: dict) -> str:
    """One short hash of a ``files`` mapping (what a chunk records of its input chunk)."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]


def read_json(path: str | Path) -> dict | None:
    """The JSON object in ``path``, or None if the file is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def write_table(df: pd.DataFrame, stem: str | Path) -> Path:
    """Write ``stem.parquet`` (``stem.csv`` without pyarrow) atomically; returns the path."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".parquet" if _has_pyarrow() else ".csv"
    path = stem.with_name(stem.name + suffix)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    if suffix == ".parquet":
        df.to_parquet(tmp, index=False)
    else:
        df.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def table_path(stem: str | Path) -> Path | None:
    """The existing ``stem.parquet`` or ``stem.csv``, or None."""
    stem = Path(stem)
    for suffix in (".parquet", ".csv"):
        p = stem.with_name(stem.name + suffix)
        if p.is_file():
            return p
    return None


def read_table(stem: str | Path) -> pd.DataFrame:
    """Read ``stem.parquet`` or ``stem.csv``.

    Raises:
        FileNotFoundError: neither exists.
    """
    p = table_path(stem)
    if p is None:
        raise FileNotFoundError(f"{stem}.parquet")
    return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)


# ------------------------------------------------------------------------------------------ SDF text
_SPLIT = re.compile(r"^\$\$\$\$[ \t]*\r?$\n?", flags=re.MULTILINE)


def sdf_records(text: str) -> list[str]:
    """The records of an SDF text, each ending with ``$$$$\\n``."""
    parts = _SPLIT.split(text)
    if parts and not parts[-1].strip():
        parts.pop()
    return [p + "$$$$\n" for p in parts]


def record_title(record: str) -> str:
    return record.split("\n", 1)[0].strip()


def format_record(molblock: str, title: str, props: dict) -> str:
    """An SDF record: ``molblock`` with its title line set to ``title``, then ``props`` as SD data
    (None/NaN values left out, values on one line)."""
    lines = molblock.split("\n", 1)
    block = title + "\n" + (lines[1] if len(lines) > 1 else "")
    if not block.endswith("\n"):
        block += "\n"
    out = [block]
    for key, value in props.items():
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            continue
        out.append(f">  <{key}>\n{' '.join(str(value).split())}\n\n")
    out.append("$$$$\n")
    return "".join(out)


# ----------------------------------------------------------------------------------------- layout
class RunDir:
    """Paths of a run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def config(self) -> Path:
        return self.root / "workflow.yaml"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def step_dir(self, name: str) -> Path:
        return self.root / "steps" / name

    def chunks_dir(self, name: str) -> Path:
        return self.step_dir(name) / "chunks"

    def chunk_dir(self, name: str, k: int) -> Path:
        return self.chunks_dir(name) / f"{k:05d}"

    def shard_manifest(self, index: int) -> Path:
        return self.root / "shards" / str(index) / "manifest.json"

    def final(self, suffix: str) -> Path:
        return self.root / f"final{suffix}"

    def chunk_meta(self, name: str, k: int) -> dict | None:
        """The ``done.json`` of chunk k of step ``name``, or None when the chunk is not complete."""
        return read_json(self.chunk_dir(name, k) / CHUNK_DONE)

    def chunk_damage(self, name: str, k: int, meta: dict) -> str | None:
        """Why chunk k's files do not match the sizes and SHA-256 sums its ``done.json`` recorded
        (a file missing, truncated or changed), or None when they match. A ``done.json`` written
        before molgen recorded them (no ``files``) is trusted as it is."""
        files = meta.get("files")
        if not isinstance(files, dict):
            return None
        d = self.chunk_dir(name, k)
        for fname, want in files.items():
            p = d / fname
            if not p.is_file():
                return f"{fname} is missing"
            if p.stat().st_size != want.get("size"):
                return f"{fname} has {p.stat().st_size} bytes, {want.get('size')} recorded"
            if file_digest(p)["sha256"] != want.get("sha256"):
                return f"{fname} differs from its recorded SHA-256"
        return None

    def new_chunk_tmp(self, name: str, k: int) -> Path:
        d = self.chunks_dir(name) / f".tmp-{k:05d}-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        d.mkdir(parents=True)
        return d

    def commit_chunk(self, tmp: Path, name: str, k: int, fingerprint: str | None = None,
                     input_digest: str | None = None) -> Path:
        """Rename a finished temporary chunk folder into place.

        A chunk already there with the same ``fingerprint`` and ``input_digest`` whose files are intact
        (another process finished it first) is kept and ours dropped; an outdated or damaged one is
        replaced.
        """
        final = self.chunk_dir(name, k)
        meta = read_json(final / CHUNK_DONE) if final.exists() else None
        if (meta is not None and fingerprint is not None and meta.get("fingerprint") == fingerprint
                and meta.get("input_digest") == input_digest and self.chunk_damage(name, k, meta) is None):
            shutil.rmtree(tmp, ignore_errors=True)
            return final
        if final.exists():
            trash = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:6]}")
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, final)
        return final

    def clean_tmp(self, name: str, everything: bool = False) -> int:
        """Remove temporary chunk folders left by killed processes; returns how many.

        By default only folders of this host whose process is gone are removed, so a shard running
        beside this one keeps its work in progress; ``everything`` (once all chunks are complete)
        removes them all.
        """
        n = 0
        d = self.chunks_dir(name)
        if not d.is_dir():
            return 0
        for p in d.iterdir():
            if not p.name.startswith((".tmp-", ".old-")):
                continue
            m = re.match(r"\.tmp-\d+-(.+)-(\d+)-[0-9a-f]+$", p.name)
            if not everything and m and (m.group(1) != _HOST or _pid_alive(int(m.group(2)))):
                continue
            shutil.rmtree(p, ignore_errors=True)
            n += 1
        return n


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
