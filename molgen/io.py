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
