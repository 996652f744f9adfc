"""QM9 reader: bond orders from SMILES onto coordinates, splits, archive format, skips, errors."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem

from molgen.chem.convert import data_to_mol, mol_to_graph
from molgen.chem.vocab import QM9
from molgen.data import qm9
from molgen.data.cache import MoleculeCache
from molgen.errors import MolgenError

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "qm9" / "qm9_sample.csv"
HARD = SAMPLE.with_name("qm9_hard_cases.csv")


def read_rows(path: Path = SAMPLE) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        return next(reader), list(reader)


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def bond_dict(g) -> dict[tuple[int, int], int]:
    ei, bt = g.edge_index.tolist(), g.bond_type.tolist()
    return {(min(i, j), max(i, j)): t for i, j, t in zip(ei[0], ei[1], bt)}


def load_split(out: Path, split: str) -> dict[str, object]:
    return {g.name: g for g in MoleculeCache(out / split)}


def official_xyz(row: dict[str, str], star_exponents: bool = False) -> str:
    """One molecule in the official QM9 XYZ format, built from a qm9pack CSV row."""
    symbols, pos = qm9.parse_csv_geometry(row["Elements"], row["XYZ_Ang"])
    mulliken = json.loads(row["Mulliken_pop"])
    freqs = json.loads(row["Harmonic_Freq_cmi"])
    props = [
        "RotA_GHz",
        "RotB_GHz",
        "RotC_GHz",
        "Dipole_debye",
        "Polarizability_bohr3",
        "HOMO_au",
        "LUMO_au",
        "HOMO_LUMO_gap_au",
        "R2_bohr2",
        "ZPVE_au",
        "InternalEnergy_0K_au",
        "InternalEnergy_298K_au",
        "Enthalphy_298K_au",
        "GibbsFreeEnergy_298K_au",
        "Heatcapacity_Cv_cal_mol_K",
    ]

    def num(x: float) -> str:
        if not star_exponents:
            return repr(float(x))
        m, e = f"{x:.10e}".split("e")  # Mathematica style, as in the official files: 1.25*^-2
        return f"{m}*^{int(e)}"

    lines = [str(len(symbols)), "\t".join([f"gdb {row['Index']}", *(row[p] for p in props)]) + "\t"]
    lines += [
        f"{s}\t{num(x)}\t{num(y)}\t{num(z)}\t{q}" for s, (x, y, z), q in zip(symbols, pos.tolist(), mulliken)
    ]
    lines += [
        "\t".join(str(f) for f in freqs),
        f"{row['SMILES']}\t{row['SMILES']}",
        f"{row['InChi']}\t{row['InChi']}",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("qm9") / "prepared"
    return out, qm9.prepare_qm9(out, source=SAMPLE, workers=0)


def test_bond_orders_agree_with_smiles_on_sample():
    header, rows = read_rows()
    col = {c: header.index(c) for c in ("Index", "SMILES", "Elements", "XYZ_Ang")}
    agree = 0
    for k, row in enumerate(rows):
        rec = (
            k,
            "csv",
            int(row[col["Index"]]),
            row[col["SMILES"]],
            row[col["Elements"]],
            row[col["XYZ_Ang"]],
        )
        _, _, g = qm9.convert_record(rec)
        if isinstance(g, str):
            continue
        mol = data_to_mol(qm9.unpack_graph(g), QM9)  # graph -> RDKit, independently of the reader's molecule
        agree += Chem.MolToSmiles(Chem.RemoveHs(mol)) == Chem.CanonSmiles(row[col["SMILES"]])
    assert len(rows) == 300
    assert agree >= 297  # ≥ 99 %


def test_prepared_sample_counts_and_files(sample):
    out, summary = sample
    assert summary["kept"] + summary["skipped"] == 300
    assert summary["kept"] >= 297
    assert {s: v["assigned"] for s, v in summary["splits"].items()} == {"train": 229, "val": 41, "test": 30}
    assert sum(v["kept"] for v in summary["splits"].values()) == summary["kept"]
    assert json.loads((out / "summary.json").read_text()) == summary
    for s in qm9.SPLITS:
        cache = MoleculeCache(out / s)
        assert len(cache) == summary["splits"][s]["kept"]
        assert cache.vocab == QM9
        assert cache.stats["num_graphs"] == len(cache)
    smiles = (out / "train_smiles.txt").read_text().split()
    assert smiles == sorted({g.smiles for g in MoleculeCache(out / "train")})


def test_round_trip_graph_rdkit_graph(sample):
    out, _ = sample
    for g in MoleculeCache(out / "train"):
        g2 = mol_to_graph(data_to_mol(g, QM9), QM9)
        assert torch.equal(g2.atom_type, g.atom_type)
        assert torch.equal(g2.charge, g.charge)
        assert torch.equal(g2.pos, g.pos)
        assert bond_dict(g2) == bond_dict(g)
        assert g2.smiles == g.smiles


def test_graph_content_of_a_known_molecule(tmp_path):
    # Glycine zwitterion-like and nitrile test: the reader must carry charges and triple bonds.
    header, rows = read_rows()
    col = header.index("SMILES")
    charged = [r for r in rows if "+" in r[col] or "-]" in r[col]]
    triple = [r for r in rows if "#" in r[col]]
    assert charged and triple
    src = write_rows(tmp_path / "few.csv", header, charged[:2] + triple[:2])
    qm9.prepare_qm9(tmp_path / "out", source=src, workers=0)
    graphs = {}
    for s in qm9.SPLITS:
        graphs.update(load_split(tmp_path / "out", s))
    assert len(graphs) == 4
    total_charge = {g.name: sum(QM9.charges[c] for c in g.charge.tolist()) for g in graphs.values()}
    assert all(v == 0 for v in total_charge.values())  # zwitterions: +1 and -1
    charged_names = {f"dsgdb9nsd_{int(r[header.index('Index')]):06d}" for r in charged[:2]}
    for name in charged_names:
        assert sorted(QM9.charges[c] for c in graphs[name].charge.tolist() if QM9.charges[c]) == [-1, 1]
    for r in triple[:2]:
        g = graphs[f"dsgdb9nsd_{int(r[header.index('Index')]):06d}"]
        assert 3 in bond_dict(g).values()


def test_split_sizes_edm_and_limit():
    assert qm9.split_sizes(130_831) == ((100_000, 17_748, 13_083),) * 2
    seg, kept = qm9.split_sizes(130_831, limit=1000)
    assert seg == (100_000, 17_748, 13_083) and kept == (764, 136, 100)
    assert qm9.split_sizes(300) == ((229, 41, 30),) * 2


def test_split_positions_deterministic_disjoint_nested():
    n = 5000
    a, b, c = qm9.split_positions(n, 0), qm9.split_positions(n, 0), qm9.split_positions(n, 1)
    assert all(np.array_equal(a[s], b[s]) for s in qm9.SPLITS)
    assert not np.array_equal(a["train"], c["train"])
    allpos = np.concatenate([a[s] for s in qm9.SPLITS])
    assert np.array_equal(np.sort(allpos), np.arange(n))
    small = qm9.split_positions(n, 0, limit=500)
    assert [len(small[s]) for s in qm9.SPLITS] == [382, 68, 50]
    for s in qm9.SPLITS:  # a limited split is part of the same full split
        assert set(small[s]) <= set(a[s])


def test_prepared_split_membership_is_seeded(tmp_path, sample):
    out, _ = sample
    header, rows = read_rows()
    names = [f"dsgdb9nsd_{int(r[header.index('Index')]):06d}" for r in rows]
    expected = qm9.split_positions(len(rows), 0)
    for s in qm9.SPLITS:
        assert sorted(load_split(out, s)) == sorted(names[p] for p in expected[s])
    qm9.prepare_qm9(tmp_path / "seed1", source=SAMPLE, seed=1, workers=0)
    assert sorted(load_split(tmp_path / "seed1", "test")) != sorted(load_split(out, "test"))


def test_broken_rows_are_skipped_without_shifting_others(tmp_path):
    header, rows = read_rows()
    rows = rows[:60]
    ci = {c: header.index(c) for c in header}
    broken = [list(r) for r in rows]
    broken[3][ci["XYZ_Ang"]] = broken[3][ci["XYZ_Ang"]].rsplit("],", 1)[0] + "]]"  # one atom short
    broken[7][ci["SMILES"]] = "C1CC(("
    broken[9][ci["Index"]] = "not-a-number"
    # Two molecules with the same formula swap SMILES: both coordinate graphs now differ from them.
    seen: dict[str, int] = {}
    for k in range(10, len(rows)):
        formula = rows[k][ci["Stoichiometry"]]
        if formula in seen:
            a, b = seen[formula], k
            break
        seen[formula] = k
    broken[a][ci["SMILES"]], broken[b][ci["SMILES"]] = rows[b][ci["SMILES"]], rows[a][ci["SMILES"]]

    good = qm9.prepare_qm9(
        tmp_path / "good", source=write_rows(tmp_path / "good.csv", header, rows), workers=0
    )
    bad = qm9.prepare_qm9(
        tmp_path / "bad", source=write_rows(tmp_path / "bad.csv", header, broken), workers=0
    )
    assert good["skipped"] == 0 and good["kept"] == 60
    assert bad["skip_reasons"] == {
        "coordinate connectivity differs from SMILES graph": 2,
        "XYZ_Ang does not match the Elements list": 1,
        "SMILES unparsable": 1,
        "malformed CSV row": 1,
    }
    assert bad["kept"] == 55
    assert bad["skip_examples"]["SMILES unparsable"] == f"dsgdb9nsd_{int(rows[7][ci['Index']]):06d}"
    for s in qm9.SPLITS:  # the molecules left keep their split
        good_names, bad_names = set(load_split(tmp_path / "good", s)), set(load_split(tmp_path / "bad", s))
        assert bad_names <= good_names
    lost = set().union(*(load_split(tmp_path / "good", s) for s in qm9.SPLITS)) - set().union(
        *(load_split(tmp_path / "bad", s) for s in qm9.SPLITS)
    )
    assert lost == {f"dsgdb9nsd_{int(rows[k][ci['Index']]):06d}" for k in (3, 7, 9, a, b)}


def test_coordinate_bonds_count_equals_smiles_bonds_on_sample():
    header, rows = read_rows()
    ci = {c: header.index(c) for c in header}
    for r in rows:
        symbols, pos = qm9.parse_csv_geometry(r[ci["Elements"]], r[ci["XYZ_Ang"]])
        ref = Chem.AddHs(Chem.MolFromSmiles(r[ci["SMILES"]]))
        assert len(qm9.coordinate_bonds(symbols, pos)) == ref.GetNumBonds(), r[ci["SMILES"]]


def test_hard_cases_strained_contacts_and_skips(tmp_path):
    header, rows = read_rows(HARD)
    ci = {c: header.index(c) for c in header}
    by_index = {int(r[ci["Index"]]): r for r in rows}
    for idx in (44763, 45193):  # a plain 1.3 × covalent-radius cutoff adds one bond; the degree cap does not
        r = by_index[idx]
        symbols, pos = qm9.parse_csv_geometry(r[ci["Elements"]], r[ci["XYZ_Ang"]])
        rad = np.array([{"H": 0.31, "C": 0.76, "N": 0.71, "O": 0.66}[s] for s in symbols])
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1) / (rad[:, None] + rad[None])
        plain = int((d[np.triu_indices(len(symbols), 1)] < 1.3).sum())
        n_smiles = Chem.AddHs(Chem.MolFromSmiles(r[ci["SMILES"]])).GetNumBonds()
        assert plain == n_smiles + 1
        assert len(qm9.coordinate_bonds(symbols, pos)) == n_smiles
        mol = qm9.build_molecule(symbols, pos, r[ci["SMILES"]])
        assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == Chem.CanonSmiles(r[ci["SMILES"]])
    summary = qm9.prepare_qm9(tmp_path / "hard", source=HARD, workers=0)
    assert summary["kept"] == 3
    assert summary["skip_reasons"] == {"coordinate connectivity differs from SMILES graph": 2}


def test_symmetric_match_puts_double_bond_on_shorter_bond():
    header, rows = read_rows(HARD)
    ci = {c: header.index(c) for c in header}
    row = next(r for r in rows if r[ci["SMILES"]] == "[NH3+]CCC([O-])=O")
    symbols, pos = qm9.parse_csv_geometry(row[ci["Elements"]], row[ci["XYZ_Ang"]])
    mol = qm9.build_molecule(symbols, pos, row[ci["SMILES"]])
    carboxyl_c = next(
        a
        for a in mol.GetAtoms()
        if sorted(n.GetSymbol() for n in a.GetNeighbors() if n.GetSymbol() == "O" and n.GetDegree() == 1)
        == ["O", "O"]
    )
    c = carboxyl_c.GetIdx()
    o_double, o_single = sorted(
        (b.GetOtherAtomIdx(c) for b in carboxyl_c.GetBonds() if b.GetOtherAtom(carboxyl_c).GetDegree() == 1),
        key=lambda o: mol.GetBondBetweenAtoms(c, o).GetBondType() != Chem.BondType.DOUBLE,
    )
    assert mol.GetAtomWithIdx(o_single).GetFormalCharge() == -1
    assert np.linalg.norm(pos[o_double] - pos[c]) < np.linalg.norm(pos[o_single] - pos[c])
    # Stretch the C=O to 1.32 Å and shorten C-O- to 1.18 Å: the double bond (and the charge) must swap.
    moved = pos.copy()
    for o, length in ((o_double, 1.32), (o_single, 1.18)):
        v = pos[o] - pos[c]
        moved[o] = pos[c] + v / np.linalg.norm(v) * length
    swapped = qm9.build_molecule(symbols, moved, row[ci["SMILES"]])
    assert swapped.GetBondBetweenAtoms(c, o_single).GetBondType() == Chem.BondType.DOUBLE
    assert swapped.GetBondBetweenAtoms(c, o_double).GetBondType() == Chem.BondType.SINGLE
    assert swapped.GetAtomWithIdx(o_double).GetFormalCharge() == -1


def test_official_archive_and_xyz_folder(tmp_path):
    header, rows = read_rows()
    dict_rows = [dict(zip(header, r)) for r in rows[:12]]
    excluded = int(dict_rows[5]["Index"])
    tar_path = tmp_path / qm9.QM9_ARCHIVE
    with tarfile.open(tar_path, "w:bz2") as tar:
        for k, r in enumerate(dict_rows):
            data = official_xyz(r, star_exponents=(k % 2 == 0)).encode()
            info = tarfile.TarInfo(f"dsgdb9nsd_{int(r['Index']):06d}.xyz")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (tmp_path / qm9.QM9_EXCLUDED).write_text(
        "Uncharacterized molecules\n  Index   GDB17-SMILES\n" + f"  {excluded}  {dict_rows[5]['SMILES']}\n"
    )
    summary = qm9.prepare_qm9(tmp_path / "from_tar", source=tar_path, workers=0)
    assert summary["kept"] == 11 and summary["skipped"] == 0 and summary["excluded_uncharacterized"] == 1
    from_tar = {}
    for s in qm9.SPLITS:
        from_tar.update(load_split(tmp_path / "from_tar", s))
    assert f"dsgdb9nsd_{excluded:06d}" not in from_tar

    # The same molecules read from the CSV give the same graphs.
    csv_src = write_rows(tmp_path / "same.csv", header, [r for k, r in enumerate(rows[:12]) if k != 5])
    qm9.prepare_qm9(tmp_path / "from_csv", source=csv_src, workers=0)
    for s in qm9.SPLITS:
        a, b = load_split(tmp_path / "from_tar", s), load_split(tmp_path / "from_csv", s)
        assert sorted(a) == sorted(b)
        for name in a:
            assert torch.equal(a[name].atom_type, b[name].atom_type)
            assert torch.allclose(a[name].pos, b[name].pos, atol=1e-6)
            assert bond_dict(a[name]) == bond_dict(b[name])

    folder = tmp_path / "xyz"
    folder.mkdir()
    for r in dict_rows:
        (folder / f"dsgdb9nsd_{int(r['Index']):06d}.xyz").write_text(official_xyz(r))
    summary = qm9.prepare_qm9(tmp_path / "from_dir", source=folder, workers=0)
    assert summary["kept"] == 12 and summary["excluded_uncharacterized"] == 0


def test_parse_xyz_block_star_exponent():
    header, rows = read_rows()
    row = dict(zip(header, rows[0]))
    index, symbols, pos, smiles = qm9.parse_xyz_block(official_xyz(row, star_exponents=True))
    ref_symbols, ref_pos = qm9.parse_csv_geometry(row["Elements"], row["XYZ_Ang"])
    assert index == int(row["Index"]) and smiles == row["SMILES"] and symbols == ref_symbols
    np.testing.assert_allclose(pos, ref_pos, atol=1e-9)
    with pytest.raises(qm9.SkipRecord):
        qm9.parse_xyz_block("3\ngdb 1 1 2\nC 0 0 0 0\n")


def test_download_from_local_file_url(tmp_path, monkeypatch):
    header, rows = read_rows()
    src = tmp_path / "remote"
    src.mkdir()
    with tarfile.open(src / "archive.tar.bz2", "w:bz2") as tar:
        for r in rows[:5]:
            data = official_xyz(dict(zip(header, r))).encode()
            info = tarfile.TarInfo(f"dsgdb9nsd_{int(r[1]):06d}.xyz")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (src / "unc.txt").write_text(f"header\n {int(rows[0][1])} C\n")
    monkeypatch.setattr(qm9, "QM9_URL", (src / "archive.tar.bz2").as_uri())
    monkeypatch.setattr(qm9, "QM9_EXCLUDED_URL", (src / "unc.txt").as_uri())
    monkeypatch.setattr(qm9, "QM9_NUM_XYZ", 5)
    monkeypatch.setattr(qm9, "QM9_NUM_EXCLUDED", 1)
    monkeypatch.setattr(qm9, "installed_qm9pack_dir", lambda: None)
    summary = qm9.prepare_qm9(tmp_path / "out", download=True, cache_dir=tmp_path / "cache", workers=0)
    assert summary["kept"] == 4 and summary["excluded_uncharacterized"] == 1
    note = json.loads((tmp_path / "cache" / (qm9.QM9_ARCHIVE + ".verified")).read_text())
    assert note["size"] == (src / "archive.tar.bz2").stat().st_size

    monkeypatch.setattr(qm9, "QM9_NUM_XYZ", 6)  # verification catches a wrong member count
    (tmp_path / "cache" / (qm9.QM9_ARCHIVE + ".verified")).unlink()
    with pytest.raises(MolgenError, match="holds 5 .xyz files, expected 6"):
        qm9.download_qm9(tmp_path / "cache")


def test_missing_source_is_a_user_error(tmp_path, monkeypatch):
    with pytest.raises(MolgenError, match="QM9 source not found"):
        qm9.prepare_qm9(tmp_path / "out", source=tmp_path / "nope.csv")
    monkeypatch.setattr(qm9, "installed_qm9pack_dir", lambda: None)
    with pytest.raises(MolgenError, match="qm9pack") as err:
        qm9.prepare_qm9(tmp_path / "out")
    assert "\n" not in str(err.value) and "--download" in str(err.value)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(MolgenError, match="lacks the qm9pack columns"):
        qm9.prepare_qm9(tmp_path / "out", source=tmp_path / "other.csv")
    (tmp_path / "bad.tar.bz2").write_bytes(b"not an archive")
    with pytest.raises(MolgenError, match="corrupt"):
        qm9.verify_archive(tmp_path / "bad.tar.bz2", expected_xyz=1)


def test_installed_qm9pack_is_found_without_import():
    import sys

    found = qm9.installed_qm9pack_dir()
    if found is None:
        pytest.skip("qm9pack not installed")
    assert sorted(p.name for p in found.glob("qm9_part*.csv")) == [
        "qm9_part1.csv",
        "qm9_part2.csv",
        "qm9_part3.csv",
    ]
    assert "qm9pack" not in sys.modules


@pytest.mark.slow
def test_full_qm9(tmp_path):
    if qm9.installed_qm9pack_dir() is None:
        pytest.skip("qm9pack not installed")
    summary = qm9.prepare_qm9(tmp_path / "qm9")
    assert summary["source_molecules"] == 130_831
    assert {s: v["assigned"] for s, v in summary["splits"].items()} == {
        "train": 100_000,
        "val": 17_748,
        "test": 13_083,
    }
    assert summary["kept"] + summary["skipped"] == 130_831
    assert summary["skipped"] < 0.02 * 130_831
    assert set(summary["skip_reasons"]) <= {
        "coordinate connectivity differs from SMILES graph",
        "SMILES after bond assignment differs from source SMILES",
        "composition differs from SMILES",
    } | {r for r in summary["skip_reasons"] if r.startswith("RDKit sanitisation failed")}
    for s in qm9.SPLITS:
        assert len(MoleculeCache(tmp_path / "qm9" / s)) == summary["splits"][s]["kept"]


def test_heavy_atom_preparation_matches_the_explicit_one(tmp_path, sample):
    """``vocab="qm9_heavy"``: the same molecules in the same splits, heavy atoms only, Kekulé bonds, and
    every graph gives back its molecule (same SMILES, heavy coordinates bit-exact) once RDKit adds the
    hydrogens; a second call with the same parameters reuses the preparation."""
    from molgen.chem.convert import graph_to_mol
    from molgen.chem.vocab import QM9_HEAVY

    full_out, full = sample
    out = tmp_path / "heavy"
    summary = qm9.prepare_qm9(out, source=SAMPLE, seed=0, workers=0, vocab="qm9_heavy")
    assert summary["splits"] == full["splits"] and summary["params"]["vocab"] == "qm9_heavy"
    for s in qm9.SPLITS:
        heavy, explicit = MoleculeCache(out / s), MoleculeCache(full_out / s)
        assert heavy.vocab == QM9_HEAVY and len(heavy) == len(explicit)
        for gh, ge in zip(heavy, explicit):
            assert gh.name == ge.name and gh.smiles == ge.smiles
            keep = ge.atom_type != QM9.elements.index("H")
            assert torch.equal(gh.pos, ge.pos[keep]) and gh.num_nodes == int(keep.sum())
            assert not (gh.bond_type == 4).any()  # no aromatic class: Kekulé
            mol = graph_to_mol(gh.atom_type, gh.charge, gh.edge_index, gh.bond_type, gh.pos, QM9_HEAVY)
            Chem.SanitizeMol(mol)
            assert Chem.MolToSmiles(mol) == ge.smiles
    assert (out / "train_smiles.txt").read_text() == (full_out / "train_smiles.txt").read_text()
    assert qm9.prepare_qm9(out, source=SAMPLE, seed=0, workers=0, vocab="qm9_heavy")["seconds"] == summary["seconds"]
    with pytest.raises(MolgenError, match="qm9 or qm9_heavy"):
        qm9.prepare_qm9(tmp_path / "x", source=SAMPLE, vocab="drug")
