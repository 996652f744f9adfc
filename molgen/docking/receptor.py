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
* Residues that do not match their template (missing side-chain atoms, unusual caps) are removed.
* Alternate locations: altloc ``A`` is kept.

Everything removed is listed in :class:`PreparedReceptor` and logged. If Meeko cannot build the
receptor at all, OpenBabel's ``obabel -xr -h`` is tried in a subprocess (never imported: importing
OpenBabel next to Vina aborts the process). A ``.pdbqt`` input is used as it is.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from molgen.errors import MolgenError, require_file

log = logging.getLogger(__name__)

HIS_ALIASES = {"HSD": "HID", "HSE": "HIE", "HSP": "HIP"}
METHODS = ("auto", "meeko", "openbabel")
OBABEL_TIMEOUT_S = 600


@dataclass
class PreparedReceptor:
    """A receptor ready for Vina.

    Attributes:
        pdbqt: path of the rigid receptor PDBQT.
        source: the input file.
        method: ``meeko``, ``openbabel`` or ``pdbqt`` (input used as given).
        num_atoms: atoms in the PDBQT (heavy atoms and polar hydrogens for Meeko).
        removed_residues: ``"chain:resnum resname (why)"`` for each residue left out.
    """

    pdbqt: Path
    source: Path
    method: str
    num_atoms: int
    removed_residues: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready description."""
        return {"pdbqt": str(self.pdbqt), "source": str(self.source), "method": self.method,
                "num_atoms": self.num_atoms, "removed_residues": self.removed_residues}


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


def _prepare_with_meeko(text: str) -> tuple[str, list[str]]:
    from meeko import MoleculePreparation, PDBQTWriterLegacy, Polymer, ResidueChemTemplates

    templates = ResidueChemTemplates.create_from_defaults()
    known = set(templates.residue_templates) | set(templates.ambiguous)
    cleaned, removed = clean_pdb_text(text, known)
    if _count_atoms(cleaned) == 0:
        raise ValueError("no residue with a Meeko template")
    prep = MoleculePreparation.from_config({"compute_charges": False})  # template charges
    # Meeko reports every template mismatch at length (stdout and its logger); we log one summary
    chatter = io.StringIO()
    meeko_log = logging.getLogger("meeko")
    level = meeko_log.level
    meeko_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter):
            warnings.simplefilter("ignore")
            polymer = Polymer.from_pdb_string(cleaned, templates, prep, allow_bad_res=True, default_altloc="A")
    finally:
        meeko_log.setLevel(level)
    if chatter.getvalue().strip():
        log.debug("meeko: %s", chatter.getvalue().strip())
    for res_id, monomer in polymer.get_ignored_monomers().items():
        removed.append(f"{res_id} {monomer.input_resname} (does not match its template)")
    rigid, _flex = PDBQTWriterLegacy.write_from_polymer(polymer)
    if _count_atoms(rigid) == 0:
        raise ValueError("no residue matched its Meeko template")
    return rigid, removed


def _prepare_with_openbabel(text: str) -> tuple[str, list[str]]:
    obabel = shutil.which("obabel")
    if obabel is None:
        raise RuntimeError("obabel not found on PATH (apt-get install openbabel)")
    cleaned, removed = clean_pdb_text(text, None)
    with tempfile.TemporaryDirectory(prefix="molgen_obabel_") as tmp:
        src, dst = Path(tmp) / "receptor.pdb", Path(tmp) / "receptor.pdbqt"
        src.write_text(cleaned)
        # -xr: rigid receptor (no torsion tree); -h: add the hydrogens the PDB lacks
        try:
            subprocess.run([obabel, "-ipdb", str(src), "-opdbqt", "-O", str(dst), "-xr", "-h"],
                           check=True, timeout=OBABEL_TIMEOUT_S, capture_output=True, text=True)
        except subprocess.CalledProcessError as err:
            raise RuntimeError(f"obabel exited {err.returncode}: {(err.stderr or '').strip()[-300:]}") from None
        pdbqt = dst.read_text() if dst.exists() else ""
    if _count_atoms(pdbqt) == 0:
        raise RuntimeError("obabel wrote no atoms")
    return pdbqt, removed


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
            pdbqt, removed = fn(text)
        except Exception as err:  # noqa: BLE001 - each backend fails in its own ways; report them all
            errors.append(f"{name}: {_one_line(err)}")
            log.warning("receptor %s: %s preparation failed: %s", src.name, name, _one_line(err))
            continue
        out.write_text(pdbqt)
        if removed:
            log.warning("receptor %s: %d residue(s) left out: %s", src.name, len(removed),
                        "; ".join(removed[:10]) + (" ..." if len(removed) > 10 else ""))
        return PreparedReceptor(out, src, name, _count_atoms(pdbqt), removed)
    raise MolgenError(f"cannot prepare the receptor ({' | '.join(errors)})", src)
