"""Atomic file writes, without heavy imports (no torch, RDKit or pandas): a reader never sees half a
file, and a process killed while writing leaves at most a ``.NAME.*.tmp`` beside the target."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` (unique name, so concurrent writers do not
    collide) and rename it into place; creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_json_atomic(path: str | Path, obj) -> Path:
    """``obj`` as indented JSON (``default=str`` for paths and the like), written atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")



def _probe_write(folder: Path, name: str) -> None:
    """Create and remove a file in ``folder``; raises OSError when the folder cannot be written."""
    probe = folder / f".{name}.{uuid.uuid4().hex[:8]}.probe"
    with open(probe, "w"):
        pass
    probe.unlink()


def _check_writable(p: Path, start: Path, what: str) -> None:
    """The nearest existing folder at or above ``start`` must be a folder we can write (nothing is
    created); errors name ``p``."""
    from molgen.errors import MolgenError

    existing = next((q for q in (start, *start.parents) if q.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise MolgenError(f"cannot write the {what}: {existing} is a file, not a folder", p)
    try:
        _probe_write(existing, p.name or "out")
    except OSError as err:
        raise MolgenError(f"cannot write the {what} ({err.strerror or type(err).__name__})", p) from None


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """Check, before any work, that ``path`` can be written as a file: not an existing folder, and its
    folder (or the nearest existing folder above it) writable. Nothing is created. Returns the path.

    Raises:
        MolgenError: an existing folder, a file in the way, or a folder that cannot be written.
    """
    from molgen.errors import MolgenError

    p = Path(path).expanduser()
    if p.is_dir():
        raise MolgenError(f"{what} is an existing folder; give a file name, e.g. {p / 'molecules.sdf'}", p)
    _check_writable(p, p.parent, what)
    return p


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Check, before any work, that ``path`` is a writable folder or can be created as one (nothing is
    created). Returns the path.

    Raises:
        MolgenError: an existing file, a file in the way, or a folder that cannot be written.
    """
    from molgen.errors import MolgenError

    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise MolgenError(f"{what} is an existing file, not a folder", p)
    _check_writable(p, p, what)
    return p
