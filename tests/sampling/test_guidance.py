"""Sampling-time guidance (molgen.sampling.guidance): the energy's gradient against autograd and finite
differences, a toy denoiser that puts the ligand inside the protein (guided: out; unguided: in),
E(3) equivariance, off = bit-identical sampling, and one-line errors for bad settings."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from molgen.errors import MolgenError
from molgen.models.base import DenoiserInput, DenoiserOutput
from molgen.processes.base import build_process
from molgen.processes.sampler import sample
from molgen.processes.state import MolState
from molgen.sampling.guidance import (
    TOLERANCE,
    GuidanceSettings,
    GuidedDenoiser,
    guide_positions,
    parse_guidance,
    pocket_energy,
)
from tests.conftest import ROOT, run_cli

POCKET_MODEL = ROOT / "data" / "checkpoints" / "pocket_flow.ckpt"
PB = ROOT / "data" / "complexes" / "posebusters" / "1S3V"
PROTEIN = PB / "1s3v_protein_one_lig_removed.pdb"
LIGAND = PB / "1s3v_ligand.sdf"
NUM_TYPES, NUM_CHARGES, ATTR = 4, 3, 5


def _reference_energy(pos, batch, ligand, pocket, s: GuidanceSettings, box=None):
    """The energy of the module docstring, written out pair by pair (autograd-differentiable)."""
    total = []
    for g in range(int(batch.max()) + 1):
        lig = [i for i in range(len(batch)) if batch[i] == g and ligand[i]]
        poc = [j for j in range(len(batch)) if batch[j] == g and pocket[j]]
        e = pos.new_zeros(())
        for i in lig:
            for j in poc:
                d = torch.sqrt(((pos[i] - pos[j].detach()) ** 2).sum())
                e = e + s.clash_weight * torch.clamp(s.clash_distance - d, min=0) ** 2
        c = torch.stack([pos[i] for i in lig]).mean(0)
        if box is None:
            c0 = torch.stack([pos[j].detach() for j in poc]).mean(0)
            out = torch.clamp(torch.sqrt(((c - c0) ** 2).sum()) - s.site_radius, min=0) ** 2
        else:
            out = (torch.clamp((c - box[0]).abs() - box[1], min=0) ** 2).sum()
        total.append(e + s.site_weight * len(lig) * out)
    return torch.stack(total)


def _two_graphs(seed: int):
    """Two graphs (float64): 6 and 4 ligand atoms near 12 and 9 pocket atoms, clashing and off-centre."""
    g = torch.Generator().manual_seed(seed)
    parts, batch, lig, poc = [], [], [], []
    for k, (nl, npk) in enumerate(((6, 12), (4, 9))):
        pocket = 4.0 * torch.randn(npk, 3, generator=g, dtype=torch.float64)
        ligand = pocket[:nl] + 1.2 * torch.randn(nl, 3, generator=g, dtype=torch.float64) + 1.5
        parts += [ligand, pocket]
        batch += [k] * (nl + npk)
        lig += [True] * nl + [False] * npk
        poc += [False] * nl + [True] * npk
    return torch.cat(parts), torch.tensor(batch), torch.tensor(lig), torch.tensor(poc)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("use_box", [False, True])
def test_energy_and_gradient_match_autograd_and_finite_differences(seed, use_box):
    pos, batch, lig, poc = _two_graphs(seed)
    s = GuidanceSettings(clash_distance=3.0, clash_weight=0.7, site_radius=0.5, site_weight=0.9)
    box = (torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64), torch.tensor([0.4, 0.6, 0.5], dtype=torch.float64)
           ) if use_box else None
    energy, grad = pocket_energy(pos, batch, 2, lig, poc, s, box=box)
    x = pos.clone().requires_grad_(True)
    ref = _reference_energy(x, batch, lig, poc, s, box)
    assert torch.allclose(energy, ref.detach(), rtol=1e-12, atol=1e-12)
    assert float(ref.detach().sum()) > 1.0  # the fixture clashes and is off-centre: the test has something to check
    (auto,) = torch.autograd.grad(ref.sum(), x)
    assert torch.allclose(grad[lig], auto[lig], rtol=1e-10, atol=1e-10)
    assert torch.count_nonzero(grad[~lig]) == 0
    h = 1e-6
    for i in lig.nonzero().view(-1).tolist():
        for a in range(3):
            xp, xm = pos.clone(), pos.clone()
            xp[i, a] += h
            xm[i, a] -= h
            fd = (pocket_energy(xp, batch, 2, lig, poc, s, box=box)[0].sum()
                  - pocket_energy(xm, batch, 2, lig, poc, s, box=box)[0].sum()) / (2 * h)
            assert math.isclose(float(fd), float(grad[i, a]), rel_tol=1e-5, abs_tol=1e-6)


# ---- a toy pocket: a spherical shell of protein atoms, a ligand predicted inside its wall ------------------
SHELL_RADIUS = 7.0


def _shell(n: int = 80) -> torch.Tensor:
    """Fibonacci sphere of ``n`` points (float64) of radius SHELL_RADIUS around (5, -3, 2)."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    phi = torch.acos(1 - 2 * k / n)
    theta = math.pi * (1 + 5 ** 0.5) * k
    pts = torch.stack([phi.sin() * theta.cos(), phi.sin() * theta.sin(), phi.cos()], -1)
    return SHELL_RADIUS * pts + torch.tensor([5.0, -3.0, 2.0], dtype=torch.float64)


