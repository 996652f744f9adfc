"""Receptor PDB -> Vina PDBQT.

Meeko's polymer preparation is used in process (the Python equivalent of ``mk_prepare_receptor.py
--read_pdb ... -a --default_altloc A``): every residue is matched to Meeko's residue templates,
hydrogens missing from the PDB are added from the template, and Gasteiger charges and AutoDock
atom types come from the templates. Policies, chosen so that a run never touches the network and
never dies on one odd residue:

* CHARMM histidine names (HSD/HSE/HSP, e.g. from MDAnalysis) are renamed to HID/HIE/HIP.
* Residues whose name has no Meeko template (waters, cofactors, buffer molecules, unknown ions) are
  removed before preparation; Meeko would otherwise try to download their definition from the PDB.
  A cofactor that lines the pocket (NADPH in 1IA1, heme in 1G9V) is therefore lost: keep it with
  ``method="openbabel"`` (``molgen dock --receptor-prep openbabel``), which types every HETATM group.
* The residue records are repaired first (:mod:`.repair`): the first alternate location is kept,
  chains told apart only by segment ID or by a restarted numbering get chain IDs of their own,
  amino acids with an incomplete side chain are kept as ALA/GLY, those without a full backbone are
  removed, and histidines are named by their ring hydrogens.
* Residues that still do not match their template get a second try with their hydrogens removed
  (Meeko adds its own: hydrogens named or placed by other programs often match no template);
  residues that fail again (unusual caps, odd chemistry) are removed.

Everything removed is listed in :class:`PreparedReceptor` (``removed_residues``; other changes in
``repairs``) and logged. If Meeko cannot build the receptor at all, OpenBabel's ``obabel -xr -h`` is
tried in a subprocess: the ``obabel`` of the ``openbabel-wheel`` package (``molgen[docking]``), else
one on PATH. It is never imported: importing OpenBabel next to Vina aborts the process. A ``.pdbqt``
input is used as it is.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import io
import logging
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from molgen.docking.repair import repair_pdb_text, strip_hydrogens
from molgen.errors import MolgenError, require_file

log = logging.getLogger(__name__)

HIS_ALIASES = {"HSD": "HID", "HSE": "HIE", "HSP": "HIP"}
METHODS = ("auto", "meeko", "openbabel")
OBABEL_TIMEOUT_S = 600
MEEKO_RETRIES = 5  # residues Meeko refuses by name (e.g. a histidine fitting two templates) retried without H


@dataclass
class PreparedReceptor:
    """A receptor ready for Vina.

    Attributes:
        pdbqt: path of the rigid receptor PDBQT.
        source: the input file.
        method: ``meeko``, ``openbabel`` or ``pdbqt`` (input used as given).
        num_atoms: atoms in the PDBQT (heavy atoms and polar hydrogens for Meeko).
        removed_residues: ``"chain:resnum resname (why)"`` for each residue left out, in the
            input's chain IDs and numbers.
        repairs: one line per other change made before preparation (chain IDs given, side chains
            truncated, altlocs chosen, hydrogens replaced).
        errors: why the methods tried before ``method`` failed.
    """

    pdbqt: Path
    source: Path
    method: str
    num_atoms: int
    removed_residues: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready description."""
        return {"pdbqt": str(self.pdbqt), "source": str(self.source), "method": self.method,
                "num_atoms": self.num_atoms, "num_removed_residues": len(self.removed_residues),
                "removed_residues": self.removed_residues, "repairs": self.repairs, "errors": self.errors}


def read_text(path: Path) -> str:
    """A text file's content, gunzipped when the name ends in ``.gz``."""
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", errors="replace") as fh:
            return fh.read()
    return path.read_text(errors="replace")


def _count_atoms(pdbqt: str) -> int:
    return sum(1 for line in pdbqt.splitlines() if line.startswith(("ATOM", "HETATM")))


def _res_key(line: str) -> str:
    return f"{line[21:22].strip()}:{line[22:26].strip()}{line[26:27].strip()}"


