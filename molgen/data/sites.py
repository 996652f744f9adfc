"""Binding sites from several complex sets, one complexes index, and a split by protein.

A *site* is one binding site: a protein file and the ligands posed in it. Sources (the shared data
archives, ``../shared/data/PROVENANCE.md``; each is read from its extracted folder):

* ``fep`` (B3, Schrödinger FEP benchmark): one site per protein file (92); the target protein is
  ``subset_metadata.csv``'s ``Protein`` column, the PDB ID its ``Reference PDB``.
* ``crystal`` (B2, the 12 PoseBusters example complexes): one site per complex.
* ``pb2`` (B5, PoseBusters v2, 252 complexes): one site per PDB file. The receptor (every other
  record) and the ligand (the first residue named by the file's CCD code) are written into
  ``files_dir``; the ligand gets its bond orders, charges and hydrogens from its chemical
  component (:mod:`molgen.data.ccd`). A ligand that cannot be made is a failure with a one-line
  reason, and the batch goes on.
* ``openff`` (B6, OpenFF protein–ligand benchmark): one site per target; ``01_protein/crd/protein.pdb``
  with its ``cofactor.sdf`` (when there is one) merged in as hetero residues, written into
  ``files_dir`` as ``<target>_protein.pdb``; the ligands are ``02_ligands/ligands.sdf``.

Same protein (:func:`same_protein`): two sites share a PDB ID, or a target name (letters and
digits, lower case), or a protein chain of one is at least ``identity`` identical to a chain of
the other over at least ``coverage`` of the shorter chain (local alignment, BLOSUM62; chains of at
least :data:`MIN_CHAIN` residues, read from the CA atoms of the structure).

Split (:func:`split_sites`): the held-out seeds (every crystal complex and the FEP sites that
:func:`fep_held_out` draws: the draw that made the shipped pocket model's split, unchanged) are
``test``; an OpenFF site that is the same protein as a ``test`` site is ``test`` too (repeated
until nothing changes); then any other site that is the same protein as a ``test`` site is
``excluded`` (neither side: a PoseBusters v2 complex, or an FEP site that the draw put in training).
Everything else is ``train``. So no ``train`` site is the same protein as any ``test`` site.
"""

from __future__ import annotations

import csv
import json
import logging
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from molgen.data.pocket import AMINO_ACIDS, RESIDUE_ALIASES
from molgen.errors import MolgenError, SkipRecord

log = logging.getLogger(__name__)

#: Protein chains shorter than this (residues with a CA) are not compared (peptides, caps).
MIN_CHAIN = 30
#: FEP targets held out whatever the draw: a crystal complex (2BM2, beta-tryptase) shares the target.
FORCED_TEST_TARGETS = ("beta-tryptase",)
SOURCES = ("fep", "crystal", "pb2", "openff")
INDEX_COLUMNS = ("protein", "ligand", "record", "name")
_ONE = dict(zip(AMINO_ACIDS, "ARNDCQEGHILKMFPSTWYV"))
_KMER = 5


@dataclass
class Site:
    """One binding site.

    Attributes:
        source: one of :data:`SOURCES`.
        site: unique id, ``"<source>:<name>"``.
        target: protein name label (lower case) or ``""``.
        pdb_ids: PDB IDs (upper case) of the structure.
        sequences: protein chains (one-letter codes, ``X`` for unknown residues).
        rows: index rows (``protein, ligand, record, name``; absolute paths).
    """

    source: str
    site: str
    target: str = ""
    pdb_ids: frozenset[str] = frozenset()
    sequences: tuple[str, ...] = ()
    rows: list[dict] = field(default_factory=list)