def _toy_template(num_graphs: int = 2, num_lig: int = 6) -> MolState:
    from torch_geometric.data import Data

    shell = _shell()
    attr = torch.zeros(len(shell), ATTR)
    attr[:, 0] = 1.0
    ctx = Data(pos=shell, atom_type=torch.zeros(len(shell), dtype=torch.long),
               charge=torch.zeros(len(shell), dtype=torch.long), node_attr=attr, num_nodes=len(shell))
    t = MolState.template([num_lig] * num_graphs, NUM_TYPES, NUM_CHARGES, context=ctx)
    return t.replace(pos=t.pos.double(), center=t.center.double(), node_attr=t.node_attr.double())


def _wall_targets(num_lig: int = 6) -> torch.Tensor:
    """Ligand positions 0.4 Å from a shell atom, inside the wall (every one clashes)."""
    shell = _shell()
    centre = shell.mean(0)
    pick = shell[torch.linspace(0, len(shell) - 1, num_lig).long()]
    return centre + (pick - centre) * (1 - 0.4 / SHELL_RADIUS)


class WallDenoiser(torch.nn.Module):
    """Predicts the same ligand every call: every atom in the protein wall; context atoms unchanged."""

    def forward(self, inp: DenoiserInput) -> DenoiserOutput:
        free = ~inp.context_mask
        pos = inp.pos.clone()
        per_graph = _wall_targets(int(free.sum()) // inp.num_graphs).to(pos.dtype)
        pos[free] = per_graph.repeat(inp.num_graphs, 1)
        n, e = inp.pos.shape[0], inp.edge_index.shape[1]
        return DenoiserOutput(pos, torch.zeros(n, NUM_TYPES, dtype=pos.dtype),
                              torch.zeros(n, NUM_CHARGES, dtype=pos.dtype), torch.zeros(e, 5, dtype=pos.dtype))


def _min_ligand_protein(state: MolState) -> float:
    lig, poc = ~state.context, state.context
    d = torch.cdist(state.pos[lig], state.pos[poc])
    same = state.batch[lig][:, None] == state.batch[poc][None, :]
    return float(d[same].min())


def test_guidance_moves_a_ligand_predicted_inside_the_protein_out_of_it():
    process = build_process("flow", NUM_TYPES, NUM_CHARGES)
    template = _toy_template()
    s = GuidanceSettings(start=0.5, clash_distance=3.0)
    plain = sample(WallDenoiser(), process, template, 10, generator=torch.Generator().manual_seed(0))
    guided_net = GuidedDenoiser(WallDenoiser(), s)
    guided = sample(guided_net, process, template, 10, generator=torch.Generator().manual_seed(0))
    assert _min_ligand_protein(plain) < 0.5  # the toy model's ligand sits in the wall
    assert _min_ligand_protein(guided) >= s.clash_distance - TOLERANCE
    # the centroid ends within the flat bottom of the site restraint (pocket centre = shell centre)
    lig = ~guided.context
    for g in range(guided.num_graphs):
        c = guided.pos[lig & (guided.batch == g)].mean(0)
        assert float((c - _shell().mean(0)).norm()) <= s.site_radius + TOLERANCE
    # fixed (context) atoms never move, and only calls at t >= start were guided
    assert torch.equal(guided.pos[guided.context], template.pos[template.context])
    grid = process.time_grid(10).tolist()[:-1]
    assert guided_net.calls == sum(t >= s.start for t in grid)


def test_protein_atoms_outside_the_pocket_are_kept_clear_of_when_given():
    """The graph holds half the shell (the pocket); the other half is only in ``protein``."""
    process = build_process("flow", NUM_TYPES, NUM_CHARGES)
    shell = _shell()
    half = shell[:, 2] < shell[:, 2].median()
    sub = MolState.template([6, 6], NUM_TYPES, NUM_CHARGES, context=_half_context(half))
    sub = sub.replace(pos=sub.pos.double(), center=sub.center.double(), node_attr=sub.node_attr.double())
    # the site restraint is off: the half shell's centre is not the cavity's
    s = GuidanceSettings(start=0.5, site_weight=0.0)

    def min_to_shell(state):
        lig = state.pos[~state.context]
        return float(torch.cdist(lig, shell).min())

    pocket_only = sample(GuidedDenoiser(WallDenoiser(), s), process, sub, 10, generator=torch.Generator().manual_seed(0))
    walls = sample(GuidedDenoiser(WallDenoiser(), s, protein=shell), process, sub, 10,
                   generator=torch.Generator().manual_seed(0))
    assert min_to_shell(pocket_only) < 1.0  # clear of the half it sees, not of the other half
    assert min_to_shell(walls) >= s.clash_distance - TOLERANCE


def _half_context(half: torch.Tensor):
    from torch_geometric.data import Data

    pts = _shell()[half]
    attr = torch.zeros(len(pts), ATTR)
    attr[:, 0] = 1.0
    return Data(pos=pts, atom_type=torch.zeros(len(pts), dtype=torch.long),
                charge=torch.zeros(len(pts), dtype=torch.long), node_attr=attr, num_nodes=len(pts))


def test_box_restraint_pulls_the_centroid_into_the_box():
    pos, batch, lig, poc = _two_graphs(3)
    s = GuidanceSettings(clash_weight=0.0, iterations=50)
    box = (torch.tensor([9.0, 9.0, 9.0], dtype=torch.float64), torch.tensor([1.0, 2.0, 1.5], dtype=torch.float64))
    out = guide_positions(pos, batch, 2, lig, lig, poc, s, box)
    for g in range(2):
        c = out[lig & (batch == g)].mean(0)
        assert bool(((c - box[0]).abs() <= box[1] + TOLERANCE).all())
        c0 = pos[lig & (batch == g)].mean(0)
        assert bool(((c0 - box[0]).abs() > box[1]).any())  # it started outside
    assert torch.equal(out[poc], pos[poc])


def _random_rotation(g: torch.Generator, reflect: bool) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    if (torch.det(q) > 0) == reflect:
        q[:, 0] = -q[:, 0]
    return q


class IdentityDenoiser(torch.nn.Module):
    """Predicts the input coordinates (an E(3)-equivariant denoiser)."""

    def forward(self, inp: DenoiserInput) -> DenoiserOutput:
        n, e = inp.pos.shape[0], inp.edge_index.shape[1]
        return DenoiserOutput(inp.pos.clone(), torch.zeros(n, NUM_TYPES, dtype=inp.pos.dtype),
                              torch.zeros(n, NUM_CHARGES, dtype=inp.pos.dtype),
                              torch.zeros(e, 5, dtype=inp.pos.dtype))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("reflect", [False, True])
def test_guidance_is_equivariant(seed, reflect):
    pos, batch, lig, poc = _two_graphs(seed)
    attr = torch.zeros(len(pos), ATTR, dtype=torch.float64)
    attr[poc, 0] = 1.0
    context = poc.clone()
    context[lig.nonzero()[0]] = True  # one fixed ligand atom (a fragment) in the first graph
    g = torch.Generator().manual_seed(100 + seed)
    walls = pos[poc] + 2.0 * torch.randn(int(poc.sum()), 3, generator=g, dtype=torch.float64)

    def run(x, protein=None):
        net = GuidedDenoiser(IdentityDenoiser(), GuidanceSettings(site_radius=0.5), protein=protein)
        inp = DenoiserInput(pos=x, h_type=torch.zeros(len(x), NUM_TYPES + 1, dtype=x.dtype),
                            h_charge=torch.zeros(len(x), NUM_CHARGES + 1, dtype=x.dtype),
                            edge_index=torch.zeros(2, 0, dtype=torch.long), e_bond=torch.zeros(0, 6, dtype=x.dtype),
                            t=torch.tensor([0.7, 0.9], dtype=x.dtype), batch=batch, num_graphs=2,
                            context_mask=context, node_attr=attr)
        return net(inp).pos

    rot = _random_rotation(g, reflect)
    shift = 10 * torch.randn(3, generator=g, dtype=torch.float64)
    out = run(pos)
    assert not torch.allclose(out, pos)  # guidance moved something
    assert torch.equal(out[context], pos[context])
    assert torch.allclose(run(pos @ rot.T + shift), out @ rot.T + shift, atol=1e-9)
    out_w = run(pos, walls)
    assert not torch.allclose(out_w, out)  # the protein atoms matter
    assert torch.allclose(run(pos @ rot.T + shift, walls @ rot.T + shift), out_w @ rot.T + shift, atol=1e-9)


# ---- the shipped pocket model: off is today's sampling, on changes it ---------------------------------------
@pytest.fixture(scope="module")
def shipped():
    from molgen.sampling.conditioning import load_pocket
    from molgen.training.checkpoint import load_model

    gm = load_model(POCKET_MODEL)
    return gm, load_pocket(PROTEIN, ref_ligand=LIGAND, vocab=gm.vocab)


def _sample(shipped, guidance, num=3, steps=4):
    from molgen.sampling.conditioning import generate_conditioned_graphs

    gm, pocket = shipped
    torch.manual_seed(0)
    return generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, num, steps, pocket=pocket,
                                       batch_size=num, seed=7, atoms_range=(12, 16), guidance=guidance)