def clean_pdb_text(text: str, known_resnames: set[str] | None = None) -> tuple[str, list[str]]:
    """Keep ATOM/HETATM/TER lines, rename CHARMM histidines, drop residues without a template.

    Args:
        text: PDB file content.
        known_resnames: residue names to keep; None keeps every residue except waters.

    Returns:
        The cleaned PDB text and ``"chain:resnum resname (no template)"`` for each dropped residue.
    """
    kept, dropped = [], {}
    for line in text.splitlines():
        if line.startswith("TER"):
            kept.append(line)
            continue
        if not line.startswith(("ATOM", "HETATM")):
            continue
        resname = line[17:20].strip()
        if resname in HIS_ALIASES:
            resname = HIS_ALIASES[resname]
            line = f"{line[:17]}{resname:>3}{line[20:]}"
        unknown = resname in ("HOH", "WAT", "DOD") if known_resnames is None else resname not in known_resnames
        if unknown:
            dropped.setdefault(_res_key(line), f"{_res_key(line)} {resname} (no template)")
            continue
        kept.append(line)
    return "\n".join(kept + ["END"]) + "\n", list(dropped.values())


def _meeko_polymer(text: str, templates, prep):
    from meeko import Polymer

    # Meeko reports every template mismatch at length (stdout and its logger); we log one summary
    chatter = io.StringIO()
    meeko_log = logging.getLogger("meeko")
    level = meeko_log.level
    meeko_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter):
            warnings.simplefilter("ignore")
            return Polymer.from_pdb_string(text, templates, prep, allow_bad_res=True, default_altloc="A")
    finally:
        meeko_log.setLevel(level)
        if chatter.getvalue().strip():
            log.debug("meeko: %s", chatter.getvalue().strip())


def _has_hydrogens(text: str, labels: set[str]) -> bool:
    for line in text.splitlines():
        if (line.startswith(("ATOM", "HETATM")) and line[76:78].strip() in ("H", "D")
                and f"{line[21].strip()}:{line[22:26].strip()}{line[26].strip()}" in labels):
            return True
    return False


def _prepare_with_meeko(text: str) -> tuple[str, list[str], list[str]]:
    from meeko import MoleculePreparation, PDBQTWriterLegacy, ResidueChemTemplates

    templates = ResidueChemTemplates.create_from_defaults()
    known = set(templates.residue_templates) | set(templates.ambiguous)
    cleaned, removed = clean_pdb_text(text, known)
    if _count_atoms(cleaned) == 0:
        raise ValueError("no residue with a Meeko template")
    repaired, gone, repairs = repair_pdb_text(cleaned)
    removed += gone
    prep = MoleculePreparation.from_config({"compute_charges": False})  # template charges
    for _ in range(MEEKO_RETRIES + 1):
        try:
            polymer = _meeko_polymer(repaired, templates, prep)
            break
        except RuntimeError as err:  # a residue Meeko cannot decide on, named in the message
            key = re.search(r"residue_key='([^']+)'", str(err))
            if key is None or not _has_hydrogens(repaired, {key.group(1)}):
                raise
            repaired = strip_hydrogens(repaired, {key.group(1)})
            repairs.append(f"{key.group(1)} (Meeko: {' '.join(str(err).split())[:120]}): hydrogens left to Meeko")
    else:
        raise RuntimeError(f"Meeko refused {MEEKO_RETRIES + 1} residues in a row") from None
    bad = set(polymer.get_ignored_monomers())
    if bad and _has_hydrogens(repaired, bad):  # second try for these residues with Meeko's own hydrogens
        repaired = strip_hydrogens(repaired, bad)
        polymer = _meeko_polymer(repaired, templates, prep)
        rescued = bad - set(polymer.get_ignored_monomers())
        if rescued:
            repairs.append(f"{len(rescued)} residue(s) matched their template once their hydrogens were "
                           f"replaced by Meeko's: {' '.join(sorted(rescued))}")
    for res_id, monomer in polymer.get_ignored_monomers().items():
        removed.append(f"{res_id} {monomer.input_resname} (does not match its template)")
    rigid, _flex = PDBQTWriterLegacy.write_from_polymer(polymer)
    if _count_atoms(rigid) == 0:
        raise ValueError("no residue matched its Meeko template")
    return rigid, removed, repairs


