"""Repair a PDB's residue records before Meeko's template matching.

Meeko identifies a residue by ``chain:number[insertion]`` and refuses a file where one key occurs in
two places ("interrupted residues"), or has two residue names, or whose hydrogens fit two histidine
templates equally well. Structures as distributed hit all of these. :func:`repair_pdb_text` rewrites
the records so that every key is one contiguous residue, and says what it changed:

* Alternate locations: per residue, the first altloc that occurs (with the atoms that have none) is
  kept and the altloc column cleared; a residue name that only the dropped altlocs use goes with them.
* Hydrogens written after all heavy atoms (a later block of a key that holds only hydrogens) are put
  back into their residue.
* Chains: a run of residues starts at a TER, a chain-ID change, a segment-ID change (columns 73-76)
  or a residue number lower than the one before (a restarted numbering). A run whose keys were
  already used by an earlier run gets a chain ID of its own (its one-letter segment ID when free).
* Incomplete amino acids: missing backbone atoms -> the residue is removed; missing side-chain atoms
  -> the backbone and CB are kept as ALA (GLY without a CB), so the pocket keeps its backbone.
* Histidine: the ring hydrogens present (found by distance, not by name) name it HID, HIE or HIP;
  a histidine with hydrogens but none on the ring loses them, and Meeko adds its own.

Insertion codes are kept (they are part of Meeko's key). Chain breaks (gaps) need no change: Meeko
caps each side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# heavy atoms of the standard amino acids, side chain only (backbone: N CA C O, OXT optional)
SIDE_CHAINS: dict[str, tuple[str, ...]] = {
    "GLY": (), "ALA": ("CB",), "SER": ("CB", "OG"), "CYS": ("CB", "SG"), "VAL": ("CB", "CG1", "CG2"),
    "THR": ("CB", "OG1", "CG2"), "LEU": ("CB", "CG", "CD1", "CD2"), "ILE": ("CB", "CG1", "CG2", "CD1"),
    "MET": ("CB", "CG", "SD", "CE"), "PRO": ("CB", "CG", "CD"), "PHE": ("CB", "CG", "CD1", "CD2", "CE1",
    "CE2", "CZ"), "TYR": ("CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "OH"), "TRP": ("CB", "CG", "CD1",
    "CD2", "NE1", "CE2", "CE3", "CZ2", "CZ3", "CH2"), "ASP": ("CB", "CG", "OD1", "OD2"), "GLU": ("CB", "CG",
    "CD", "OE1", "OE2"), "ASN": ("CB", "CG", "OD1", "ND2"), "GLN": ("CB", "CG", "CD", "OE1", "NE2"),
    "LYS": ("CB", "CG", "CD", "CE", "NZ"), "ARG": ("CB", "CG", "CD", "NE", "CZ", "NH1", "NH2"),
    "HIS": ("CB", "CG", "ND1", "CD2", "CE1", "NE2"),
}
for _alias in ("HID", "HIE", "HIP"):
    SIDE_CHAINS[_alias] = SIDE_CHAINS["HIS"]
for _alias, _base in (("ASH", "ASP"), ("GLH", "GLU"), ("LYN", "LYS"), ("CYM", "CYS"), ("CYX", "CYS")):
    SIDE_CHAINS[_alias] = SIDE_CHAINS[_base]
BACKBONE = ("N", "CA", "C", "O")
TERMINAL_O = {"OT1", "OT2", "OC1", "OC2"}  # C-terminal oxygens as CHARMM and GROMACS name them
CHAIN_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
NH_BOND_A = 1.3  # N-H is 1.01 Å; anything within this of a ring N is its hydrogen


@dataclass
class _Atom:
    line: str
    name: str
    altloc: str
    resname: str
    chain: str
    resnum: int
    icode: str
    segid: str
    element: str

    @classmethod
    def parse(cls, line: str) -> _Atom:
        line = line.rstrip("\n").ljust(80)
        name = line[12:16].strip()
        element = line[76:78].strip().upper() or name.lstrip("0123456789")[:1].upper()
        return cls(line, name, line[16].strip(), line[17:20].strip(), line[21].strip(), int(line[22:26]),
                   line[26].strip(), line[72:76].strip(), element)

    @property
    def is_h(self) -> bool:
        return self.element in ("H", "D")

    @property
    def xyz(self) -> np.ndarray:
        return np.array([float(self.line[30:38]), float(self.line[38:46]), float(self.line[46:54])])

    def render(self, chain: str, resname: str) -> str:
        """The record with altloc cleared and the given chain ID and residue name."""
        return f"{self.line[:16]} {resname:>3}{self.line[20]}{chain or ' '}{self.line[22:]}".rstrip()


@dataclass
class _Residue:
    chain: str
    resnum: int
    icode: str
    segid: str
    atoms: list[_Atom]
    after_ter: bool

    @property
    def label(self) -> str:
        return f"{self.chain}:{self.resnum}{self.icode}"

    @property
    def resname(self) -> str:
        return self.atoms[0].resname


def _residue_blocks(text: str) -> list[_Residue]:
    """Consecutive records with one chain/number/insertion key, in file order."""
    blocks: list[_Residue] = []
    ter = True
    for line in text.splitlines():
        if line.startswith("TER"):
            ter = True
            continue
        if not line.startswith(("ATOM", "HETATM")):
            continue
        atom = _Atom.parse(line)
        last = blocks[-1] if blocks else None
        if (not ter and last is not None and (last.chain, last.resnum, last.icode) ==
                (atom.chain, atom.resnum, atom.icode) and last.segid == atom.segid):
            last.atoms.append(atom)
        else:
            blocks.append(_Residue(atom.chain, atom.resnum, atom.icode, atom.segid, [atom], ter))
        ter = False
    return blocks


def _first_altloc(res: _Residue) -> bool:
    """Keep the first altloc (and the atoms without one); True if the residue had altlocs."""
    alts = [a.altloc for a in res.atoms if a.altloc]
    if not alts:
        return False
    keep = alts[0]
    atoms = [a for a in res.atoms if a.altloc in ("", keep)]
    names = {a.resname for a in atoms if a.altloc == keep}
    seen: set[str] = set()
    res.atoms = []
    for a in atoms:  # microheterogeneity: the kept altloc's residue name wins; no duplicate names
        if (len(names) == 1 and a.resname not in names) or a.name in seen:
            continue
        seen.add(a.name)
        res.atoms.append(a)
    return True


def _histidine(res: _Residue, notes: list[str]) -> str:
    """HID/HIE/HIP from the ring hydrogens present; strips the hydrogens when none is on the ring."""
    hyd = [a for a in res.atoms if a.is_h]
    if not hyd:
        return res.resname
    ring = {a.name: a.xyz for a in res.atoms if a.name in ("ND1", "NE2")}
    on = {n for n, pos in ring.items() if any(np.linalg.norm(h.xyz - pos) < NH_BOND_A for h in hyd)}
    if on == {"ND1", "NE2"}:
        return "HIP"
    if on == {"ND1"}:
        return "HID"
    if on == {"NE2"}:
        return "HIE"
    res.atoms = [a for a in res.atoms if not a.is_h]
    notes.append(f"{res.label} {res.resname} (no ring hydrogen: hydrogens left to Meeko)")
    return res.resname


def _amino_acid(res: _Residue, removed: list[str], notes: list[str]) -> str | None:
    """The residue name to write, or None to remove the residue (incomplete backbone).

    Side-chain completeness is a count of heavy atoms, not a check of names, so that other
    programs' names (CHARMM's ILE ``CD``) pass; Meeko matches the residue by its graph anyway.
    """
    side = SIDE_CHAINS[res.resname]
    heavy = {a.name for a in res.atoms if not a.is_h}
    missing_bb = [n for n in BACKBONE if n not in heavy and not (n == "O" and heavy & TERMINAL_O)]
    if missing_bb:
        removed.append(f"{res.label} {res.resname} (incomplete backbone, missing {' '.join(missing_bb)})")
        return None
    n_side = len(heavy - set(BACKBONE) - TERMINAL_O - {"OXT"})
    if n_side >= len(side):
        return _histidine(res, notes) if res.resname.startswith("HI") else res.resname
    missing = [n for n in side if n not in heavy]
    new = "ALA" if "CB" in heavy else "GLY"
    keep = set(BACKBONE) | {"OXT"} | TERMINAL_O | ({"CB"} if new == "ALA" else set())
    res.atoms = [a for a in res.atoms if a.name in keep]
    notes.append(f"{res.label} {res.resname} (incomplete side chain, missing {' '.join(missing)}: kept as {new})")
    return new


def repair_pdb_text(text: str) -> tuple[str, list[str], list[str]]:
    """Make every residue key of a PDB one contiguous residue with one name and one altloc.

    Args:
        text: ATOM/HETATM/TER records (other records are ignored), e.g. from
            :func:`molgen.docking.receptor.clean_pdb_text`.

    Returns:
        The repaired PDB text (TER between chains), ``"chain:resnum resname (why)"`` for each
        residue removed, and one line per other change (chains renamed, side chains truncated,
        altlocs chosen), in the input's residue labels.
    """
    removed: list[str] = []
    notes: list[str] = []
    blocks = _residue_blocks(text)
    n_alt = sum(_first_altloc(b) for b in blocks)
    if n_alt:
        notes.append(f"{n_alt} residue(s) with alternate locations: the first altloc kept")

    # hydrogens written in a later block of their own residue go back to it
    first: dict[tuple, _Residue] = {}
    kept: list[_Residue] = []
    for b in blocks:
        key = (b.chain, b.resnum, b.icode)
        if key in first and all(a.is_h for a in b.atoms):
            first[key].atoms.extend(b.atoms)
            continue
        first.setdefault(key, b)
        kept.append(b)

    # runs of residues: a new run at TER, chain or segment change, or a lower residue number
    runs: list[list[_Residue]] = []
    for b in kept:
        prev = runs[-1][-1] if runs else None
        if (prev is None or b.after_ter or b.chain != prev.chain or b.segid != prev.segid
                or b.resnum < prev.resnum):
            runs.append([b])
        else:
            runs[-1].append(b)
    used = {b.chain for b in kept}
    taken: set[tuple] = set()
    out: list[str] = []
    for run in runs:
        keys = {(b.chain, b.resnum, b.icode) for b in run}
        chain = run[0].chain
        if keys & taken or len(keys) < len(run):
            free = [c for c in CHAIN_IDS if c not in used]
            if not free:
                raise ValueError("more chains than one-character chain IDs")
            seg = run[0].segid
            chain = seg if len(seg) == 1 and seg not in used else free[0]
            used.add(chain)
            notes.append(f"residues {run[0].label}-{run[-1].label}"
                         f"{f' (segment {seg})' if seg else ''} repeat earlier residue numbers: chain {chain}")
            if len(keys) < len(run):  # one key twice inside one run: nothing tells them apart
                seen: set[tuple] = set()
                for b in run:
                    k = (b.resnum, b.icode)
                    if k in seen:
                        removed.append(f"{b.label} {b.resname} (residue number repeated within its chain)")
                        b.atoms = []
                    seen.add(k)
        taken |= {(chain, b.resnum, b.icode) for b in run}
        for b in run:
            if not b.atoms:
                continue
            resname = b.resname
            if resname in SIDE_CHAINS:
                resname = _amino_acid(b, removed, notes)
                if resname is None:
                    continue
            out.extend(a.render(chain, resname) for a in b.atoms)
        out.append("TER")
    return "\n".join(out + ["END"]) + "\n", removed, notes


def strip_hydrogens(text: str, labels: set[str]) -> str:
    """Remove the hydrogens of the residues ``chain:resnum[icode]`` in ``labels`` (all when empty)."""
    out = []
    for line in text.splitlines():
        if line.startswith(("ATOM", "HETATM")):
            atom = _Atom.parse(line)
            if atom.is_h and (not labels or f"{atom.chain}:{atom.resnum}{atom.icode}" in labels):
                continue
        out.append(line)
    return "\n".join(out) + "\n"
