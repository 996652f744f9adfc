"""Inputs of a validation run: molecules (SDF files, RDKit molecules, molecule graphs), the protein.

Every input molecule becomes a :class:`Record`. A record that cannot be used (a broken or empty SDF
record, no 3D conformer, an element outside the vocabulary) keeps its place with a ``reason`` and
becomes a row of the table; only a file that cannot be read at all raises :class:`MolgenError`.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rdkit import Chem, rdBase

from molgen.chem.vocab import DRUG, Vocab
from molgen.errors import MolgenError, SkipRecord, require_file


@dataclass
class Record:
    """One input molecule.

    Attributes:
        index: position in the input (0-based).
        name: record title, or ``mol_<index>``.
        mol: the molecule as given (unsanitized, hydrogens as given, one 3D conformer), or None.
        reason: why the record could not be read; None when ``mol`` is set.
    """

    index: int
    name: str
    mol: Chem.Mol | None = None
    reason: str | None = None


_NOISE = re.compile(r"^(\[\d\d:\d\d:\d\d\]\s*)?(\*+|-+|Post-condition Violation|Pre-condition Violation|"
                    r"Invariant Violation|Violation occurred.*|Failed Expression.*|Stacktrace:|\d+#.*)?$")


def _short_rdkit_message(text: str) -> str:
    """First informative line of an RDKit log capture (drops timestamps, banners and stack traces)."""
    for line in text.splitlines():
        line = line.strip()
        if line and not _NOISE.match(line):
            return re.sub(r"^\[\d\d:\d\d:\d\d\]\s*", "", line)
    return ""


def _parse_message(block: str) -> str:
    """RDKit's message for a record it cannot parse. The parser writes it to the C++ log (file
    descriptor 2, warning level, which ``CaptureErrorLog`` does not see), so the record is parsed once
    more with descriptor 2 sent to a temporary file; only failed records pay for this."""
    import os
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    # Another part of the process may have disabled RDKit's log (RDLogger.DisableLog), or sent it to
    # Python's logging (meeko and posebusters call rdBase.LogToPythonLogger on import). For this one
    # parse: the two levels the parser writes to are on, and the "rdkit" logger's records are collected
    # here instead of reaching its handlers; all of it is restored after.
    status = dict(line.split(":") for line in rdBase.LogStatus().splitlines() if ":" in line)
    records: list[str] = []
    collect = logging.Handler()
    collect.emit = lambda record: records.append(record.getMessage())
    rd_logger = logging.getLogger("rdkit")
    handlers, propagate = rd_logger.handlers[:], rd_logger.propagate
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            rd_logger.handlers, rd_logger.propagate = [collect], False
            for level in ("rdApp.warning", "rdApp.error"):
                rdBase.EnableLog(level)
            os.dup2(tmp.fileno(), 2)
            with rdBase.CaptureErrorLog() as cap:
                try:
                    Chem.MolFromMolBlock(block, sanitize=False, removeHs=False, strictParsing=True)
                except (ValueError, RuntimeError) as err:
                    return " ".join(str(err).split())
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            for level in ("rdApp.warning", "rdApp.error"):
                if status.get(level) == "disabled":
                    rdBase.DisableLog(level)
            rd_logger.handlers, rd_logger.propagate = handlers, propagate
        tmp.seek(0)
        text = tmp.read().decode("utf-8", "replace")
    return _short_rdkit_message("\n".join([text, cap.messages, *records]))


def validation_vocab(vocab: Vocab) -> Vocab:
    """The elements a model's molecules may hold once written: a heavy-atom vocabulary's molecules get
    their hydrogens back, so they are checked against its vocabulary with hydrogen."""
    from molgen.chem.vocab import VOCABS

    return VOCABS.get(vocab.name.removesuffix("_heavy"), vocab) if not vocab.explicit_hydrogens else vocab


def sdf_vocab(path: str | Path) -> tuple[Vocab, str]:
    """The vocabulary to validate an SDF with, and where it came from: the ``molgen_vocab`` property of
    its first record (written by ``molgen sample`` and workflows), else the checkpoint named in the
    summary JSON beside it, else the drug vocabulary (which covers QM9's elements).

    Raises:
        MolgenError: the file is missing or not text.
    """
    from molgen.chem.vocab import VOCABS

    path = require_file(path, "SDF file")
    head = _read_text(path)[: 1 << 20]
    m = re.search(r"^>\s*<molgen_vocab>[^\n]*\n\s*(\S+)", head.split("$$$$", 1)[0], flags=re.MULTILINE)
    if m and m.group(1) in VOCABS:
        return validation_vocab(VOCABS[m.group(1)]), f"the molgen_vocab property of {path.name}"
    stem = path.name.removesuffix(".gz").removesuffix(".sdf")
    summary = path.with_name(stem + ".json")
    try:
        import json

        ckpt = json.loads(summary.read_text()).get("checkpoint")
    except (OSError, ValueError, AttributeError):
        ckpt = None
    if isinstance(ckpt, str) and Path(ckpt).is_file():
        from molgen.training.checkpoint import read_model_file

        try:
            name = read_model_file(ckpt)[2]["name"]
        except (MolgenError, KeyError, TypeError):
            name = None
        if name in VOCABS:
            return validation_vocab(VOCABS[name]), f"the checkpoint {ckpt} named in {summary.name}"
    return DRUG, "the default (drug)"


def check_molecule(mol: Chem.Mol, vocab: Vocab) -> None:
    """Raise SkipRecord when ``mol`` cannot be validated (no atoms, no 3D conformer, bad element)."""
    if mol.GetNumAtoms() == 0:
        raise SkipRecord("empty record (no atoms)")
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 0:
            raise SkipRecord(f"unknown element {atom.GetSymbol()!r}")
        vocab.type_index(atom.GetSymbol())
    if mol.GetNumConformers() == 0:
        raise SkipRecord("molecule has no conformer")
    conf = mol.GetConformer()
    pos = conf.GetPositions()
    if not np.isfinite(pos).all():
        raise SkipRecord("non-finite coordinates")
    if not conf.Is3D() and mol.GetNumAtoms() > 3 and np.allclose(pos[:, 2], 0.0):
        raise SkipRecord("conformer is 2D (all z = 0), not 3D")


def _read_text(path: Path) -> str:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return raw.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise MolgenError(f"cannot read as a text SDF file ({type(err).__name__})", path) from None


def read_sdf_records(path: str | Path, vocab: Vocab | None = None) -> list[Record]:
    """Read every record of an SDF file (``.sdf`` or ``.sdf.gz``), keeping broken ones as reasons.

    Args:
        path: the SDF file.
        vocab: allowed elements (default: the drug vocabulary, which covers QM9's).

    Raises:
        MolgenError: the file is missing, not text, has no molfile record, or has zero records.
    """
    path = require_file(path, "SDF file")
    vocab = vocab or DRUG
    text = _read_text(path)
    chunks = re.split(r"^\$\$\$\$[ \t]*\r?$\n?", text, flags=re.MULTILINE)
    if chunks and not chunks[-1].strip():
        chunks.pop()  # the text after the last "$$$$"
    if not chunks:
        raise MolgenError("no records (empty SDF file)", path)
    if not any("M  END" in c or "V2000" in c or "V3000" in c for c in chunks):
        raise MolgenError("not an SDF file (no molfile record found)", path)
    records = []
    for i, block in enumerate(chunks):
        name = block.splitlines()[0].strip() if block.strip() else ""
        name = name or f"mol_{i}"
        if not block.strip():
            records.append(Record(i, name, reason="empty record"))
            continue
        with rdBase.BlockLogs():  # RDKit's own lines would reach the terminal; the reason is kept instead
            try:
                mol = Chem.MolFromMolBlock(block, sanitize=False, removeHs=False, strictParsing=True)
            except (ValueError, RuntimeError) as err:  # some parser errors surface as exceptions
                mol, msg = None, str(err)
            else:
                msg = ""
        if mol is None:
            msg = msg or _parse_message(block) or "unparseable"
            records.append(Record(i, name, reason=f"RDKit could not parse the record: {msg}"))
            continue
        records.append(_checked(Record(i, name, mol), vocab))
    return records


def _checked(rec: Record, vocab: Vocab) -> Record:
    try:
        check_molecule(rec.mol, vocab)
    except SkipRecord as err:
        return Record(rec.index, rec.name, None, err.reason)
    return rec


def records_from_objects(items: Iterable, vocab: Vocab | None = None) -> list[Record]:
    """Records from RDKit molecules and/or molecule graphs (PyG ``Data``; a ``Batch`` is split).

    Args:
        items: ``Chem.Mol`` (unsanitized or sanitized, one 3D conformer), PyG ``Data`` molecule graphs
            (need ``vocab``), or None (kept as a failed record).
        vocab: vocabulary of the graphs' indices; for molecules, the allowed elements (default drug).

    Raises:
        ValueError: a graph is given without a vocabulary, or an item of an unsupported type.
    """
    if hasattr(items, "to_data_list"):  # a PyG Batch
        items = items.to_data_list()
    records = []
    for i, item in enumerate(items):
        if item is None:
            records.append(Record(i, f"mol_{i}", reason="no molecule (None)"))
        elif isinstance(item, Chem.Mol):
            name = item.GetProp("_Name") if item.HasProp("_Name") and item.GetProp("_Name") else f"mol_{i}"
            records.append(_checked(Record(i, name, Chem.Mol(item)), vocab or DRUG))
        elif hasattr(item, "atom_type") and hasattr(item, "edge_index"):  # a PyG molecule graph
            from molgen.chem.convert import graph_to_mol  # imports torch; only needed for graphs

            if vocab is None:
                raise ValueError("molecule graphs need the vocabulary their indices refer to (vocab=...)")
            name = str(getattr(item, "name", "") or f"mol_{i}")
            if getattr(item, "pos", None) is None:
                records.append(Record(i, name, reason="molecule has no conformer"))
                continue
            try:
                mol = graph_to_mol(item.atom_type, item.charge, item.edge_index, item.bond_type, item.pos,
                                   vocab, sanitize=False)
            except (IndexError, KeyError) as err:
                records.append(Record(i, name, reason=f"graph does not match the vocabulary: {err}"))
                continue
            mol.SetProp("_Name", name)
            records.append(_checked(Record(i, name, mol), vocab))
        else:
            raise ValueError(f"cannot validate an object of type {type(item).__name__}")
    return records


# ----------------------------------------------------------------------------------------- protein

_WATER = {"HOH", "WAT", "DOD", "H2O"}
# Same grouping as PoseBusters' protein tools: these elements and CCD codes are inorganic cofactors.
_INORGANIC_ELEMENTS = {"Li", "Be", "Na", "Mg", "Cl", "K", "Ca", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Br", "Rb",
                       "Mo", "Cd"}
_INORGANIC_CCD = {"FES", "MOS", "PO3", "PO4", "PPK", "SO3", "SO4", "VO4"}


@dataclass
class ProteinAtoms:
    """Heavy atoms of a receptor, grouped as PoseBusters groups them.

    Attributes:
        path: the PDB file.
        pos: [P, 3] float, Å.
        symbols: [P] element symbols.
        group: [P] one of ``protein``, ``organic`` (HETATM cofactors), ``inorganic``, ``water``.
    """

    path: str
    pos: np.ndarray
    symbols: np.ndarray
    group: np.ndarray


def load_protein(path: str | Path) -> ProteinAtoms:
    """Read a receptor PDB file into its heavy atoms (hydrogens dropped).

    Raises:
        MolgenError: the file is missing or RDKit cannot read it, or it has no heavy atom.
    """
    path = require_file(path, "protein PDB file")
    with rdBase.BlockLogs():
        mol = Chem.MolFromPDBFile(str(path), sanitize=False, removeHs=False, proximityBonding=False)
    if mol is None or mol.GetNumConformers() == 0:
        raise MolgenError("RDKit cannot read this PDB file", path)
    pos = mol.GetConformer().GetPositions()
    keep, symbols, group = [], [], []
    for atom in mol.GetAtoms():
        sym = atom.GetSymbol()
        if atom.GetAtomicNum() <= 1:
            continue
        info = atom.GetPDBResidueInfo()
        res = info.GetResidueName().strip() if info is not None else ""
        het = info.GetIsHeteroAtom() if info is not None else False
        if res in _WATER:
            g = "water"
        elif sym in _INORGANIC_ELEMENTS or res in _INORGANIC_CCD:
            g = "inorganic"
        elif het:
            g = "organic"
        else:
            g = "protein"
        keep.append(atom.GetIdx())
        symbols.append(sym)
        group.append(g)
    if not keep:
        raise MolgenError("no heavy atoms in the PDB file", path)
    return ProteinAtoms(str(path), pos[keep], np.array(symbols), np.array(group))
