"""Pose and conformer generation: the molecular graph is held exactly, only coordinates change."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from molgen.chem.vocab import DRUG
from molgen.processes import build_process
from molgen.processes.sampler import sample
from molgen.sampling.conditioning import load_pocket
from molgen.sampling.pose import (
    PoseProcess,
    generate_poses,
    heavy_rmsd,
    molecule_graph,
    molecule_input,
    pose_template,
    stereo_matches,
)
from tests.conftest import run_cli
from tests.sampling.test_conditioning import LIGAND, PROTEIN, pocket_model_path

PARACETAMOL = "CC(=O)Nc1ccc(O)cc1"


@pytest.fixture(scope="session")
def pocket_model(tmp_path_factory):
    return pocket_model_path(tmp_path_factory)


def _smiles_h(mol: Chem.Mol) -> str:
    """Canonical SMILES with every hydrogen, no stereo: the molecular graph."""
    m = Chem.Mol(mol)
    Chem.SanitizeMol(m)
    return Chem.MolToSmiles(m, isomericSmiles=False, allHsExplicit=True)


def test_progressive_view_reveals_monotonically_with_kappa():
    """Masked mode: nothing revealed at t = 0, all at t = 1, a fraction ~ kappa(t) = t in between, and
    an item once revealed stays revealed; the held state itself never changes."""
    mol = molecule_input(smiles="CCCCCCCCCCCCCCCCCCCC")  # 62 atoms, 1891 pairs
    graph = molecule_graph(mol, DRUG)
    template = pose_template(graph, 4, dtype=torch.float64)
    process = build_process("flow", DRUG.num_types, DRUG.num_charges)
    proc = PoseProcess(process, template, "progressive", torch.Generator().manual_seed(0))
    mask = process.cat["bond"].mask_index
    shown = []
    for t in (0.0, 0.3, 0.6, 1.0):
        view = proc.class_view(template, torch.full((4,), t, dtype=torch.float64))
        s = view.bond != mask
        shown.append(s)
        frac = s.double().mean().item()
        assert abs(frac - t) < 0.03, (t, frac)
        assert torch.equal(view.bond[s], template.bond[s])
    for a, b in itertools.pairwise(shown):
        assert not (a & ~b).any()  # monotone
    held = proc.hold(process.prior(template, torch.Generator().manual_seed(1)))
    assert torch.equal(held.atom_type, template.atom_type) and torch.equal(held.bond, template.bond)


@pytest.mark.parametrize("view", ["progressive", "revealed"])
def test_pose_sampling_keeps_graph_moves_coordinates(pocket_model, view):
    from molgen.training import load_model

    gm = load_model(pocket_model)
    mol = molecule_input(smiles=PARACETAMOL)
    graph = molecule_graph(mol, gm.vocab)
    template = pose_template(graph, 3, node_attr_dim=gm.model.net.node_attr_dim)
    proc = PoseProcess(gm.process, template, view, torch.Generator().manual_seed(0))
    final = sample(gm.model, proc, template, 4, generator=torch.Generator().manual_seed(0))
    for f in ("atom_type", "charge", "bond"):
        assert torch.equal(getattr(final, f), getattr(template, f))
    pos = final.pos.reshape(3, graph.num_nodes, 3)
    assert torch.isfinite(pos).all() and not torch.allclose(pos[0], pos[1])
    # no fixed atom: the centre of mass sits at the centre (origin)
    assert pos.mean(1).abs().max() < 1e-4


def test_pose_cli_smiles_conformers(pocket_model, tmp_path):
    out = tmp_path / "conf.sdf"
    assert run_cli(["pose", "-c", str(pocket_model), "--smiles", PARACETAMOL, "--num", "3", "--steps", "3",
                    "--out", str(out)]) == 0
    want = _smiles_h(Chem.AddHs(Chem.MolFromSmiles(PARACETAMOL)))
    mols = list(Chem.SDMolSupplier(str(out), sanitize=False, removeHs=False))
    assert len(mols) == 3
    for m in mols:
        assert _smiles_h(m) == want  # same graph, hydrogens included
        assert np.abs(m.GetConformer().GetPositions().mean(0)).max() < 1e-3
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["pocket"] is None and summary["rank"] == "none" and summary["num"] == 3


def test_pose_in_pocket_keeps_graph_and_frame(pocket_model, tmp_path):
    from molgen.training import load_model

    gm = load_model(pocket_model)
    ref = Chem.MolFromMolFile(str(LIGAND), removeHs=False)
    mol = molecule_input(ligand=LIGAND)
    pocket = load_pocket(PROTEIN, ref_ligand=LIGAND, vocab=gm.vocab)
    poses = generate_poses(gm.model, gm.process, gm.vocab, mol, 3, 3, pocket=pocket,
                           node_attr_dim=gm.model.net.node_attr_dim, seed=4)
    assert len(poses) == 3
    for p in poses:
        assert _smiles_h(p) == _smiles_h(mol) and p.GetNumAtoms() == mol.GetNumAtoms()
        assert [a.GetSymbol() for a in p.GetAtoms()] == [a.GetSymbol() for a in mol.GetAtoms()]
        c = p.GetConformer().GetPositions().mean(0)
        assert np.linalg.norm(c - pocket.center.numpy()) < 4.0  # the protein's frame
        assert p.GetProp("stereo_ok") in ("0", "1")
        assert math.isfinite(heavy_rmsd(p, ref))
    out = tmp_path / "poses.sdf"
    assert run_cli(["pose", "-c", str(pocket_model), "--ligand", str(LIGAND), "--protein", str(PROTEIN),
                    "--ref-ligand", str(LIGAND), "--rank", "none", "--num", "2", "--steps", "3",
                    "--out", str(out)]) == 0
    written = list(Chem.SDMolSupplier(str(out), sanitize=False, removeHs=False))
    assert len(written) == 2 and all(_smiles_h(m) == _smiles_h(mol) for m in written)
    assert all(float(m.GetProp("rmsd_to_ref_A")) >= 0 for m in written)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["pocket"]["mode"] == "ref_ligand" and len(summary["rmsd_to_ref_A"]) == 2


@pytest.mark.docking
def test_pose_ranked_by_vina(pocket_model, tmp_path):
    out = tmp_path / "ranked.sdf"
    assert run_cli(["pose", "-c", str(pocket_model), "--ligand", str(LIGAND), "--protein", str(PROTEIN),
                    "--ref-ligand", str(LIGAND), "--rank", "score", "--num", "3", "--steps", "3",
                    "--out", str(out)]) == 0
    mols = list(Chem.SDMolSupplier(str(out), sanitize=False, removeHs=False))
    scores = [float(m.GetProp("vina_kcal_mol")) for m in mols]
    finite = [s for s in scores if math.isfinite(s)]
    assert len(mols) == 3 and scores[:len(finite)] == sorted(finite)  # best first, failures last
    assert [int(m.GetProp("pose_rank")) for m in mols] == [0, 1, 2]


def test_stereo_check():
    mol = Chem.AddHs(Chem.MolFromSmiles("C[C@H](N)c1ccccc1"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    Chem.AssignStereochemistryFrom3D(mol)
    mirror = Chem.Mol(mol)
    conf = mirror.GetConformer()
    for k in range(mirror.GetNumAtoms()):
        p = conf.GetAtomPosition(k)
        conf.SetAtomPosition(k, (-p.x, p.y, p.z))
    assert stereo_matches(mol, mol) and not stereo_matches(mol, mirror)
    flat = Chem.AddHs(Chem.MolFromSmiles("CC(N)c1ccccc1"))  # no stereo specified: anything goes
    AllChem.EmbedMolecule(flat, randomSeed=1)
    assert stereo_matches(flat, flat)


def test_pose_cli_errors(pocket_model, tmp_path, capsys):
    out = str(tmp_path / "x.sdf")
    capsys.readouterr()
    cases = [
        (["--smiles", "CCO", "--ligand", str(LIGAND)], "exactly one of --ligand"),
        (["--smiles", "C1CC"], "cannot parse SMILES"),
        (["--smiles", "CCO", "--rank", "score"], "needs --protein"),
        (["--smiles", "CCO", "--protein", str(tmp_path / "none.pdb"), "--ref-ligand", str(LIGAND)],
         "protein file not found"),
    ]
    for extra, msg in cases:
        assert run_cli(["pose", "-c", str(pocket_model), *extra, "--num", "1", "--steps", "2", "--out", out]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and msg in err, err
