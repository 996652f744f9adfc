"""SDF readers: one file for single commands, files and folders of them for dataset preparation.

Each SDF record becomes a molecule graph (:func:`molgen.chem.convert.mol_to_graph`): RDKit reads the
record without sanitising or removing hydrogens, molgen sanitises it itself (so the failure reason
is known), and hydrogens missing from the file are added with coordinates. A bad record (broken
mol block, failed sanitisation, element or charge outside the vocabulary, no 3D conformer) is
skipped with a short reason and the reading goes on; a file that cannot be opened or decompressed
raises :class:`~molgen.errors.MolgenError` naming it.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from rdkit import Chem, rdBase
from torch_geometric.data import Data
from tqdm import tqdm

from molgen.chem.convert import mol_to_graph
from molgen.chem.vocab import Vocab
from molgen.data.cache import write_cache
from molgen.data.prepare import PrepareReport
from molgen.errors import MolgenError, SkipRecord, require_file

log = logging.getLogger(__name__)

SDF_SUFFIXES = (".sdf", ".sdf.gz")


def sdf_stem(path: Path) -> str:
    """File name without ``.sdf`` / ``.sdf.gz``."""
    name = path.name
    for suffix in (".sdf.gz", ".sdf", ".gz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def find_sdf_files(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand input paths into SDF files: files as given, folders searched recursively (sorted).

    Raises:
        MolgenError: a path does not exist, or a folder holds no ``*.sdf`` / ``*.sdf.gz`` file.
    """
    files: list[Path] = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(SDF_SUFFIXES))
            if not found:
                raise MolgenError("no *.sdf or *.sdf.gz file in this folder", p)
            files += found
        else:
            files.append(require_file(p, "SDF file"))
    return files


def _rdkit_reason(messages: str) -> str:
    """First RDKit error message without timestamp, quoted text and line numbers (a stable reason)."""
    for line in messages.splitlines():
        text = re.sub(r"^\[[\d:]+\]\s*(ERROR:\s*)?", "", line).strip()
        if text and not text.startswith("moving to the beginning"):
            text = re.sub(r"'[^']*'|\"[^\"]*\"", "", text)
            return " ".join(re.sub(r"\s+on line \d+", "", text).split()).rstrip(" :")
    return "unknown error"


def iter_sdf_mols(path: str | Path) -> Iterator[tuple[str, Chem.Mol | str]]:
    """Read an SDF (or ``.sdf.gz``) record by record.

    Args:
        path: the file.

    Yields:
        ``(record id, molecule or skip reason)``; the record id is ``"<file name>:<record>"``
        (0-based). Molecules are sanitised, hydrogens kept as in the file, ``_Name`` kept.

    Raises:
        MolgenError: the file is missing or cannot be opened/decompressed.
    """
    path = require_file(path, "SDF file")
    gz = path.name.lower().endswith(".gz")
    try:
        handle = gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115 (closed by `with` below)
        if gz:
            handle.peek(1)  # a bad gzip header fails here, not inside RDKit
    except OSError as err:
        raise MolgenError(f"cannot read SDF file ({err.strerror or err})", path) from None
    with handle:
        supplier = Chem.ForwardSDMolSupplier(handle, sanitize=False, removeHs=False)
        k = 0
        while True:
            rid = f"{path.name}:{k}"
            try:
                with rdBase.CaptureErrorLog() as capture:
                    mol = next(supplier)
            except StopIteration:
                return
            except (OSError, EOFError, SystemError) as err:  # truncated or corrupt gzip stream
                cause = err.__cause__ or err.__context__ or err
                raise MolgenError(f"cannot read SDF file past record {k} ({cause})", path) from None
            k += 1
            if mol is None:
                reason = _rdkit_reason(capture.messages)
                log.debug("%s: %s", rid, capture.messages.strip())
                yield rid, f"SDF record could not be parsed: {reason}"
                continue
            if mol.GetNumAtoms() == 0:
                yield rid, "empty SDF record (no atoms)"
                continue
            try:
                with rdBase.BlockLogs():
                    Chem.SanitizeMol(mol)
            except Exception as err:  # noqa: BLE001 (RDKit's valence / kekulisation exception types)
                log.debug("%s: %s", rid, err)
                yield rid, f"RDKit sanitisation failed: {type(err).__name__}"
                continue
            yield rid, mol


