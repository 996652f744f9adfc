"""Prior mixing (molgen.sampling.prior_mix): weight 1 is the model as it is, weight 0 takes the chemistry
from the network on the ligand atoms alone, the blend is E(3)-equivariant with pocket and fixed atoms
held still, and bad weights are one-line errors."""

from __future__ import annotations

import pytest
import torch

from molgen.errors import MolgenError
from molgen.models import build_model
from molgen.sampling.prior_mix import PriorMixDenoiser
from tests.models.conftest import TINY, C, F, K, T, edge_dense, make_system
from tests.models.test_equivariance import check_transformed, max_err, orthogonal


@pytest.fixture
def f64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("egnn", num_types=T, num_charges=C, num_bond_types=K, node_attr_dim=F,
                       **TINY["egnn"]).double().eval()


def _complex(seed: int):
    """Four random graphs, about 40 % of their atoms pocket atoms (node_attr[:, 0] = 1, held fixed)."""
    system = make_system((7, 3, 9, 5), seed=seed)
    gen = torch.Generator().manual_seed(seed)
    pocket = torch.rand(system.pos.shape[0], generator=gen) < 0.4
    pocket[:3] = torch.tensor([True, False, False])
    system.node_attr[:, 0] = pocket.double()
    return system, pocket


def test_weight_one_is_the_model_and_zero_is_the_ligand_alone(f64):
    net = _net(0)
    system, pocket = _complex(5)
    inp = system.to_input(context_mask=pocket)
    cond = net(inp)
    same = PriorMixDenoiser(net, chemistry=1.0, positions=1.0)(inp)
    for f in ("pos", "type_logits", "charge_logits", "bond_logits"):
        assert torch.equal(getattr(same, f), getattr(cond, f))

    mixed = PriorMixDenoiser(net, chemistry=0.0, positions=1.0)(inp)
    lig = (~pocket).nonzero().flatten()
    alone_sys = system.permuted(lig)  # the ligand atoms alone, complete graph among them
    alone_inp = alone_sys.to_input(context_mask=torch.zeros(lig.numel(), dtype=torch.bool))
    alone = net(alone_inp)
    assert max_err(mixed.type_logits[lig], alone.type_logits) < 1e-10
    assert max_err(mixed.charge_logits[lig], alone.charge_logits) < 1e-10
    n = inp.pos.shape[0]
    got = edge_dense(inp.edge_index, mixed.bond_logits, n)[lig][:, lig]
    want = edge_dense(alone_inp.edge_index, alone.bond_logits, lig.numel())
    assert torch.equal(got.isnan(), want.isnan()) and max_err(got, want) < 1e-10
    # positions keep the pocket's prediction; pocket atoms and their logits are the model's
    assert torch.equal(mixed.pos, cond.pos)
    assert torch.equal(mixed.type_logits[pocket], cond.type_logits[pocket])
    assert max_err(alone.type_logits, cond.type_logits[lig]) > 1e-4  # the pocket matters: the test has power

    pos_only = PriorMixDenoiser(net, chemistry=1.0, positions=0.0)(inp)
    assert max_err(pos_only.pos[lig], alone.pos) < 1e-10
    assert torch.equal(pos_only.type_logits, cond.type_logits)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixed_prediction_is_equivariant_and_keeps_fixed_atoms(seed, f64):
    net = _net(seed)
    system, pocket = _complex(seed + 10)
    fixed = pocket.clone()
    fixed[(~pocket).nonzero().flatten()[0]] = True  # one ligand atom held, as a fragment atom
    mix = PriorMixDenoiser(net, chemistry=0.3, positions=0.6)
    inp = system.to_input(context_mask=fixed)
    out = mix(inp)
    assert torch.equal(out.pos[fixed], inp.pos[fixed])
    r, tau = orthogonal(seed + 50, reflect=seed % 2 == 0), torch.randn(3) * 4.0
    moved = system.to_input(context_mask=fixed)
    moved.pos = inp.pos @ r.T + tau
    check_transformed(out, mix(moved), r, tau, edge_dense, inp.edge_index, moved.edge_index, inp.pos.shape[0])


def test_no_pocket_atoms_is_the_model_and_bad_weights_are_errors(f64):
    net = _net(3)
    system = make_system((6, 4), seed=2)
    system.node_attr[:, 0] = 0.0
    inp = system.to_input()
    assert torch.equal(PriorMixDenoiser(net, 0.0, 0.0)(inp).pos, net(inp).pos)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(MolgenError, match="weight must lie in"):
            PriorMixDenoiser(net, chemistry=bad)


def test_cli_prior_mix_samples_in_a_pocket_and_needs_one(tmp_path, capsys):
    """``molgen sample --prior-mix W`` with the shipped pocket model writes its weight into the summary; the
    same sample at W = 1 is the unmixed model's, bit for bit; without a pocket it is a one-line error."""
    import json

    from tests.conftest import ROOT, run_cli

    pb = ROOT / "data" / "complexes" / "posebusters" / "1S3V"
    args = ["sample", "-c", str(ROOT / "data" / "checkpoints" / "pocket_flow.ckpt"), "-n", "2", "--steps", "3",
            "--protein", str(pb / "1s3v_protein_one_lig_removed.pdb"), "--ref-ligand", str(pb / "1s3v_ligand.sdf"),
            "--num-atoms", "10"]
    outs = {}
    for w in ("0", "1", None):
        out = tmp_path / f"m{w}.sdf"
        assert run_cli([*args, "-o", str(out), *(["--prior-mix", w] if w else [])]) == 0
        outs[w] = out.read_text()
        summary = json.loads(out.with_suffix(".json").read_text())
        assert summary["prior_mix"] == (None if w is None else {"chemistry": float(w), "positions": 1.0})
    assert outs["1"] == outs[None] and outs["0"] != outs[None]
    capsys.readouterr()  # the progress bars of the runs above
    assert run_cli(["sample", "-o", str(tmp_path / "u.sdf"), "-n", "1", "--prior-mix", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--prior-mix needs a pocket" in err[0]
    assert run_cli([*args, "-o", str(tmp_path / "bad.sdf"), "--prior-mix", "2"]) == 2
    assert "weight must lie in [0, 1]" in capsys.readouterr().err