def chain_sequences(lines: Iterable[str], min_length: int = MIN_CHAIN) -> tuple[str, ...]:
    """Protein chains of PDB records, in order of first appearance, from the CA atoms.

    Residues are one-letter codes (protonation names and MSE as their amino acid, ``X`` for any
    other residue with a carbon CA); the first alternate location of each residue counts.
    """
    chains: dict[str, dict[str, str]] = {}
    for ln in lines:
        if not ln.startswith(("ATOM", "HETATM")) or ln[12:16].strip() != "CA":
            continue
        if len(ln) >= 78 and ln[76:78].strip() not in ("", "C"):
            continue  # a calcium ion
        res = ln[17:20].strip()
        res = RESIDUE_ALIASES.get(res, res)
        if ln.startswith("HETATM") and res not in _ONE:
            continue  # ligands, ions
        chains.setdefault(ln[21], {}).setdefault(ln[22:27], _ONE.get(res, "X"))
    seqs = ("".join(c.values()) for c in chains.values())
    return tuple(s for s in seqs if len(s) >= min_length)


def _norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _kmers(seq: str) -> set[str]:
    return {seq[i : i + _KMER] for i in range(len(seq) - _KMER + 1)}


_ALIGNER = None


def _aligner():
    global _ALIGNER
    if _ALIGNER is None:
        from Bio import Align
        from Bio.Align import substitution_matrices

        _ALIGNER = Align.PairwiseAligner(mode="local", open_gap_score=-10, extend_gap_score=-0.5)
        _ALIGNER.substitution_matrix = substitution_matrices.load("BLOSUM62")
    return _ALIGNER


def chain_identity(a: str, b: str) -> tuple[float, float]:
    """``(identity, coverage)`` of the best local alignment of two chains: identical columns over
    aligned columns, and aligned columns over the shorter chain's length."""
    aln = _aligner().align(a.replace("X", "A"), b.replace("X", "A"))[0]
    counts = aln.counts()
    aligned = counts.identities + counts.mismatches
    if aligned == 0:
        return 0.0, 0.0
    return counts.identities / aligned, aligned / min(len(a), len(b))


class _Matcher:
    """:func:`same_protein` with the k-mer sets and chain pairs cached across calls."""

    def __init__(self, identity: float, coverage: float) -> None:
        self.identity, self.coverage = identity, coverage
        self._kmers: dict[str, set[str]] = {}
        self._pairs: dict[tuple[str, str], tuple[float, float]] = {}

    def chains(self, a: str, b: str) -> tuple[float, float] | None:
        ka = self._kmers.setdefault(a, _kmers(a))
        kb = self._kmers.setdefault(b, _kmers(b))
        # a chain pair at >= 90 % identity over half the shorter chain shares many exact 5-mers
        if len(ka & kb) < max(3, int(0.05 * min(len(ka), len(kb)))):
            return None
        key = (a, b) if a <= b else (b, a)
        if key not in self._pairs:
            self._pairs[key] = chain_identity(a, b)
        return self._pairs[key]

    def __call__(self, x: Site, y: Site) -> str | None:
        shared = x.pdb_ids & y.pdb_ids
        if shared:
            return f"PDB {min(shared)}"
        if x.target and _norm_name(x.target) == _norm_name(y.target):
            return f"target {x.target}"
        for a in x.sequences:
            for b in y.sequences:
                got = self.chains(a, b)
                if got and got[0] >= self.identity and got[1] >= self.coverage:
                    return f"sequence {100 * got[0]:.0f} % identical over {100 * got[1]:.0f} %"
        return None


def same_protein(x: Site, y: Site, identity: float = 0.9, coverage: float = 0.5) -> str | None:
    """Why two sites are the same protein (shared PDB ID, target name, or a chain pair at least
    ``identity`` identical over ``coverage`` of the shorter chain), or None."""
    return _Matcher(identity, coverage)(x, y)


# ---------------------------------------------------------------- sources


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        raise MolgenError("index CSV not found", path)
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _pdb_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise MolgenError("protein file not found", path)
    return path.read_text(errors="replace").splitlines()


def fep_targets(fep_root: Path) -> dict[str, tuple[str, str]]:
    """``"<subset>/<system>"`` -> (target protein, lower case; reference PDB ID, upper case),
    from each subset's ``subset_metadata.csv``."""
    targets = {}
    for meta in sorted(Path(fep_root).glob("*/subset_metadata.csv")):
        with open(meta, newline="") as fh:
            for row in csv.DictReader(fh):
                key = f"{meta.parent.name}/{row['Input file naming scheme'].strip()}"
                targets[key] = (row["Protein"].strip().lower(), row.get("Reference PDB", "").strip().upper())
    return targets