def _same(a, b) -> bool:
    return all(torch.equal(x.pos, y.pos) and torch.equal(x.atom_type, y.atom_type)
               and torch.equal(x.edge_index, y.edge_index) and torch.equal(x.bond_type, y.bond_type)
               for x, y in zip(a, b, strict=True))


def test_guidance_off_is_bit_identical_to_unguided_sampling(shipped):
    from molgen.sampling.sizes import sample_num_atoms

    gm, pocket = shipped
    off = _sample(shipped, None)
    # today's loop, written out: sizes from the seed, one batch with generator seed * 1_000_003
    sizes = sample_num_atoms(None, 3, range_=(12, 16), generator=torch.Generator().manual_seed(7))
    template = MolState.template(sizes, gm.vocab.num_types, gm.vocab.num_charges, context=pocket.context)
    final = sample(gm.model, gm.process, template, 4, generator=torch.Generator().manual_seed(7 * 1_000_003))
    assert _same(off, final.to_graphs())
    never = GuidanceSettings(start=1.0)  # t < 1 at every network call
    assert _same(off, _sample(shipped, never))
    zero = GuidanceSettings(clash_weight=0.0, site_weight=0.0)
    assert _same(off, _sample(shipped, zero))
    assert not _same(off, _sample(shipped, GuidanceSettings(start=0.0, site_radius=0.0)))


