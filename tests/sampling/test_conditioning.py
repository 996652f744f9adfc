"""Pocket and fragment conditioning: the complex transform, the radius graph, sampling in a pocket
(protein frame, pocket untouched), --residues / --box, bit-exact fragments, CLI errors.

A tiny pocket model is trained for a few steps on three committed complexes (once per session)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from molgen.chem.vocab import DRUG, POCKET_ELEMENTS
from molgen.data.complexes import make_complex
from molgen.data.pocket import RESIDUE_TYPES
from molgen.data.transforms import (
    POCKET_NODE_ATTR_DIM,
    PocketTransform,
    pocket_center,
    random_fragment,
)
from molgen.errors import MolgenError
from molgen.models.egnn import EGNN
from molgen.processes.state import MolState
from molgen.sampling.conditioning import (
    NEAREST_SITES,
    PocketRadiusDenoiser,
    fragment_from_smarts,
    generate_conditioned_graphs,
    load_pocket,
    pocket_sizes,
    site_size_weights,
)
from tests.conftest import DATA, ROOT, TINY_MODEL, run_cli

PB = DATA / "complexes" / "posebusters" / "1S3V"
PROTEIN = PB / "1s3v_protein_one_lig_removed.pdb"
LIGAND = PB / "1s3v_ligand.sdf"
THROMBIN = DATA / "complexes" / "fep" / "thrombin_core"
CHARGE0 = DRUG.charges.index(0)


def pocket_model_path(tmp_path_factory, vocab: str = "drug") -> Path:
    """A pocket model (configs/pocket_flow.yaml, tiny) trained for 4 steps on four committed complexes,
    once per session and vocabulary (``drug``: hydrogens explicit; ``drug_heavy``: the shipped kind)."""
    from molgen.chem.vocab import get_vocab

    run = tmp_path_factory.getbasetemp() / f"pocket_model_{vocab}"
    if (run / "model.ckpt").is_file():
        return run / "model.ckpt"
    from molgen.config import load_config
    from molgen.data.complexes import prepare_complexes
    from molgen.training.train import train

    index = tmp_path_factory.getbasetemp() / "pocket_index.csv"
    with open(index, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["protein", "ligand", "record"])
        w.writerow([PROTEIN, LIGAND, 0])
        for k in range(3):
            w.writerow([THROMBIN / "thrombin_core_protein.pdb", THROMBIN / "thrombin_core_ligands.sdf", k])
    cache = tmp_path_factory.getbasetemp() / f"pocket_cache_{vocab}"
    prepare_complexes(index, cache, get_vocab(vocab), cutoff=6.0, ca_only=False, limit=None)
    cfg = load_config(ROOT / "configs" / "pocket_flow.yaml", [
        f"data.train={cache}", f"data.vocab={vocab}", "data.extra_train=[]", f"out_dir={run}", "data.batch_size=2", "train.max_steps=4", "optim.warmup_steps=1",
        "trainer.log_every_n_steps=1", "train.checkpoint_every_n_steps=4", *TINY_MODEL,
    ])
    train(cfg)
    return run / "model.ckpt"


@pytest.fixture(scope="session")
def pocket_model(tmp_path_factory) -> Path:
    return pocket_model_path(tmp_path_factory)


@pytest.fixture(scope="module")
def complex_1s3v():
    return make_complex(PROTEIN, LIGAND, DRUG, cutoff=8.0)


def _records(path: Path) -> list[dict]:
    """V2000 records read as text (RDKit's reader is slow on the bond-laden garbage a 4-step model
    writes): ``xyz`` (the atom lines' coordinate columns), ``pos [N, 3]``, ``symbols``, ``charges``
    and ``bonds`` (set of (i, j), 0-based, i < j)."""
    out = []
    for block in path.read_text().split("$$$$\n")[:-1]:
        lines = block.splitlines()
        n, nb = int(lines[3][:3]), int(lines[3][3:6])
        atoms = lines[4:4 + n]
        charges = [0] * n
        for line in lines[4 + n + nb:]:
            if line.startswith("M  CHG"):
                v = [int(x) for x in line[6:].split()][1:]
                for a, c in zip(v[::2], v[1::2]):
                    charges[a - 1] = c
        bonds = set()
        for line in lines[4 + n:4 + n + nb]:
            i, j = int(line[:3]) - 1, int(line[3:6]) - 1
            bonds.add((min(i, j), max(i, j)))
        out.append({
            "xyz": [a[:30] for a in atoms], "pos": np.array([[float(a[k:k + 10]) for k in (0, 10, 20)] for a in atoms]),
            "symbols": [a[31:34].strip() for a in atoms], "charges": charges, "bonds": bonds,
        })
    return out


# ---- the transform -----------------------------------------------------------------------------------
def test_transform_puts_heavy_pocket_atoms_after_ligand(complex_1s3v):
    data = complex_1s3v
    n = int(data.num_nodes)
    out = PocketTransform(CHARGE0, cutoff=None)(data)
    heavy = data.pocket_element != POCKET_ELEMENTS.index("H")
    m = int(heavy.sum())
    assert out.num_nodes == n + m
    for key in ("atom_type", "charge"):
        assert torch.equal(out[key][:n], data[key])
    assert torch.equal(out.pos[:n], data.pos) and torch.equal(out.pos[n:], data.pocket_pos[heavy])
    assert torch.equal(out.edge_index, data.edge_index) and torch.equal(out.bond_type, data.bond_type)
    assert out.context.tolist() == [False] * n + [True] * m
    assert torch.equal(out.fixed, out.context)
    # pocket placeholders: type 0, charge 0 (index CHARGE0)
    assert (out.atom_type[n:] == 0).all() and (out.charge[n:] == CHARGE0).all()
    # node_attr = [is_pocket, element one-hot, residue one-hot, backbone]; zeros on ligand atoms
    assert out.node_attr.shape == (n + m, POCKET_NODE_ATTR_DIM) == (n + m, 1 + 7 + 21 + 1)
    assert (out.node_attr[:n] == 0).all()
    attr = out.node_attr[n:]
    ne = len(POCKET_ELEMENTS)
    assert (attr[:, 0] == 1).all()
    assert torch.equal(attr[:, 1:1 + ne].argmax(1), data.pocket_element[heavy])
    assert torch.equal(attr[:, 1 + ne:1 + ne + len(RESIDUE_TYPES)].argmax(1), data.pocket_residue[heavy])
    assert torch.equal(attr[:, -1].bool(), data.pocket_backbone[heavy])
    assert (attr[:, 1:1 + ne].sum(1) == 1).all() and (attr[:, 1 + ne:-1].sum(1) == 1).all()
    # the frame: the prior is centred on the heavy pocket atoms' centre of mass
    state = MolState.from_batch(Batch.from_data_list([out, out]))
    expect = data.pocket_pos[heavy].double().mean(0)
    torch.testing.assert_close(pocket_center(out)[0], expect)
    torch.testing.assert_close(state.center.double(), expect.expand(2, 3), atol=1e-4, rtol=0)  # float32 mean
    assert "pocket_pos" not in out


def test_transform_cutoff_and_hydrogens(complex_1s3v):
    data = complex_1s3v
    n = int(data.num_nodes)
    with_h = PocketTransform(CHARGE0, cutoff=None, keep_hydrogens=True)(data)
    assert with_h.num_nodes == n + data.pocket_pos.shape[0]
    near = PocketTransform(CHARGE0, cutoff=4.0)(data)
    full = PocketTransform(CHARGE0, cutoff=None)(data)
    assert n < near.num_nodes < full.num_nodes
    # whole residues: every kept atom's residue has an atom within 4 Å of the ligand
    pocket = near.pos[n:].double()
    d = torch.cdist(data.pocket_pos.double(), data.pos.double()).min(1).values
    res_ok = set(data.pocket_atom_residue[d <= 4.0].tolist())
    kept = [i for i in range(data.pocket_pos.shape[0])
            if any(torch.equal(data.pocket_pos[i].double(), p) for p in pocket)]
    assert {int(data.pocket_atom_residue[i]) for i in kept} == res_ok


def test_transform_augmentations(complex_1s3v):
    data = complex_1s3v
    n = int(data.num_nodes)
    gen = torch.Generator().manual_seed(3)
    out = PocketTransform(CHARGE0, fragment_prob=1.0, generator=gen)(data)
    frag = out.fixed[:n]
    heavy = data.atom_type != 0
    assert 0 < int((frag & heavy).sum()) < int(heavy.sum())
    # connected over heavy atoms, and every hydrogen of a chosen heavy atom comes with it
    src, dst = data.edge_index
    chosen = set((frag & heavy).nonzero().flatten().tolist())
    seen, todo = set(), [min(chosen)]
    while todo:
        i = todo.pop()
        seen.add(i)
        todo += [j for a, j in zip(src.tolist(), dst.tolist()) if a == i and j in chosen and j not in seen]
    assert seen == chosen
    for a, b in zip(src.tolist(), dst.tolist()):
        if a in chosen and not heavy[b]:
            assert frag[b]
    assert torch.equal(out.fixed[n:], out.context[n:])
    gone = PocketTransform(CHARGE0, drop_pocket_prob=1.0)(data)
    assert gone.num_nodes == n and not gone.context.any()
    assert random_fragment(data, torch.Generator().manual_seed(0)).shape == (n,)


# ---- the radius graph --------------------------------------------------------------------------------
def _pocket_input(dtype=torch.float64):
    from molgen.processes import build_process

    torch.manual_seed(0)
    data = PocketTransform(CHARGE0)(make_complex(PROTEIN, LIGAND, DRUG, cutoff=6.0))
    state = MolState.from_batch(Batch.from_data_list([data]))
    state = state.replace(pos=state.pos.to(dtype), node_attr=state.node_attr.to(dtype))
    process = build_process("flow", DRUG.num_types, DRUG.num_charges)
    noisy = process.corrupt(state, torch.tensor([0.6], dtype=dtype), generator=torch.Generator().manual_seed(1))
    return process.model_input(noisy, torch.tensor([0.6], dtype=dtype))


@pytest.mark.parametrize("gated", [False, True])
def test_radius_denoiser_is_the_net_on_the_radius_subgraph(gated):
    inp = _pocket_input()
    net = EGNN(DRUG.num_types, DRUG.num_charges, node_attr_dim=POCKET_NODE_ATTR_DIM, hidden=16, edge_dim=8,
               num_layers=2, num_rbf=8, context_gate=gated, attention=gated).double().eval()
    if gated:  # open the zero-initialised gates and attention, so the pocket and the weights matter
        with torch.no_grad():
            for name, p in net.named_parameters():
                if "gate" in name or "attn" in name:
                    p.copy_(torch.randn(p.shape, dtype=p.dtype, generator=torch.Generator().manual_seed(7)))
    wrapped = PocketRadiusDenoiser(net, radius=5.0)
    keep = wrapped.edge_mask(inp)
    pocket = inp.node_attr[:, 0] > 0.5
    ei = inp.edge_index
    d = (inp.pos[ei[0]] - inp.pos[ei[1]]).norm(dim=-1)
    assert torch.equal(keep, ~(pocket[ei[0]] | pocket[ei[1]]) | (d < 5.0))
    assert 0 < int(keep.sum()) < keep.numel()
    out = wrapped(inp)
    from molgen.models.base import DenoiserInput

    # reference: the net on every atom and the kept edges, unpaired (no savings)
    sub = DenoiserInput(inp.pos, inp.h_type, inp.h_charge, ei[:, keep], inp.e_bond[keep], inp.t, inp.batch,
                        inp.num_graphs, inp.context_mask, inp.node_attr)
    ref = net(sub)
    plain = PocketRadiusDenoiser(net, radius=5.0, savings=False)(inp)
    assert torch.equal(plain.pos, ref.pos) and torch.equal(plain.bond_logits[keep], ref.bond_logits)
    # the savings were taken: some pocket atoms have no edge left, and the kept list is still paired
    reached = torch.zeros_like(pocket)
    reached[ei[:, keep].reshape(-1)] = True
    assert inp.paired and bool((pocket & ~reached).any())
    lig = ~pocket
    close = {"atol": 1e-10, "rtol": 0}
    torch.testing.assert_close(out.pos, torch.where(lig[:, None], ref.pos, inp.pos), **close)
    torch.testing.assert_close(out.type_logits[lig], ref.type_logits[lig], **close)
    torch.testing.assert_close(out.charge_logits[lig], ref.charge_logits[lig], **close)
    torch.testing.assert_close(out.bond_logits[keep], ref.bond_logits, **close)
    assert (out.bond_logits[~keep] == 0).all()
    assert torch.equal(out.pos[inp.context_mask], inp.pos[inp.context_mask])  # pocket never moves
    # no radius: the complete graph
    full = PocketRadiusDenoiser(net, radius=None)
    assert torch.equal(full(inp).pos, net(inp).pos)
    # E(3): rotate + translate everything, the output follows and logits stay
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5)))
    tau = torch.tensor([3.0, -2.0, 7.0], dtype=torch.float64)
    inp2 = DenoiserInput(inp.pos @ q.T + tau, inp.h_type, inp.h_charge, ei, inp.e_bond, inp.t, inp.batch,
                         inp.num_graphs, inp.context_mask, inp.node_attr)
    out2 = wrapped(inp2)
    torch.testing.assert_close(out2.pos, out.pos @ q.T + tau, atol=1e-9, rtol=0)
    torch.testing.assert_close(out2.bond_logits, out.bond_logits, atol=1e-9, rtol=0)


# ---- sizes -------------------------------------------------------------------------------------------
def test_pocket_sizes_pool_nearest_bins():
    stats = {"pocket_ligand": {"bin_width": 10, "hist": {
        "100": {"20": 30}, "110": {"30": 30}, "300": {"60": 100}}}}
    s = pocket_sizes(stats, 104, 200, torch.Generator().manual_seed(0))
    assert set(s.tolist()) == {20, 30}  # bins 100 and 110 pooled to reach 50 ligands, not 300
    assert set(pocket_sizes(stats, 305, 50).tolist()) == {60}
    # sizes below min_size do not count towards the 50: bin 300 is pooled too
    assert set(pocket_sizes(stats, 104, 200, min_size=25).tolist()) == {30, 60}
    with pytest.raises(MolgenError):
        pocket_sizes({}, 100, 5)


def test_pocket_sizes_prefer_the_heavy_atom_table():
    stats = {"pocket_ligand": {"bin_width": 10, "hist": {"300": {"60": 100}}},
             "pocket_heavy_ligand": {"bin_width": 10, "hist": {"150": {"18": 100}, "300": {"40": 100}}}}
    # a pocket of 300 atoms of which 152 heavy: the heavy table's bin 150, not the old table
    assert set(pocket_sizes(stats, 300, 20, heavy_atoms=152).tolist()) == {18}
    # no heavy count given (or an old checkpoint without the table): the old table, as before
    assert set(pocket_sizes(stats, 300, 20).tolist()) == {60}
    del stats["pocket_heavy_ligand"]
    assert set(pocket_sizes(stats, 300, 20, heavy_atoms=152).tolist()) == {60}


def test_site_size_weights_count_every_site_once():
    sites = [{"name": "a", "pocket_heavy_median": 100.0, "ligand_hist": {"10": 1}},
             {"name": "b", "pocket_heavy_median": 120.0, "ligand_hist": {"30": 60, "31": 20}},  # a congeneric series
             {"name": "c", "pocket_heavy_median": 125.0, "ligand_hist": {"20": 2}},
             {"name": "d", "pocket_heavy_median": 300.0, "ligand_hist": {"60": 5}}]
    # the three sites nearest 115 heavy atoms (b 5, a 15, c 10 away), each with weight 1
    w = site_size_weights(sites, 115, nearest=3)
    assert w == pytest.approx({10: 1.0, 30: 0.75, 31: 0.25, 20: 1.0})
    assert site_size_weights(sites, 115, nearest=1) == pytest.approx({30: 0.75, 31: 0.25})
    # sizes below min_size are dropped within a site; a site left empty is passed over for the next one
    assert site_size_weights(sites, 115, min_size=25, nearest=2) == pytest.approx({30: 0.75, 31: 0.25, 60: 1.0})
    stats = {"pocket_sites": {"group": "protein", "sites": sites},
             "pocket_heavy_ligand": {"bin_width": 10, "hist": {"110": {"30": 100}}}}
    drawn = pocket_sizes(stats, 230, 4000, torch.Generator().manual_seed(0), heavy_atoms=115)
    # the site table wins over the binned one, and the draws follow the mixture: with at most
    # NEAREST_SITES sites in the table, every site with weight 1/4
    assert NEAREST_SITES >= len(sites)
    share = {n: float((drawn == n).float().mean()) for n in (10, 20, 30, 31, 60)}
    assert share == pytest.approx({10: 0.25, 20: 0.25, 30: 0.1875, 31: 0.0625, 60: 0.25}, abs=0.03)
    # without a heavy count the old binned path is used
    assert set(pocket_sizes({"pocket_ligand": {"bin_width": 10, "hist": {"230": {"44": 60}}}, **stats}, 230, 10)
               .tolist()) == {44}
    with pytest.raises(MolgenError):
        pocket_sizes(stats, 230, 5, min_size=99, heavy_atoms=115)


# ---- sampling in a pocket ----------------------------------------------------------------------------
def test_pocket_sample_in_protein_frame(pocket_model):
    from molgen.training import load_model

    gm = load_model(pocket_model)
    pocket = load_pocket(PROTEIN, ref_ligand=LIGAND, vocab=gm.vocab)
    graphs, states = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 3, 4, pocket=pocket,
                                                 batch_size=2, seed=1, return_states=True)
    ref_center = Chem.MolFromMolFile(str(LIGAND)).GetConformer().GetPositions().mean(0)
    assert np.linalg.norm(pocket.center.numpy() - ref_center) < 4.0  # the 1S3V pocket surrounds its ligand
    m = int(pocket.context.num_nodes)
    assert pocket.heavy_atoms == m  # the size lookup counts the heavy atoms the model sees
    for template, final in states:
        ctx = final.context
        assert int(ctx.sum()) == m * final.num_graphs
        assert torch.equal(final.pos[ctx], template.pos[ctx])  # pocket atoms exactly unchanged
        assert torch.equal(template.pos[ctx][:m], pocket.context.pos)
    assert len(graphs) == 3
    for g in graphs:
        assert g.num_nodes < 120  # ligand atoms only, pocket not written out
        c = g.pos.double().mean(0).numpy()
        assert np.linalg.norm(c - pocket.center.numpy()) < 4.0  # protein frame: near the pocket centre


def test_sample_cli_pocket_modes(pocket_model, tmp_path):
    ref = Chem.MolFromMolFile(str(LIGAND))
    rc = ref.GetConformer().GetPositions().mean(0)
    box = ",".join(f"{v:.3f}" for v in [*rc, 14.0, 14.0, 14.0])
    pocket = load_pocket(PROTEIN, ref_ligand=LIGAND, vocab=DRUG)
    residues = ",".join(pocket.residue_ids[:12])
    runs = {
        "ref_ligand": ["--ref-ligand", str(LIGAND)],
        "residues": ["--residues", residues],
        "box": ["--box", box],
    }
    for mode, extra in runs.items():
        out = tmp_path / f"{mode}.sdf"
        code = run_cli(["sample", "-c", str(pocket_model), "--protein", str(PROTEIN), *extra, "--num", "2",
                        "--steps", "3", "--out", str(out)])
        assert code == 0, mode
        summary = json.loads(out.with_suffix(".json").read_text())
        assert summary["pocket"]["mode"] == mode and summary["written"] == 2
        center = np.array(summary["pocket"]["center"])
        if mode == "residues":
            assert summary["pocket"]["residues"] == 12
        recs = _records(out)
        assert len(recs) == 2
        for rec in recs:
            assert len(rec["symbols"]) < 120
            assert np.linalg.norm(rec["pos"].mean(0) - center) < 4.0
        assert np.linalg.norm(center - rc) < 8.0  # every rule finds the same site


# ---- fragments ---------------------------------------------------------------------------------------
def _check_fragment_kept(out_sdf: Path, ref: Chem.Mol, ref_atoms: list[int], num: int) -> None:
    """First len(ref_atoms) atoms of every output molecule are the reference's: coordinates as written
    (bit for bit in the file), elements, charges, and the bonds among them."""
    ref_block = Chem.MolToMolBlock(ref, kekulize=False).splitlines()
    ref_xyz = [ref_block[4 + a][:30] for a in ref_atoms]
    index = {a: k for k, a in enumerate(ref_atoms)}
    ref_bonds = {tuple(sorted((index[b.GetBeginAtomIdx()], index[b.GetEndAtomIdx()]))) for b in ref.GetBonds()
                 if b.GetBeginAtomIdx() in index and b.GetEndAtomIdx() in index}
    k = len(ref_atoms)
    recs = _records(out_sdf)
    assert len(recs) == num
    for rec in recs:
        assert len(rec["symbols"]) > k
        assert rec["xyz"][:k] == ref_xyz  # bit-exact coordinates in the file
        assert rec["symbols"][:k] == [ref.GetAtomWithIdx(a).GetSymbol() for a in ref_atoms]
        assert rec["charges"][:k] == [ref.GetAtomWithIdx(a).GetFormalCharge() for a in ref_atoms]
        assert {(i, j) for i, j in rec["bonds"] if j < k} == ref_bonds


def _check_state_fragment(states, n_fixed: int) -> None:
    """Fixed ligand atoms and the bonds among them leave the sampler exactly as they entered."""
    for template, final in states:
        fixed = final.fixed & ~final.context
        assert int(fixed.sum()) == n_fixed * final.num_graphs
        for f in ("pos", "atom_type", "charge"):
            assert torch.equal(getattr(final, f)[fixed], getattr(template, f)[fixed])
        pf = final.pair_fixed & ~final.pair_context
        assert torch.equal(final.bond[pf], template.bond[pf]) and int((template.bond[pf] > 0).sum()) > 0


def test_fragment_smarts_in_pocket_bit_exact(pocket_model, tmp_path):
    from molgen.training import load_model

    ref = Chem.MolFromMolFile(str(LIGAND), removeHs=False)
    ref = Chem.AddHs(ref, addCoords=True)
    frag, atoms = fragment_from_smarts(ref, "c1ccccc1", DRUG)
    assert len(atoms) == 6 + 2  # the ring, and the two hydrogens on it
    gm = load_model(pocket_model)
    pocket = load_pocket(PROTEIN, ref_ligand=ref, vocab=gm.vocab)
    _, states = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 2, 3, pocket=pocket,
                                            fragment=frag, seed=2, return_states=True)
    _check_state_fragment(states, 8)
    # with a fragment the free atoms' prior is centred on it, not on the pocket
    template = states[0][0]
    assert torch.allclose(template.center, frag.pos.mean(0).expand(2, 3).to(template.center.dtype), atol=1e-5)
    assert (pocket.context.pos.double().mean(0) - frag.pos.double().mean(0)).norm() > 1.0  # the test has power
    # through the CLI: the reference written as the file the user would give
    ref_sdf = tmp_path / "ref.sdf"
    Chem.MolToMolFile(ref, str(ref_sdf))
    out = tmp_path / "frag.sdf"
    code = run_cli(["sample", "-c", str(pocket_model), "--protein", str(PROTEIN), "--ref-ligand", str(ref_sdf),
                    "--fragment-smarts", "c1ccccc1", "--num", "3", "--steps", "3", "--out", str(out)])
    assert code == 0
    _check_fragment_kept(out, ref, atoms, 3)


def test_fragment_sdf_without_pocket_bit_exact(pocket_model, tmp_path):
    ref = Chem.MolFromMolFile(str(LIGAND), removeHs=False)
    keep = [a.GetIdx() for a in ref.GetAtoms() if a.GetIsAromatic() or a.GetSymbol() == "O"]
    # the fragment file: the kept atoms, their bonds, coordinates as in the reference
    rw = Chem.RWMol(ref)
    for a in sorted(set(range(ref.GetNumAtoms())) - set(keep), reverse=True):
        rw.RemoveAtom(a)
    frag_mol = rw.GetMol()
    frag_sdf = tmp_path / "fragment.sdf"
    Chem.MolToMolFile(frag_mol, str(frag_sdf), kekulize=False)
    out = tmp_path / "inpaint.sdf"
    code = run_cli(["sample", "-c", str(pocket_model), "--fragment", str(frag_sdf), "--num", "2", "--steps", "3",
                    "--atoms-range", f"{len(keep) + 4}:{len(keep) + 8}", "--out", str(out)])
    assert code == 0
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["pocket"] is None and summary["fragment"]["atoms"] == len(keep)
    frag_read = Chem.MolFromMolFile(str(frag_sdf), sanitize=False, removeHs=False)
    _check_fragment_kept(out, frag_read, list(range(len(keep))), 2)


# ---- CLI errors --------------------------------------------------------------------------------------
def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_cli_errors_are_one_line(pocket_model, tmp_path, capsys):
    out = str(tmp_path / "x.sdf")
    base = ["sample", "-c", str(pocket_model), "--num", "1", "--steps", "2", "--out", out]
    capsys.readouterr()
    assert run_cli([*base, "--protein", str(tmp_path / "missing.pdb"), "--ref-ligand", str(LIGAND)]) == 2
    assert "protein file not found" in _one_line_error(capsys)
    assert run_cli([*base, "--ref-ligand", str(LIGAND), "--fragment-smarts", "C#N"]) == 2
    assert "matches nothing" in _one_line_error(capsys)
    assert run_cli([*base, "--ref-ligand", str(LIGAND), "--fragment-smarts", "c1ccc(("]) == 2
    assert "invalid SMARTS" in _one_line_error(capsys)
    assert run_cli([*base, "--protein", str(PROTEIN), "--box", "1,2,3"]) == 2
    assert "six numbers" in _one_line_error(capsys)
    assert run_cli([*base, "--protein", str(PROTEIN), "--residues", "Z:9999"]) == 2
    assert "not in the protein" in _one_line_error(capsys)
    assert run_cli([*base, "--protein", str(PROTEIN), "--box", "500,500,500,5,5,5"]) == 2
    assert "no protein atoms inside the box" in _one_line_error(capsys)
    assert run_cli([*base, "--residues", "A:12"]) == 2
    assert "need --protein" in _one_line_error(capsys)


def test_sizes_reference_draws_around_the_reference_ligand(tmp_path, capsys):
    """``sizes="reference"``: every ligand within REFERENCE_SIZE_SPREAD heavy atoms of the 1S3V ligand's 27
    (the shipped heavy-atom model), several sizes drawn; the default lookup by pocket size draws outside that
    band. Misuse is one line: an unknown mode, a given size as well, a pocket without a reference ligand."""
    from molgen.sampling.conditioning import REFERENCE_SIZE_SPREAD
    from molgen.training import load_model

    gm = load_model(DATA / "checkpoints" / "pocket_flow.ckpt")
    pocket = load_pocket(PROTEIN, ref_ligand=LIGAND, vocab=gm.vocab)
    n_ref = Chem.MolFromMolFile(str(LIGAND)).GetNumHeavyAtoms()
    assert pocket.reference_atoms == n_ref == 27

    def sizes(**kw):
        graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 30, 1, pocket=pocket,
                                             batch_size=30, seed=3, **kw)
        return [int(g.num_nodes) for g in graphs]

    near = sizes(sizes="reference")
    assert all(abs(n - n_ref) <= REFERENCE_SIZE_SPREAD for n in near) and len(set(near)) >= 3
    assert any(abs(n - n_ref) > REFERENCE_SIZE_SPREAD for n in sizes())
    with pytest.raises(MolgenError, match="unknown mode 'ref'"):
        sizes(sizes="ref")
    with pytest.raises(MolgenError, match="not both"):
        sizes(sizes="reference", num_atoms=12)
    residues = load_pocket(PROTEIN, residues=pocket.residue_ids, vocab=gm.vocab)
    assert residues.reference_atoms is None
    with pytest.raises(MolgenError, match="needs a pocket cut around a reference ligand"):
        generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 2, 1, pocket=residues, sizes="reference")
    out = str(tmp_path / "x.sdf")
    base = ["sample", "-c", str(DATA / "checkpoints" / "pocket_flow.ckpt"), "--num", "2", "--steps", "1", "--out", out,
            "--protein", str(PROTEIN)]
    capsys.readouterr()
    assert run_cli([*base, "--ref-ligand", str(LIGAND), "--sizes", "reference"]) == 0
    summary = json.loads((tmp_path / "x.json").read_text())
    assert summary["sizes"] == "reference" and summary["pocket"]["reference_atoms"] == 27
    capsys.readouterr()  # the progress bar of the run above
    assert run_cli([*base, "--residues", ",".join(pocket.residue_ids), "--sizes", "reference"]) == 2
    assert "needs a pocket cut around a reference ligand" in _one_line_error(capsys)
    assert run_cli([*base, "--ref-ligand", str(LIGAND), "--sizes", "big"]) == 2
    assert "unknown mode 'big'" in _one_line_error(capsys)


def test_shipped_pocket_checkpoint(tmp_path):
    """data/checkpoints/pocket_flow.ckpt: a small file, a pocket model, samples in the protein frame."""
    from molgen.sampling.conditioning import is_pocket_model
    from molgen.training import load_model

    ckpt = DATA / "checkpoints" / "pocket_flow.ckpt"
    assert ckpt.stat().st_size < 10 * 2**20
    gm = load_model(ckpt)
    assert is_pocket_model(gm.config) and gm.stats["pocket_ligand"]["hist"] and gm.stats["pocket_heavy_ligand"]["hist"]
    pocket = load_pocket(PROTEIN, ref_ligand=LIGAND, vocab=gm.vocab)
    graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 2, 2, pocket=pocket, seed=0)
    for g in graphs:
        assert np.linalg.norm(g.pos.double().mean(0).numpy() - pocket.center.numpy()) < 4.0


def test_training_augmentations_depend_only_on_the_batch(complex_1s3v):
    """Reseeded per batch from (seed, the batch's molecules): the same batch gets the same fragments
    and pocket drops whatever was drawn before it (so a resumed run repeats them); other batches and
    other seeds get other draws."""
    from molgen.data.datamodule import collate_graphs
    from molgen.data.transforms import pocket_transforms

    moved = complex_1s3v.clone()
    moved.pos = moved.pos + 0.01
    batch = [complex_1s3v.clone() for _ in range(16)] + [moved]

    def draws(transform, items) -> list[tuple]:
        out = collate_graphs(items, transform)
        return [(int(g.fixed.sum()), int(g.context.sum())) for g in out.to_data_list()]

    train, _ = pocket_transforms(DRUG, seed=3)
    first = draws(train, batch)
    torch.manual_seed(123)  # the global generator plays no part
    draws(train, batch[:5])  # nor do the batches drawn in between
    assert draws(train, batch) == first
    assert draws(pocket_transforms(DRUG, seed=3)[0], batch) == first  # a fresh process: same draws
    # 17 copies with p(fragment) = 0.2 and p(no pocket) = 0.1: the draws vary within the batch
    assert len(set(first)) > 1
    assert draws(pocket_transforms(DRUG, seed=4)[0], batch) != first
    assert draws(train, batch[::-1]) != first[::-1] or draws(train, batch[1:]) != first[1:]