def read_sdf(path: str | Path, vocab: Vocab) -> Iterator[tuple[str, Data | str]]:
    """Read an SDF file into molecule graphs, record by record.

    Args:
        path: ``.sdf`` or ``.sdf.gz`` file.
        vocab: element and charge vocabulary.

    Yields:
        ``(record id, graph or skip reason)``. ``graph.name`` is the record's title line, or
        ``"<stem>:<record>"`` when the title is empty. Hydrogens missing from the file are added
        with coordinates.

    Raises:
        MolgenError: the file is missing or cannot be read.
    """
    path = Path(path)
    stem = sdf_stem(path)
    for rid, mol in iter_sdf_mols(path):
        if isinstance(mol, str):
            yield rid, mol
            continue
        title = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
        try:
            yield rid, mol_to_graph(mol, vocab, name=title or f"{stem}:{rid.rsplit(':', 1)[1]}")
        except SkipRecord as err:
            yield rid, err.reason


def load_sdf(path: str | Path, vocab: Vocab) -> list[Data]:
    """All usable molecules of one SDF file (bad records are logged and left out).

    Raises:
        MolgenError: the file is missing, unreadable, or holds no usable molecule.
    """
    graphs, reasons = [], []
    for rid, item in read_sdf(path, vocab):
        if isinstance(item, str):
            log.warning("%s skipped: %s", rid, item)
            reasons.append(item)
        else:
            graphs.append(item)
    if not graphs:
        why = f"{len(reasons)} record(s) skipped, first: {reasons[0]}" if reasons else "no records"
        raise MolgenError(f"no usable molecule in SDF file ({why})", path)
    return graphs


def prepare_sdf(inputs: list[Path], out: Path, vocab: Vocab, limit: int | None) -> dict:
    """Prepare SDF files (or folders of them) into a molecule cache.

    Args:
        inputs: SDF files and/or folders (searched recursively for ``*.sdf``, ``*.sdf.gz``).
        out: output cache directory (shards, ``index.json``, ``stats.json``, ``summary.json``).
        vocab: element and charge vocabulary.
        limit: keep at most this many molecules (in file order), or None for all.

    Returns:
        The summary written to ``out/summary.json``.

    Raises:
        MolgenError: a missing input, an unreadable file, or no usable molecule at all.
    """
    from molgen.data.stats import write_stats

    files = find_sdf_files(inputs)
    out = Path(out)
    report = PrepareReport("sdf")
    bar = tqdm(desc="SDF", unit="mol", disable=None)

    def graphs() -> Iterator[Data]:
        for path in files:
            for rid, item in read_sdf(path, vocab):
                bar.update(1)
                if isinstance(item, str):
                    report.skip(item, rid)
                    continue
                report.keep()
                yield item
                if limit is not None and report.kept >= limit:
                    return

    try:
        write_cache(graphs(), out, vocab, meta={"dataset": "sdf", "files": [str(f) for f in files]})
    finally:
        bar.close()
    report.extra.update(vocab=vocab.name, files=len(files), inputs=[str(p) for p in inputs], limit=limit)
    if report.kept == 0:
        report.write(out)
        reasons = ", ".join(f"{r} ({n})" for r, n in report.skipped.most_common(3)) or "no records"
        raise MolgenError(
            f"no usable molecule in the SDF input: {reasons}", files[0] if len(files) == 1 else None
        )
    write_stats(out)
    summary = report.write(out)
    log.info("SDF: kept %d, skipped %d %s", report.kept, report.num_skipped, dict(report.skipped))
    return summary


__all__ = ["find_sdf_files", "iter_sdf_mols", "load_sdf", "prepare_sdf", "read_sdf", "sdf_stem"]
