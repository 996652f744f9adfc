"""Readers, featurisation, cached datasets and the Lightning DataModule.

``prepare_dataset(kind, ...)`` is the one entry used by ``molgen data prepare``; each reader lives
in its own module and returns the summary dict it wrote to ``OUT/summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from molgen.errors import MolgenError

KINDS = ("qm9", "sdf", "moses", "complexes")


def prepare_dataset(
    kind: str,
    inputs: list[Path],
    out: Path,
    *,
    limit: int | None = None,
    skip: int = 0,
    vocab: str = "drug",  # qm9: "qm9" unless "qm9_heavy" is asked for
    cutoff: float = 8.0,
    ca_only: bool = False,
    workers: int = 0,
    seed: int = 0,
    download: bool = False,
) -> dict:
    """Prepare one dataset into ``out`` and return its summary (also written to ``out/summary.json``)."""
    from molgen.chem.vocab import get_vocab

    if kind == "qm9":
        from molgen.data.qm9 import prepare_qm9

        source = inputs[0] if inputs else None
        return prepare_qm9(out, source=source, limit=limit, seed=seed, download=download, workers=workers or None,
                           vocab=vocab if vocab.startswith("qm9") else "qm9")
    if not inputs:
        raise MolgenError(f"`molgen data prepare {kind}` needs at least one input path")
    if kind == "sdf":
        from molgen.data.sdf import prepare_sdf

        return prepare_sdf(inputs, out, vocab=get_vocab(vocab), limit=limit)
    if kind == "moses":
        from molgen.data.moses import prepare_moses

        return prepare_moses(inputs[0], out, vocab=get_vocab(vocab), limit=limit, workers=workers, seed=seed,
                             skip=skip)
    if kind == "complexes":
        from molgen.data.complexes import prepare_complexes

        return prepare_complexes(inputs[0], out, vocab=get_vocab(vocab), cutoff=cutoff, ca_only=ca_only, limit=limit)
    raise MolgenError(f"unknown dataset kind {kind!r}; choose one of {', '.join(KINDS)}")


def dataset_info(path: Path) -> dict:
    """Summary and statistics of a prepared dataset directory (a cache, or a folder of split caches)."""
    p = Path(path)
    if not p.is_dir():
        raise MolgenError("not a directory", p)
    summary = p / "summary.json"
    if not summary.is_file():
        raise MolgenError("no summary.json: not a prepared molgen dataset", p)
    info = {"summary": json.loads(summary.read_text())}
    for stats in sorted(p.glob("**/stats.json")):
        info[str(stats.parent.relative_to(p)) or "."] = json.loads(stats.read_text())
    return info