def test_refine_false_leaves_the_refinement_passes_unguided(shipped):
    """The shipped file refines three times at t = 0.95 after the last step (t = 0.75 with 4 steps):
    guidance starting at 0.9 guides only those passes, so with ``refine: false`` it changes nothing."""
    gm, _ = shipped
    assert gm.process.refine_times == (0.95, 0.95, 0.95)  # the fixture has passes to leave out
    assert gm.process.time_grid(4, "cpu")[-2] < 0.9  # and no step at t >= 0.9
    off = _sample(shipped, None)
    passes_only = {"start": 0.9, "site_radius": 0.0}
    assert _same(off, _sample(shipped, GuidanceSettings(**passes_only, refine=False)))
    assert not _same(off, _sample(shipped, GuidanceSettings(**passes_only)))
    # from t = 0 the steps are guided either way, and the unguided passes then move the atoms again
    steps = {"start": 0.0, "site_radius": 0.0}
    assert not _same(_sample(shipped, GuidanceSettings(**steps)), _sample(shipped, GuidanceSettings(**steps, refine=False)))


def test_guidance_needs_a_pocket(shipped):
    from molgen.sampling.conditioning import generate_conditioned_graphs

    gm, _ = shipped
    with pytest.raises(MolgenError, match="give a pocket"):
        generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 1, 2, num_atoms=5,
                                    fragment=None, guidance=GuidanceSettings())