def fep_sites(fep_root: Path, fep_index: Path, sequences: bool = True) -> list[Site]:
    """FEP sites (one per protein file, in index order) with their ligand rows.

    ``Site.site`` is ``"fep:<protein_pdb>"``, the path relative to ``fep_root`` as in the index.
    With ``sequences=False`` the protein files are not read (only ``subset_metadata.csv`` is needed).
    """
    fep_root = Path(fep_root)
    targets = fep_targets(fep_root)
    sites: dict[str, Site] = {}
    for r in _read_csv(Path(fep_index)):
        key = r["protein_pdb"]
        if key not in sites:
            target, pdb = targets.get(f"{r['subset']}/{r['system']}", (r["system"].lower(), ""))
            seqs = chain_sequences(_pdb_lines(fep_root / key)) if sequences else ()
            sites[key] = Site("fep", f"fep:{key}", target, frozenset({pdb} - {""}), seqs)
        sites[key].rows.append({"protein": str(fep_root / key), "ligand": str(fep_root / r["ligand_sdf"]),
                                "record": r["record"], "name": f"{r['system']}:{r['record']}"})
    return list(sites.values())


def crystal_sites(pb_root: Path, pb_index: Path) -> list[Site]:
    """The PoseBusters example complexes: one site each, ``"crystal:<complex_id>"``."""
    pb_root = Path(pb_root)
    out = []
    for r in _read_csv(Path(pb_index)):
        cid = r["complex_id"]
        pdb = re.match(r"[0-9][A-Za-z0-9]{3}", cid)
        out.append(Site("crystal", f"crystal:{cid}", "", frozenset({pdb.group(0).upper()} if pdb else ()),
                        chain_sequences(_pdb_lines(pb_root / r["protein_pdb"])),
                        [{"protein": str(pb_root / r["protein_pdb"]), "ligand": str(pb_root / r["ligand_sdf"]),
                          "record": 0, "name": cid}]))
    return out


def pb2_sites(pb2_root: Path, pb2_index: Path, files_dir: Path, progress: bool = False
              ) -> tuple[list[Site], list[dict]]:
    """PoseBusters v2 complexes: receptor PDB and ligand SDF written into ``files_dir``.

    Args:
        pb2_root: the folder the archive was unpacked into (holds ``posebusters_v2/``).
        pb2_index: ``index.csv`` (``complex,pdb_id,ligand_ccd,structure``; ``structure`` relative
            to ``pb2_root``).
        files_dir: where ``<complex>_protein.pdb`` and ``<complex>_ligand.sdf`` go.

    Returns:
        ``(sites, failures)``: one site per complex whose ligand could be made; one
        ``{"complex", "reason"}`` per complex that failed (logged one line each).
    """
    from rdkit import Chem
    from tqdm import tqdm

    from molgen.data.ccd import ccd_component, ligand_from_records, split_pdb_ligand

    pb2_root, files_dir = Path(pb2_root), Path(files_dir)
    files_dir.mkdir(parents=True, exist_ok=True)
    sites, failures = [], []
    for r in tqdm(_read_csv(Path(pb2_index)), desc="pb2 ligands", unit="complex", disable=not progress):
        cid, code = r["complex"], r["ligand_ccd"]
        try:
            path = pb2_root / r["structure"]
            if not path.is_file():
                raise SkipRecord(f"structure file {r['structure']} not found")
            lines = path.read_text(errors="replace").splitlines()
            receptor, records = split_pdb_ligand(lines, code)
            if not records:
                raise SkipRecord(f"no HETATM residue {code} in {path.name}")
            mol = ligand_from_records(records, ccd_component(code))
        except SkipRecord as err:
            failures.append({"complex": cid, "reason": err.reason})
            log.warning("pb2 %s: %s", cid, err.reason)
            continue
        protein = files_dir / f"{cid}_protein.pdb"
        ligand = files_dir / f"{cid}_ligand.sdf"
        protein.write_text("\n".join(receptor) + "\nEND\n")
        mol.SetProp("_Name", cid)
        mol.SetProp("molgen_source", f"{r['structure']} residue {code} {records[0][21:27].strip()}")
        with Chem.SDWriter(str(ligand)) as w:
            w.write(mol)
        sites.append(Site("pb2", f"pb2:{cid}", "", frozenset({r["pdb_id"].upper()}), chain_sequences(receptor),
                          [{"protein": str(protein), "ligand": str(ligand), "record": 0, "name": cid}]))
    return sites, failures


