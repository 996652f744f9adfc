"""Receptor PDBs that Meeko refuses as distributed: each failure class made small, then prepared.

Every fixture is a piece of the committed 1S3V protein (GLN84-SER90, with HIS87), rewritten into one
class of real-file trouble. Each test first shows that Meeko alone refuses the fixture (or loses a
residue), then that :func:`prepare_receptor` prepares it and records what it changed.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings

import numpy as np
import pytest

from molgen.docking import prepare_receptor
from molgen.docking.receptor import find_obabel
from molgen.docking.repair import repair_pdb_text

from .conftest import DATA, gunzip, need_vina

RESIDUES = range(84, 91)  # GLN GLY ALA HIS PHE LEU SER


@pytest.fixture(scope="module")
def piece(tmp_path_factory) -> list[str]:
    """ATOM records of 1S3V residues 84-90 (no hydrogens)."""
    pdb = gunzip(DATA / "1s3v_protein.pdb.gz", tmp_path_factory.mktemp("piece") / "1s3v.pdb")
    return [line for line in pdb.read_text().splitlines()
            if line.startswith("ATOM") and int(line[22:26]) in RESIDUES]


def _set(line: str, *, chain: str | None = None, resnum: int | None = None, icode: str | None = None,
         altloc: str | None = None, segid: str | None = None, shift: float = 0.0, name: str | None = None,
         xyz=None, element: str | None = None) -> str:
    line = line.ljust(80)
    if xyz is None:
        xyz = [float(line[30:38]) + shift, float(line[38:46]), float(line[46:54])]
    out = (f"{line[:12]}{(name or line[12:16].strip()).ljust(3).rjust(4)}{altloc or line[16]}{line[17:21]}"
           f"{chain or line[21]}{resnum if resnum is not None else int(line[22:26]):>4}"
           f"{icode if icode is not None else line[26]}{line[27:30]}{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}"
           f"{line[54:72]}{(segid if segid is not None else line[72:76]).ljust(4)}"
           f"{(element or line[76:78].strip()):>2}")
    return out


def _xyz(lines: list[str], resnum: int, name: str) -> np.ndarray:
    for line in lines:
        if int(line[22:26]) == resnum and line[12:16].strip() == name:
            return np.array([float(line[30:38]), float(line[38:46]), float(line[46:54])])
    raise KeyError(name)


def _meeko_alone(text: str):
    """What Meeko does with the text as it is (the old behaviour): the polymer, or the exception."""
    from meeko import MoleculePreparation, Polymer, ResidueChemTemplates

    templates = ResidueChemTemplates.create_from_defaults()
    prep = MoleculePreparation.from_config({"compute_charges": False})
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return Polymer.from_pdb_string(text, templates, prep, allow_bad_res=True, default_altloc="A")
    except Exception as err:  # noqa: BLE001 - the test inspects it
        return err


def _prepare(tmp_path, lines: list[str]):
    src = tmp_path / "receptor.pdb"
    src.write_text("\n".join(lines) + "\nEND\n")
    rec = prepare_receptor(src, tmp_path / "receptor.pdbqt", method="meeko")
    chains = {line[21] for line in rec.pdbqt.read_text().splitlines() if line.startswith("ATOM")}
    return rec, chains


def _heavy_atoms(pdbqt) -> int:
    return sum(1 for line in pdbqt.read_text().splitlines()
               if line.startswith("ATOM") and line[77:].strip() not in ("HD", "H"))


def test_chains_told_apart_only_by_segment_id(piece, tmp_path):
    need_vina()
    lines = [_set(x, segid="PROA") for x in piece] + [_set(x, segid="PROB", shift=30.0) for x in piece]
    err = _meeko_alone("\n".join(lines))
    assert isinstance(err, ValueError) and "interrupted residues" in str(err)
    rec, chains = _prepare(tmp_path, lines)
    assert rec.removed_residues == [] and chains == {"A", "B"}
    assert _heavy_atoms(rec.pdbqt) == 2 * len(piece)
    assert any("segment PROB" in r and "chain B" in r for r in rec.repairs)


def test_one_letter_segment_id_becomes_the_chain(piece):
    lines = [_set(x, segid="A") for x in piece] + [_set(x, segid="Q", shift=30.0) for x in piece]
    text, removed, _ = repair_pdb_text("\n".join(lines))
    assert removed == [] and {ln[21] for ln in text.splitlines() if ln.startswith("ATOM")} == {"A", "Q"}


def test_restarted_numbering_without_ter(piece, tmp_path):
    need_vina()
    lines = piece + [_set(x, shift=30.0) for x in piece]  # same chain, numbers 84-90 twice, no TER
    assert "interrupted residues" in str(_meeko_alone("\n".join(lines)))
    rec, chains = _prepare(tmp_path, lines)
    assert rec.removed_residues == [] and chains == {"A", "B"}
    assert _heavy_atoms(rec.pdbqt) == 2 * len(piece)


def test_insertion_codes_repeated_after_ter(piece, tmp_path):
    need_vina()
    # residues 84, 84A..84F (antibody/chymotrypsin-style numbering), then a second copy after a TER
    numbered = [_set(x, resnum=84, icode=" ABCDEF"[int(x[22:26]) - 84]) for x in piece]
    lines = numbered + ["TER"] + [_set(x, shift=30.0) for x in numbered]
    assert "interrupted residues" in str(_meeko_alone("\n".join(lines)))
    rec, chains = _prepare(tmp_path, lines)
    assert rec.removed_residues == [] and len(chains) == 2
    labels = {line[22:27] for line in rec.pdbqt.read_text().splitlines() if line.startswith("ATOM")}
    assert labels == {"  84 ", "  84A", "  84B", "  84C", "  84D", "  84E", "  84F"}


def test_altlocs_without_an_a_and_microheterogeneity(piece, tmp_path):
    need_vina()
    lines = []
    for x in piece:
        num, name = int(x[22:26]), x[12:16].strip()
        if num == 88 and name not in ("N", "CA", "C", "O"):  # PHE88 side chain: altlocs B and C only
            lines += [_set(x, altloc="B"), _set(x, altloc="C", shift=0.3)]
        elif num == 90:  # SER90 / CYS90 microheterogeneity: the whole residue in two altlocs
            lines.append(_set(x, altloc="A"))
        else:
            lines.append(x)
    for x in piece:
        if int(x[22:26]) == 90:
            og = x[12:16].strip() == "OG"
            y = _set(x, altloc="B", shift=0.2, name="SG" if og else None, element="S" if og else None)
            lines.append(y[:17] + "CYS" + y[20:])
    old = _meeko_alone("\n".join(lines))
    assert isinstance(old, Exception)  # "Requested altlocs not found" / two names for A:90
    rec, _ = _prepare(tmp_path, lines)
    assert rec.removed_residues == [] and _heavy_atoms(rec.pdbqt) == len(piece)
    out = rec.pdbqt.read_text()
    assert " SER A  90" in out and "CYS" not in out
    assert any("alternate locations" in r for r in rec.repairs)


def test_gap_and_incomplete_residues(piece, tmp_path):
    need_vina()
    lines = [x for x in piece if int(x[22:26]) != 86]  # a gap: ALA86 missing
    lines = [x for x in lines if not (int(x[22:26]) == 88 and x[12:16].strip() in ("CD1", "CE1", "CZ"))]
    lines = [x for x in lines if not (int(x[22:26]) == 89 and x[12:16].strip() == "O")]
    old = _meeko_alone("\n".join(lines))
    assert {"A:88", "A:89"} <= set(old.get_ignored_monomers())  # the old way lost both residues
    rec, _ = _prepare(tmp_path, lines)
    assert rec.removed_residues == ["A:89 LEU (incomplete backbone, missing O)"]
    assert any(r.startswith("A:88 PHE (incomplete side chain") and "kept as ALA" in r for r in rec.repairs)
    resnames = {line[17:26] for line in rec.pdbqt.read_text().splitlines() if line.startswith("ATOM")}
    assert "ALA A  88" in resnames and not any(r.endswith(" 89") for r in resnames)


def test_partial_hydrogens_on_a_histidine_and_hydrogens_written_last(piece, tmp_path):
    need_vina()
    ca, n, c, cb = (_xyz(piece, 87, a) for a in ("CA", "N", "C", "CB"))
    d = 3 * ca - n - c - cb
    ha = _set(next(x for x in piece if int(x[22:26]) == 87 and x[12:16].strip() == "CA"),
              name="HA", xyz=ca + 1.09 * d / np.linalg.norm(d), element="H")
    lines = [*piece, "TER", ha]  # another program's hydrogen, written after the chain
    assert "interrupted residues" in str(_meeko_alone("\n".join(lines)))
    at = max(i for i, x in enumerate(piece) if int(x[22:26]) == 87)
    inside = [*piece[:at + 1], ha, *piece[at + 1:]]
    assert "tied" in str(_meeko_alone("\n".join(inside)))  # HIS with HA only: HID and HIE tie
    rec, _ = _prepare(tmp_path, lines)
    assert rec.removed_residues == [] and _heavy_atoms(rec.pdbqt) == len(piece)
    assert any(r.startswith("A:87 HIS") for r in rec.repairs)


def test_histidine_named_by_its_ring_hydrogen(piece):
    ne2, cd2, ce1 = (_xyz(piece, 87, a) for a in ("NE2", "CD2", "CE1"))
    d = 2 * ne2 - cd2 - ce1
    at = max(i for i, x in enumerate(piece) if int(x[22:26]) == 87)
    he2 = _set(piece[at], name="HE2", xyz=ne2 + 1.01 * d / np.linalg.norm(d), element="H")
    lines = [*piece[:at + 1], he2, *piece[at + 1:]]
    text, _, _ = repair_pdb_text("\n".join(lines))
    assert " HIE A  87" in text and " HIS " not in text


def test_run_docking_writes_receptor_json(tmp_path, s3v):
    from molgen.docking import run_docking

    lines = [x for x in (gunzip(DATA / "1s3v_protein.pdb.gz", tmp_path / "full.pdb").read_text().splitlines())
             if x.startswith("ATOM")]
    lines = [x for x in lines if not (int(x[22:26]) == 89 and x[12:16].strip() == "O")]
    lines = lines + ["TER"] + [_set(x, shift=80.0) for x in lines if int(x[22:26]) <= 20]  # chain A again
    src = tmp_path / "receptor.pdb"
    src.write_text("\n".join(lines) + "\nEND\n")
    run_docking(src, s3v.ligand_sdf, tmp_path / "out", "score", ref_ligand=s3v.ligand_sdf, progress=False)
    report = json.loads((tmp_path / "out" / "receptor.json").read_text())
    assert report["method"] == "meeko"
    assert report["removed_residues"] == ["A:89 LEU (incomplete backbone, missing O)"]
    assert report["num_removed_residues"] == 1 and any("chain B" in r for r in report["repairs"])


def test_openbabel_fallback_is_installed_with_the_docking_extra(piece, tmp_path):
    need_vina()
    if find_obabel() is None:
        pytest.skip("openbabel-wheel missing: pip install molgen[docking]")
    lines = [_set(x, segid="PROA") for x in piece] + [_set(x, segid="PROB", shift=30.0) for x in piece]
    src = tmp_path / "receptor.pdb"
    src.write_text("\n".join(lines) + "\nEND\n")
    rec = prepare_receptor(src, tmp_path / "receptor.pdbqt", method="openbabel")
    assert rec.method == "openbabel" and _heavy_atoms(rec.pdbqt) == 2 * len(piece)
    types = {line[77:].strip() for line in rec.pdbqt.read_text().splitlines() if line.startswith("ATOM")}
    assert {"C", "A", "N", "OA", "HD"} <= types


def test_other_programs_heavy_atom_names_are_not_incomplete(piece):
    # CHARMM: ILE CD (not CD1), C-terminal OT1/OT2 (not O/OXT); a name check would truncate or remove
    lines = [_set(x, name="CD") if (int(x[22:26]) == 89 and x[12:16].strip() == "CD1") else
             _set(x, name="OT1") if (int(x[22:26]) == 90 and x[12:16].strip() == "O") else x for x in piece]
    text, removed, notes = repair_pdb_text("\n".join(lines))
    assert removed == [] and not any("incomplete" in n for n in notes)
    assert sum(ln.startswith("ATOM") for ln in text.splitlines()) == len(piece)
    truncated = [x for x in lines if not (int(x[22:26]) == 89 and x[12:16].strip() == "CD")]
    _, _, notes = repair_pdb_text("\n".join(truncated))
    assert notes == ["A:89 LEU (incomplete side chain, missing CD1: kept as ALA)"]


def test_auto_falls_back_to_the_packaged_obabel_and_says_why(piece, tmp_path):
    need_vina()
    if find_obabel() is None:
        pytest.skip("openbabel-wheel missing: pip install molgen[docking]")
    # a cofactor-only "receptor": no Meeko template at all, so Meeko cannot prepare it
    lines = [("HETATM" + x[6:17] + "XYZ" + x[20:]) for x in piece if int(x[22:26]) == 88]
    src = tmp_path / "cofactor.pdb"
    src.write_text("\n".join(lines) + "\nEND\n")
    rec = prepare_receptor(src, tmp_path / "cofactor.pdbqt")
    assert rec.method == "openbabel" and rec.num_atoms >= len(lines)
    assert len(rec.errors) == 1 and rec.errors[0].startswith("meeko: ValueError: no residue with a Meeko template")
    assert rec.to_dict()["errors"] == rec.errors