# ---- settings and their errors ------------------------------------------------------------------------------
def test_parse_guidance_values():
    assert parse_guidance(None) is None and parse_guidance(False) is None
    assert parse_guidance(True) == GuidanceSettings()
    assert parse_guidance({"start": 0.8}).start == 0.8


@pytest.mark.parametrize("value, message", [
    ({"clash_weight": -1}, "guidance.clash_weight: Input should be greater than or equal to 0"),
    ({"site_weight": 2}, "guidance.site_weight: Input should be less than or equal to 1"),
    ({"start": 1.5}, "guidance.start: Input should be less than or equal to 1"),
    ({"clash_distanse": 3}, "guidance.clash_distanse: unknown key (did you mean 'clash_distance'?)"),
    ({"bogus": 3}, "guidance.bogus: unknown key (known: start, clash_distance"),
    ("yes please", "guidance: expected true/false or a mapping"),
])
def test_bad_guidance_settings_give_one_line(value, message):
    with pytest.raises(MolgenError) as err:
        parse_guidance(value)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cli_guidance_errors(tmp_path, capsys):
    args = ["sample", "-c", str(POCKET_MODEL), "-o", str(tmp_path / "g.sdf"), "-n", "1", "--steps", "2",
            "--protein", str(PROTEIN), "--ref-ligand", str(LIGAND), "--num-atoms", "10"]
    assert run_cli([*args, "--guidance-option", "clash_weight=-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: guidance.clash_weight: Input should be greater than or equal to 0")
    assert "\n" not in err
    assert run_cli(["sample", "-o", str(tmp_path / "u.sdf"), "-n", "1", "--guidance"]) == 2
    assert "--guidance needs a pocket" in capsys.readouterr().err
    assert not (tmp_path / "g.sdf").exists()


def test_cli_guidance_writes_its_settings(tmp_path):
    import json

    out = tmp_path / "g.sdf"
    assert run_cli(["sample", "-c", str(POCKET_MODEL), "-o", str(out), "-n", "2", "--steps", "3", "--protein",
                    str(PROTEIN), "--ref-ligand", str(LIGAND), "--num-atoms", "10", "--guidance-option",
                    "start=0.3"]) == 0
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["guidance"] == {**GuidanceSettings().model_dump(), "start": 0.3}


def test_workflow_guidance_key(tmp_path):
    import yaml

    from molgen.pipeline import load_workflow
    from molgen.pipeline.engine import fingerprints

    def wf(**extra) -> Path:
        gen = {"name": "generate", "type": "generate", "mode": "pocket", "checkpoint": str(POCKET_MODEL),
               "protein": str(PROTEIN), "ref_ligand": str(LIGAND), "num": 2, **extra}
        p = tmp_path / "wf.yaml"
        p.write_text(yaml.safe_dump({"name": "t", "out_dir": str(tmp_path / "run"), "steps": [gen]}))
        return p

    plain = fingerprints(load_workflow(wf()))["generate"]["chunk"]
    assert fingerprints(load_workflow(wf(guidance=None)))["generate"]["chunk"] == plain
    assert fingerprints(load_workflow(wf(guidance=False)))["generate"]["chunk"] == plain
    on = load_workflow(wf(guidance=True))
    assert on.step("generate").guidance == GuidanceSettings().model_dump()
    assert fingerprints(on)["generate"]["chunk"] != plain
    assert fingerprints(load_workflow(wf(guidance={})))["generate"]["chunk"] == fingerprints(on)["generate"]["chunk"]
    with pytest.raises(MolgenError) as err:
        load_workflow(wf(guidance={"clash_weight": -0.5, "strat": 0.2}))
    text = str(err.value)
    assert "steps.generate.guidance: clash_weight: Input should be greater than or equal to 0" in text
    assert "strat: unknown key (did you mean 'start'?)" in text and "\n" not in text
    unconditional = {"name": "generate", "type": "generate", "num": 2, "guidance": True}
    p = tmp_path / "u.yaml"
    p.write_text(yaml.safe_dump({"name": "t", "out_dir": str(tmp_path / "run"), "steps": [unconditional]}))
    with pytest.raises(MolgenError, match="steps.generate.guidance: needs a pocket"):
        load_workflow(p)