def _cofactor_records(sdf: Path, chain: str = "Z") -> list[str]:
    """HETATM records of every molecule of a cofactor SDF (residue = the title, if 3 letters, else COF)."""
    from rdkit import Chem

    lines, serial = [], 1
    for k, mol in enumerate(Chem.SDMolSupplier(str(sdf), removeHs=False, sanitize=False)):
        if mol is None:
            raise MolgenError(f"record {k} cannot be read", sdf)
        title = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
        res = title.upper() if re.fullmatch(r"[A-Za-z0-9]{3}", title) else "COF"
        pos = mol.GetConformer().GetPositions()
        counts: dict[str, int] = {}
        for atom, (x, y, z) in zip(mol.GetAtoms(), pos):
            el = atom.GetSymbol()
            counts[el] = counts.get(el, 0) + 1
            name = f"{el}{counts[el]}"[:4]
            name = f" {name:<3}" if len(el) == 1 and len(name) < 4 else f"{name:<4}"
            lines.append(f"HETATM{serial:5d} {name} {res:>3} {chain}{900 + k:4d}    "
                         f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {el.upper():>2}")
            serial += 1
        lines.append("TER")
    return lines


def openff_sites(openff_root: Path, files_dir: Path) -> list[Site]:
    """OpenFF protein–ligand benchmark targets: one site each, ``"openff:<target>"``.

    Args:
        openff_root: the ``data`` folder of the unpacked archive (``<target>/01_protein/...``).
        files_dir: where ``<target>_protein.pdb`` (protein + cofactors) goes.
    """
    import yaml

    openff_root, files_dir = Path(openff_root), Path(files_dir)
    files_dir.mkdir(parents=True, exist_ok=True)
    out = []
    targets = sorted(p.parent.parent.parent.name for p in openff_root.glob("*/01_protein/crd/protein.pdb"))
    if not targets:
        raise MolgenError("no <target>/01_protein/crd/protein.pdb under the OpenFF folder", openff_root)
    for target in targets:
        crd = openff_root / target / "01_protein" / "crd"
        lines = [ln for ln in _pdb_lines(crd / "protein.pdb") if ln.startswith(("ATOM", "HETATM", "TER"))]
        if (crd / "cofactor.sdf").is_file():
            lines += _cofactor_records(crd / "cofactor.sdf")
        protein = files_dir / f"{target}_protein.pdb"
        protein.write_text("\n".join(lines) + "\nEND\n")
        meta_path = openff_root / target / "00_data" / "target.yml"
        meta = yaml.safe_load(meta_path.read_text()) if meta_path.is_file() else {}
        pdbs = {str(meta.get("pdb", "")).upper()} - {""}
        ligands = openff_root / target / "02_ligands" / "ligands.sdf"
        n = sum(1 for ln in ligands.read_text().splitlines() if ln.startswith("$$$$"))
        rows = [{"protein": str(protein), "ligand": str(ligands), "record": k, "name": f"openff_{target}:{k}"}
                for k in range(n)]
        out.append(Site("openff", f"openff:{target}", target, frozenset(pdbs), chain_sequences(lines), rows))
    return out


# ---------------------------------------------------------------- split


def fep_held_out(fep: Sequence[Site], n_crystal: int, seed: int = 0, test_fraction: float = 0.2,
                 forced: Sequence[str] = FORCED_TEST_TARGETS) -> list[str]:
    """FEP targets held out: all sites of a target together, drawn in a seeded random order while
    the held-out sites (with the ``n_crystal`` crystal complexes) stay within ``test_fraction`` of
    all FEP and crystal sites; ``forced`` targets first. This is the draw of the shipped pocket model.
    """
    by_target: dict[str, list[str]] = {}
    for s in sorted(fep, key=lambda s: s.site):
        by_target.setdefault(s.target, []).append(s.site)
    quota = round(test_fraction * (len(fep) + n_crystal))
    test_targets = [t for t in forced if t in by_target]
    held = n_crystal + sum(len(by_target[t]) for t in test_targets)
    order = sorted(by_target)
    random.Random(seed).shuffle(order)
    for t in order:
        if t not in test_targets and held + len(by_target[t]) <= quota:
            test_targets.append(t)
            held += len(by_target[t])
    return test_targets


@dataclass
class SiteSplit:
    """Where each site went: ``split[site] in {"train", "test", "excluded"}`` and why."""

    split: dict[str, str]
    reason: dict[str, str]

    def sites(self, which: str) -> list[str]:
        return [s for s, v in self.split.items() if v == which]


def split_sites(sites: Sequence[Site], seeds: Iterable[str], identity: float = 0.9,
                coverage: float = 0.5) -> SiteSplit:
    """Split sites by protein (see the module docstring): seeds and the OpenFF sites of their
    proteins are ``test``; any other site of a test protein is ``excluded``; the rest ``train``."""
    match = _Matcher(identity, coverage)
    by_id = {s.site: s for s in sites}
    seeds = list(dict.fromkeys(seeds))
    unknown = [s for s in seeds if s not in by_id]
    if unknown:
        raise ValueError(f"held-out sites not among the sites: {unknown[:3]}")
    split = dict.fromkeys(by_id, "train")
    reason = dict.fromkeys(by_id, "")
    for s in seeds:
        split[s], reason[s] = "test", "held out"

    def first_match(site: Site) -> str | None:
        for t, other in by_id.items():
            if split[t] == "test":
                why = match(site, other)
                if why:
                    return f"same protein as {t} ({why})"
        return None

    changed = True
    while changed:  # OpenFF targets of held-out proteins are held out, until nothing changes
        changed = False
        for s in sites:
            if s.source == "openff" and split[s.site] == "train":
                why = first_match(s)
                if why:
                    split[s.site], reason[s.site], changed = "test", why, True
    for s in sites:
        if split[s.site] == "train":
            why = first_match(s)
            if why:
                split[s.site], reason[s.site] = "excluded", why
    return SiteSplit(split, reason)


def _write_index(path: Path, rows: list[dict], extra: Sequence[str] = ()) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, [*INDEX_COLUMNS, *extra], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def write_site_split(out_dir: Path, fep_root: Path, fep_index: Path, pb_root: Path, pb_index: Path,
                     pb2_root: Path | None = None, pb2_index: Path | None = None,
                     openff_root: Path | None = None, seed: int = 0, test_fraction: float = 0.2,
                     identity: float = 0.9, coverage: float = 0.5, progress: bool = False) -> dict:
    """Build the sites of every given source, split them by protein and write the index CSVs.

    Writes into ``out_dir``:

    * ``train.csv``, ``test.csv``, ``excluded.csv``: complexes index CSVs (``protein,ligand,record,
      name`` plus ``source,site``; ``excluded.csv`` also ``reason``), absolute paths, for
      ``molgen data prepare complexes``;
    * ``test_fep.csv``, ``test_crystal.csv``: the held-out FEP and crystal complexes, four columns
      (what ``benchmarks.pocket`` reads; the same files as before the other sources were added);
    * ``pb2_failures.csv``: PoseBusters v2 complexes whose ligand could not be made, with reasons;
    * ``files/pb2/``, ``files/openff/``: the receptor and ligand files the CSVs point to;
    * ``split.json``: the summary (sites and ligands per source and split, held-out targets,
      every site's split and reason).

    Returns:
        The ``split.json`` content.
    """
    out_dir = Path(out_dir).resolve()  # the CSVs hold absolute paths
    out_dir.mkdir(parents=True, exist_ok=True)
    fep = fep_sites(fep_root, fep_index)
    crystal = crystal_sites(pb_root, pb_index)
    sites = fep + crystal
    failures: list[dict] = []
    if pb2_root is not None:
        if pb2_index is None:
            raise MolgenError("PoseBusters v2 needs its index.csv (pb2_index)")
        pb2, failures = pb2_sites(pb2_root, pb2_index, out_dir / "files" / "pb2", progress)
        sites += pb2
    if openff_root is not None:
        sites += openff_sites(openff_root, out_dir / "files" / "openff")
    test_targets = fep_held_out(fep, len(crystal), seed, test_fraction)
    fep_test = [s.site for s in fep if s.target in test_targets]
    split = split_sites(sites, [s.site for s in crystal] + fep_test, identity, coverage)

    def rows(which: str, sources: Sequence[str] = SOURCES) -> list[dict]:
        return [dict(r, source=s.source, site=s.site, reason=split.reason[s.site])
                for s in sites if split.split[s.site] == which and s.source in sources for r in s.rows]

    extra = ("source", "site")
    _write_index(out_dir / "train.csv", rows("train"), extra)
    _write_index(out_dir / "test.csv", rows("test"), extra)
    _write_index(out_dir / "excluded.csv", rows("excluded"), (*extra, "reason"))
    _write_index(out_dir / "test_fep.csv", rows("test", ("fep",)))
    _write_index(out_dir / "test_crystal.csv", rows("test", ("crystal",)))
    with open(out_dir / "pb2_failures.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["complex", "reason"])
        w.writeheader()
        w.writerows(failures)
    per_source = {}
    for src in SOURCES:
        sub = [s for s in sites if s.source == src]
        if not sub and not (src == "pb2" and failures):
            continue
        per_source[src] = {which: {"sites": sum(split.split[s.site] == which for s in sub),
                                   "ligands": sum(len(s.rows) for s in sub if split.split[s.site] == which)}
                           for which in ("train", "test", "excluded")}
        if src == "pb2":
            per_source[src]["ligand_failures"] = len(failures)
    totals = {which: {k: sum(v[which][k] for v in per_source.values()) for k in ("sites", "ligands")}
              for which in ("train", "test", "excluded")}
    n_fep_crystal = len(fep) + len(crystal)
    summary = {
        "seed": seed, "test_fraction": test_fraction, "identity": identity, "coverage": coverage,
        # the FEP draw (unchanged): sites and held-out sites count FEP and crystal sites only
        "sites": n_fep_crystal, "held_out_sites": len(crystal) + len(fep_test),
        "test_targets": sorted(test_targets),
        "test_fep_sites": sorted(s.removeprefix("fep:") for s in fep_test),
        "test_crystal": [s.site.removeprefix("crystal:") for s in crystal],
        "train_ligands": totals["train"]["ligands"], "test_fep_ligands": len(rows("test", ("fep",))),
        "test_crystal_ligands": len(rows("test", ("crystal",))), "train_sites": totals["train"]["sites"],
        "per_source": per_source, "totals": totals, "pb2_failures": failures,
        "moved": {s: f"{split.split[s]}: {split.reason[s]}" for s in split.split
                  if split.reason[s] and split.reason[s] != "held out"},
        "fep_root": str(fep_root),
        "site_target": {s.site.removeprefix("fep:"): s.target for s in fep},
        "sites_split": split.split,
    }
    (out_dir / "split.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("split: %s", json.dumps(totals))
    return summary


__all__ = [
    "FORCED_TEST_TARGETS", "MIN_CHAIN", "SOURCES", "Site", "SiteSplit", "chain_identity", "chain_sequences",
    "crystal_sites", "fep_held_out", "fep_sites", "fep_targets", "openff_sites", "pb2_sites", "same_protein",
    "split_sites", "write_site_split",
]