def find_obabel() -> tuple[str, dict[str, str]] | None:
    """The ``obabel`` program and the environment it needs, or None.

    The ``openbabel-wheel`` package ships the program inside the package folder; it finds its plugins
    only through ``BABEL_LIBDIR``/``BABEL_DATADIR``, which its Python wrapper sets and which we set
    here (the package is located, not imported). Otherwise an ``obabel`` on PATH is used.
    """
    spec = importlib.util.find_spec("openbabel")
    if spec is not None and spec.origin:
        root = Path(spec.origin).parent
        exe = root / "bin" / "obabel"
        libs = sorted((root / "lib" / "openbabel").glob("*/"))
        if exe.is_file() and os.access(exe, os.X_OK) and libs:
            env = dict(os.environ, BABEL_LIBDIR=str(libs[-1]),
                       BABEL_DATADIR=str(root / "share" / "openbabel" / libs[-1].name))
            return str(exe), env
    found = shutil.which("obabel")
    return (found, dict(os.environ)) if found else None


def _prepare_with_openbabel(text: str) -> tuple[str, list[str], list[str]]:
    found = find_obabel()
    if found is None:
        raise RuntimeError("obabel not found: pip install openbabel-wheel (part of molgen[docking])")
    obabel, env = found
    cleaned, removed = clean_pdb_text(text, None)
    repaired, gone, repairs = repair_pdb_text(cleaned)
    removed += gone
    with tempfile.TemporaryDirectory(prefix="molgen_obabel_") as tmp:
        src, dst = Path(tmp) / "receptor.pdb", Path(tmp) / "receptor.pdbqt"
        src.write_text(repaired)
        # -xr: rigid receptor (no torsion tree); -h: add the hydrogens the PDB lacks
        try:
            subprocess.run([obabel, "-ipdb", str(src), "-opdbqt", "-O", str(dst), "-xr", "-h"],
                           check=True, timeout=OBABEL_TIMEOUT_S, capture_output=True, text=True, env=env)
        except subprocess.CalledProcessError as err:
            raise RuntimeError(f"obabel exited {err.returncode}: {(err.stderr or '').strip()[-300:]}") from None
        pdbqt = dst.read_text() if dst.exists() else ""
    if _count_atoms(pdbqt) == 0:
        raise RuntimeError("obabel wrote no atoms")
    return pdbqt, removed, repairs


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:300]}"


def prepare_receptor(path: str | Path, out_pdbqt: str | Path, method: str = "auto") -> PreparedReceptor:
    """Prepare a receptor PDB (with or without hydrogens) into a rigid Vina PDBQT.

    Args:
        path: receptor ``.pdb`` (or ``.pdbqt``, copied as is); ``.gz`` is read too.
        out_pdbqt: where to write the PDBQT; its folder is created.
        method: ``auto`` (Meeko, then OpenBabel if Meeko fails), ``meeko`` or ``openbabel``.

    Returns:
        The prepared receptor.

    Raises:
        MolgenError: missing file, no atom records, or no method could prepare it.
    """
    src = require_file(path, "receptor file")
    out = Path(out_pdbqt)
    out.parent.mkdir(parents=True, exist_ok=True)
    if method not in METHODS:
        raise MolgenError(f"receptor preparation method must be one of {METHODS}, got {method!r}")
    try:
        text = read_text(src)
    except (OSError, UnicodeError, EOFError) as err:
        raise MolgenError(f"cannot read the receptor: {err}", src) from None
    if src.name.lower().removesuffix(".gz").endswith(".pdbqt"):
        n = _count_atoms(text)
        if n == 0:
            raise MolgenError("no ATOM/HETATM records in the receptor PDBQT", src)
        if out.resolve() != src:
            out.write_text(text)
        return PreparedReceptor(out, src, "pdbqt", n)
    if _count_atoms(text) == 0:
        raise MolgenError("no ATOM/HETATM records; not a PDB file?", src)

    errors = []
    for name, fn in (("meeko", _prepare_with_meeko), ("openbabel", _prepare_with_openbabel)):
        if method not in ("auto", name):
            continue
        try:
            pdbqt, removed, repairs = fn(text)
        except Exception as err:  # noqa: BLE001 - each backend fails in its own ways; report them all
            errors.append(f"{name}: {_one_line(err)}")
            log.warning("receptor %s: %s preparation failed: %s", src.name, name, _one_line(err))
            continue
        out.write_text(pdbqt)
        if removed:
            log.warning("receptor %s: %d residue(s) left out: %s", src.name, len(removed),
                        "; ".join(removed[:10]) + (" ..." if len(removed) > 10 else ""))
        return PreparedReceptor(out, src, name, _count_atoms(pdbqt), removed, repairs, errors)
    raise MolgenError(f"cannot prepare the receptor ({' | '.join(errors)})", src)
