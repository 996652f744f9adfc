"""Every distribution plot overlays the training statistics and/or the reference file with a distance
in the legend, and says so in the legend when it has no reference; best molecules are never radicals
or hydrogen-only fragments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from molgen.analysis import (
    load_training_stats,
    plot_atom_types,
    plot_bond_orders,
    plot_geometry,
    plot_property_distributions,
    plot_ring_sizes,
)
from molgen.analysis.distances import jensen_shannon, wasserstein
from molgen.analysis.molecules import best_molecules, eligible_molecules, ranking_statement, unusable_reason
from molgen.analysis.reference import TrainingStats
from molgen.data.stats import BOND_BINS
from molgen.errors import MolgenError
from molgen.validation.distributions import FeatureSet, molecule_features
from tests.conftest import ROOT


def _features(smiles: list[str]) -> FeatureSet:
    fs = FeatureSet()
    for i, smi in enumerate(smiles):
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        assert AllChem.EmbedMolecule(mol, randomSeed=i) == 0
        fs.add(molecule_features(mol))
    return fs


def _stats(hydrogens: bool = True) -> dict:
    """A small stats dict in the :mod:`molgen.data.stats` layout."""
    single = [0] * BOND_BINS["n"]
    single[21], single[30] = 6, 2  # 1.05-1.10 Å and 1.50-1.55 Å
    bonds = {c: {"count": 0, "hist": [0] * BOND_BINS["n"], "above": 0} for c in ("double", "triple", "aromatic")}
    bonds["single"] = {"count": 8, "hist": single, "above": 0}
    elements = ["H", "C", "O"] if hydrogens else ["C", "O"]
    counts = {"H": 12, "C": 6, "O": 2} if hydrogens else {"C": 6, "O": 2}
    return {"version": 1, "vocab": {"elements": elements, "charges": [0]}, "num_graphs": 3,
            "num_atoms": {"hist": {"9": 2, "12": 1} if hydrogens else {"3": 3}},
            "atom_types": {"counts": counts, "freq": {}}, "bond_length_bins": dict(BOND_BINS), "bonds": bonds}


def _labels(ax) -> list[str]:
    return ax.get_legend_handles_labels()[1]


def _visible(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def test_properties_against_training_stats_and_plain_note_without_reference():
    table = pd.DataFrame({"id": list("abcd"), "n_atoms": [9, 10, 12, 14], "n_heavy_atoms": [3, 3, 4, 5],
                          "qed": [0.4, 0.5, np.nan, 0.6], "sa": [2.0, 3.0, np.nan, 4.0]})
    fig = plot_property_distributions(table, None, stats=_stats())
    qed, sa, atoms = _visible(fig)
    w1 = wasserstein([9, 10, 12, 14], [9, 9, 12])
    assert _labels(atoms) == ["generated (n=4)", f"training set (n=3), W1 {w1:.3g} atoms"]
    assert w1 == pytest.approx(1.25)  # sorted quantiles 9,10,12,14 vs 9,9,12: by hand
    for ax, what in ((qed, "QED"), (sa, "SA score")):
        assert _labels(ax)[0] == "generated (n=3)"
        assert " ".join(_labels(ax)[1].split()) == (
            f"no reference: the training statistics hold no {what} and no reference file was given")
    # a model trained without hydrogens: its sizes are heavy-atom counts, compared with n_heavy_atoms
    fig = plot_property_distributions(table, None, stats=_stats(hydrogens=False))
    heavy = [ax for ax in _visible(fig) if ax.get_xlabel() == "heavy atoms per molecule"]
    assert len(heavy) == 1 and _labels(heavy[0])[1].startswith("training set (n=3), W1 ")
    atoms = next(ax for ax in _visible(fig) if ax.get_xlabel() == "atoms per molecule (with H)")
    assert "no reference" in _labels(atoms)[1]


def test_properties_against_a_reference_file(tmp_path):
    from molgen.analysis import load_reference_set

    p = tmp_path / "ref.smi"
    p.write_text("CCO\nc1ccccc1\nCC(=O)O\n")
    ref = load_reference_set(p, max_molecules=None)
    table = pd.DataFrame({"id": ["a", "b"], "qed": [0.3, 0.5], "n_atoms": [9, 12],
                          "strain_energy_kcal_mol": [12.0, 40.0]})
    fig = plot_property_distributions(table, ref, properties=("qed", "strain_energy_kcal_mol"))
    qed, strain = _visible(fig)
    w1 = wasserstein([0.3, 0.5], ref.table["qed"])
    assert _labels(qed)[1] == f"reference ref.smi (n=3), W1 {w1:.3g}"
    # SMILES have no 3D structure, so no strain: said in the legend, not left blank
    assert sorted(" ".join(lab.split()) for lab in _labels(strain)) == [
        "generated (n=2)", "no reference: reference ref.smi has no strain energy"]


def test_atom_types_and_ring_sizes_with_js_distance():
    gen = _features(["CCO", "C1CC1", "c1ccccc1"])
    ref = _features(["CCO", "C1CCCCC1O"])
    fig = plot_atom_types(gen, _stats(), ref)
    (ax,) = _visible(fig)
    train_js = jensen_shannon(dict(gen.atom_types), {"H": 12, "C": 6, "O": 2})
    ref_js = jensen_shannon(dict(gen.atom_types), dict(ref.atom_types))
    n_gen, n_ref = sum(gen.atom_types.values()), sum(ref.atom_types.values())
    assert _labels(ax) == [f"generated atoms (n={n_gen})", f"training set (n=20), JS {train_js:.3g}",
                           f"reference (n={n_ref}), JS {ref_js:.3g}"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["H", "C", "O"]
    # without hydrogens in the training vocabulary, H is left out on every side
    (ax,) = _visible(plot_atom_types(gen, _stats(hydrogens=False), ref))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["C", "O"] and ax.get_xlabel().endswith("(heavy atoms)")
    # ring sizes: the training statistics hold none; a reference file gives the overlay
    (ax,) = _visible(plot_ring_sizes(gen, None, _stats()))
    assert sorted(" ".join(lab.split()) for lab in _labels(ax)) == [
        "generated rings (n=2)",
        "no reference: the training statistics hold no ring sizes and no reference file was given"]
    (ax,) = _visible(plot_ring_sizes(gen, ref))
    assert _labels(ax)[1] == f"reference (n=1), JS {jensen_shannon({3: 1, 6: 1}, {6: 1}):.3g}"


def test_bond_orders_against_training_stats():
    gen = _features(["CCO", "CC#N"])
    fig = plot_bond_orders(gen, _stats())
    axes = _visible(fig)
    assert [ax.get_title() for ax in axes] == ["single", "triple"]  # the stats have single bonds only
    single = np.concatenate([v for k, v in gen.bond_lengths.items() if "-" in k])
    edges = BOND_BINS["lo"] + BOND_BINS["width"] * np.arange(BOND_BINS["n"] + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    gc = np.histogram(single, bins=edges)[0]
    tc = np.zeros(BOND_BINS["n"])
    tc[21], tc[30] = 6, 2
    w1 = wasserstein(centres, centres, gc, tc)
    assert _labels(axes[0]) == [f"training set (n=8), W1 {w1:.3g} Å", f"generated (n={len(single)})"]
    # triple bonds: generated only, and the stats have none; said plainly
    assert "generated (n=1)" in _labels(axes[1])
    fig = plot_bond_orders(gen, None, None)
    assert all(any(lab.startswith("no reference: no checkpoint statistics") for lab in _labels(ax))
               for ax in _visible(fig))


def test_geometry_without_reference_says_why():
    gen = _features(["CCO"])
    for kind, why in (("bond_lengths", "lengths per bond order only"), ("bond_angles", "hold no angles")):
        fig = plot_geometry(gen, None, kind, top=3)
        for ax in _visible(fig):
            text = " ".join(_labels(ax)[-1].split())
            assert text.startswith("no reference: no reference SDF given") and why in text


def test_training_stats_of_the_shipped_checkpoint(tmp_path):
    ts = load_training_stats(ROOT / "data" / "checkpoints" / "qm9_flow.ckpt")
    assert ts.has_hydrogens and ts.num_graphs == sum(ts.sizes().values()) > 1000
    assert set(ts.atom_types()) == {"H", "C", "N", "O", "F"}
    edges, counts = ts.bond_lengths("single")
    assert len(edges) == len(counts) + 1 and counts.sum() > 0 and ts.bond_lengths("nonexistent") is None
    bad = tmp_path / "x.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(MolgenError, match="x.ckpt"):
        load_training_stats(bad)
    assert TrainingStats("s", _stats(hydrogens=False)).elements == ["C", "O"]


def test_best_molecules_are_never_radicals_or_hydrogen_fragments():
    smiles = {"ok1": "CCO", "rad": "[CH3]", "h2": "[H][H]", "frag": "CCO.O", "ok2": "c1ccccc1O",
              "hx": "CC.[H][H]"}
    mols = {k: Chem.AddHs(Chem.MolFromSmiles(s)) for k, s in smiles.items()}
    assert {k: unusable_reason(m) for k, m in mols.items()} == {
        "ok1": None, "rad": "radical", "h2": "hydrogen only", "frag": "several fragments", "ok2": None,
        "hx": "hydrogen only"}
    assert unusable_reason(None) == "no structure"
    # a table that (wrongly) calls them all valid and connected, the radical and H2 ranked first
    t = pd.DataFrame({"id": list(smiles), "valid": True, "valid_connected": True,
                      "qed": [0.4, 0.99, 0.98, 0.97, 0.5, 0.96]})
    assert best_molecules(t, by="qed", molecules=mols)["id"].tolist() == ["ok2", "ok1"]
    assert best_molecules(t, by="qed")["id"].tolist()[:2] == ["rad", "h2"]  # without the molecules
    # the table's own flags count too
    t2 = t.assign(valid_connected=[True, True, True, True, False, True], n_radical_electrons=[0, 1, 0, 0, 0, 0])
    assert eligible_molecules(t2)["id"].tolist() == ["ok1", "h2", "frag", "hx"]
    assert ranking_statement("vina_kcal_mol") == "ranked by Vina score (kcal/mol) (vina_kcal_mol; lower is better)"
    assert ranking_statement("qed") == "ranked by QED (qed; higher is better)"
