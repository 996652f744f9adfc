"""User-facing errors.

A :class:`MolgenError` carries a one-line message that names the file and the problem. The CLI prints
it without a traceback and exits with code 2; library code raises it for bad user input only (a
missing file, a broken SDF/PDB/YAML, an unknown element), never for programming errors.
"""

from __future__ import annotations

from pathlib import Path


class MolgenError(Exception):
    """Bad user input: a one-line, user-readable message; the CLI exits 2 on it."""

    exit_code = 2

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        text = message if self.path is None else f"{self.path}: {message}"
        super().__init__(" ".join(text.split()))  # always one line


class SkipRecord(Exception):
    """One record of a batch cannot be used; the batch goes on and the reason is counted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def require_file(path: str | Path, what: str = "file") -> Path:
    """Return ``path`` as a resolved Path, or raise MolgenError if it is not an existing file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise MolgenError(f"{what} not found", p)
    if not p.is_file():
        raise MolgenError(f"{what} is not a regular file", p)
    return p.resolve()
