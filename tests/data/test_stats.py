"""Dataset statistics against values worked out by hand on a tiny set."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch_geometric.data import Data

from molgen.chem.convert import bonds_to_edges
from molgen.chem.vocab import POCKET_ELEMENTS, QM9
from molgen.data.cache import MoleculeCache, write_cache
from molgen.data.stats import BOND_BINS, compute_stats, size_histogram, write_stats

# QM9 vocabulary: atom types H0 C1 N2 O3 F4; charge indices -1 -> 0, 0 -> 1, +1 -> 2.


def graph(types, charges, pos, bonds, **extra) -> Data:
    pairs = [(i, j) for i, j, _ in bonds]
    ei, bt = bonds_to_edges(pairs, [t for _, _, t in bonds])
    return Data(
        pos=torch.tensor(pos, dtype=torch.float32),
        atom_type=torch.tensor(types),
        charge=torch.tensor(charges),
        edge_index=ei,
        bond_type=bt,
        num_nodes=len(types),
        **extra,
    )


def tiny_set() -> list[Data]:
    # G1 H2C=O: C-H 1.09, 1.09 Å (single), C=O 1.21 Å (double)
    g1 = graph(
        [1, 3, 0, 0],
        [1, 1, 1, 1],
        [[0, 0, 0], [1.21, 0, 0], [0, 1.09, 0], [0, -1.09, 0]],
        [(0, 1, 2), (0, 2, 1), (0, 3, 1)],
    )
    # G2 [C-]#[N+]: triple 1.16 Å
    g2 = graph([1, 2], [0, 2], [[0, 0, 0], [0, 0, 1.16]], [(0, 1, 3)])
    # G3 C:C-F: aromatic 1.39 Å; a "single" C-F of 3.2 Å lands above the 3 Å histogram range
    g3 = graph([1, 1, 4], [1, 1, 1], [[0, 0, 0], [1.39, 0, 0], [1.39, 3.2, 0]], [(0, 1, 4), (1, 2, 1)])
    return [g1, g2, g3]


def test_compute_stats_hand_values():
    s = compute_stats(tiny_set(), QM9)
    assert s["num_graphs"] == 3
    assert s["num_atoms"] == {"hist": {"2": 1, "3": 1, "4": 1}, "min": 2, "max": 4, "mean": 3.0}
    assert s["atom_types"]["counts"] == {"H": 2, "C": 4, "N": 1, "O": 1, "F": 1}
    assert s["atom_types"]["freq"] == pytest.approx(
        {"H": 2 / 9, "C": 4 / 9, "N": 1 / 9, "O": 1 / 9, "F": 1 / 9}
    )
    assert s["charges"]["counts"] == {"-1": 1, "0": 7, "1": 1}
    assert s["charges"]["freq"] == pytest.approx({"-1": 1 / 9, "0": 7 / 9, "1": 1 / 9})
    assert s["bond_length_bins"] == {"lo": 0.0, "hi": 3.0, "width": 0.05, "n": 60}

    single = s["bonds"]["single"]
    mean = (1.09 + 1.09 + 3.2) / 3
    std = math.sqrt((2 * (1.09 - mean) ** 2 + (3.2 - mean) ** 2) / 3)
    assert single["count"] == 3 and single["above"] == 1
    assert single["mean"] == pytest.approx(mean, abs=1e-6)
    assert single["std"] == pytest.approx(std, abs=1e-6)
    assert single["min"] == pytest.approx(1.09, abs=1e-6) and single["max"] == pytest.approx(3.2, abs=1e-6)
    hist = [0] * 60
    hist[21] = 2  # 1.09 Å is in [1.05, 1.10)
    assert single["hist"] == hist

    for name, length, b in (("double", 1.21, 24), ("triple", 1.16, 23), ("aromatic", 1.39, 27)):
        entry = s["bonds"][name]
        hist = [0] * 60
        hist[b] = 1
        assert entry["count"] == 1 and entry["above"] == 0 and entry["hist"] == hist
        assert entry["mean"] == pytest.approx(length, abs=1e-6) and entry["std"] == pytest.approx(
            0.0, abs=1e-6
        )
    assert "pocket_ligand" not in s
    json.dumps(s)  # JSON-ready


def test_absent_bond_class_has_null_moments():
    s = compute_stats(tiny_set()[:1], QM9)
    assert s["bonds"]["triple"] == {
        "count": 0,
        "mean": None,
        "std": None,
        "min": None,
        "max": None,
        "hist": [0] * BOND_BINS["n"],
        "above": 0,
    }


def test_pocket_ligand_histogram():
    gs = tiny_set()
    gs[0].pocket_pos = torch.zeros(25, 3)  # ligand 4 atoms, pocket bin 20-29
    gs[1].pocket_pos = torch.zeros(29, 3)  # ligand 2 atoms, pocket bin 20-29
    gs[2].pocket_pos = torch.zeros(131, 3)  # ligand 3 atoms, pocket bin 130-139
    g4 = tiny_set()[0]
    g4.pocket_pos = torch.zeros(20, 3)  # ligand 4 atoms, pocket bin 20-29
    s = compute_stats(gs + [g4], QM9)
    assert s["pocket_ligand"] == {"bin_width": 10, "hist": {"20": {"2": 1, "4": 2}, "130": {"3": 1}}}
    assert "pocket_heavy_ligand" not in s  # no pocket_element, no heavy-atom table


def test_pocket_heavy_ligand_histogram_ignores_hydrogens():
    # The same pocket with and without hydrogens lands in the same heavy-atom bin (not so in pocket_ligand).
    h = POCKET_ELEMENTS.index("H")
    c = POCKET_ELEMENTS.index("C")
    gs = tiny_set()
    gs[0].pocket_pos = torch.zeros(23, 3)  # 23 heavy atoms, no hydrogens; ligand 4 atoms
    gs[0].pocket_element = torch.full((23,), c)
    gs[1].pocket_pos = torch.zeros(45, 3)  # the same 23 heavy atoms + 22 hydrogens; ligand 2 atoms
    gs[1].pocket_element = torch.cat([torch.full((23,), c), torch.full((22,), h)])
    gs[2].pocket_pos = torch.zeros(131, 3)  # 31 heavy + 100 hydrogens; ligand 3 atoms
    gs[2].pocket_element = torch.cat([torch.full((31,), c), torch.full((100,), h)])
    s = compute_stats(gs, QM9)
    assert s["pocket_heavy_ligand"] == {"bin_width": 10, "hist": {"20": {"2": 1, "4": 1}, "30": {"3": 1}}}
    assert s["pocket_ligand"]["hist"] == {"20": {"4": 1}, "40": {"2": 1}, "130": {"3": 1}}
    assert "pocket_sites" not in s  # no protein names: no sites


def test_pocket_sites_group_complexes_by_protein():
    c, h = POCKET_ELEMENTS.index("C"), POCKET_ELEMENTS.index("H")
    gs = tiny_set()  # ligands of 4, 2 and 3 atoms
    for g, protein, heavy in zip(gs, ["b.pdb", "a.pdb", "b.pdb"], [40, 25, 31]):
        g.protein = protein
        g.pocket_pos = torch.zeros(heavy + 5, 3)
        g.pocket_element = torch.cat([torch.full((heavy,), c), torch.full((5,), h)])  # hydrogens not counted
    s = compute_stats(gs, QM9)
    # one row per protein, sorted by the median heavy pocket atoms: a (25), then b (median of 40 and 31)
    assert s["pocket_sites"] == {"group": "protein", "sites": [
        {"name": "a.pdb", "pocket_heavy_median": 25.0, "ligand_hist": {"2": 1}},
        {"name": "b.pdb", "pocket_heavy_median": 35.5, "ligand_hist": {"3": 1, "4": 1}}]}


def test_write_stats_reads_cache(tmp_path):
    gs = tiny_set()
    write_cache(gs, tmp_path / "c", QM9, shard_size=2)  # two shards
    stats = write_stats(tmp_path / "c")
    assert stats == json.loads((tmp_path / "c" / "stats.json").read_text())
    assert MoleculeCache(tmp_path / "c").stats == stats
    assert stats == json.loads(json.dumps(compute_stats(gs, QM9)))
    assert size_histogram(stats) == {2: 1, 3: 1, 4: 1}
