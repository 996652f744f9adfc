"""One process step is E(3)-equivariant when the denoiser is; the sampler loop keeps fixed atoms,
feeds self-conditioning and works for any number of steps."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from molgen.models.base import DenoiserInput, DenoiserOutput
from molgen.processes import MolState, build_process, sample
from tests.processes.process_oracles import random_rotation

T, C, K = 4, 3, 5


def equivariant_oracle(inp: DenoiserInput) -> DenoiserOutput:
    """A fixed, non-trivial E(3)-equivariant denoiser: EGNN-like pull along edges, invariant logits."""
    src, dst = inp.edge_index
    diff = inp.pos[dst] - inp.pos[src]
    d2 = diff.pow(2).sum(-1, keepdim=True)
    msg = diff * torch.tanh(d2 / 7.0) * (0.3 + inp.h_type[src, :1])
    x_hat = inp.pos + torch.zeros_like(inp.pos).index_add_(0, src, msg) * 0.2
    if inp.context_mask is not None:
        x_hat = torch.where(inp.context_mask[:, None], inp.pos, x_hat)
    deg = torch.zeros(inp.pos.shape[0], 1, dtype=inp.pos.dtype).index_add_(0, src, d2.sqrt())
    node = torch.cat([deg, inp.h_type, inp.h_charge], -1)
    tl = torch.sin(node @ torch.linspace(-1, 1, node.shape[1] * T, dtype=node.dtype).view(-1, T))
    cl = torch.cos(node @ torch.linspace(-2, 1, node.shape[1] * C, dtype=node.dtype).view(-1, C))
    bl = torch.sin(d2 * torch.arange(1, K + 1, dtype=node.dtype) / 5 + inp.e_bond[:, :K])
    u = bl.shape[0] // 2
    bl = torch.cat([bl[:u] + bl[u:], bl[:u] + bl[u:]])  # same logits for both directions
    return DenoiserOutput(x_hat, tl, cl, bl)


CASES = [
    ("diffusion", {"sampler": "ddim"}),
    ("diffusion", {"sampler": "ddim", "discrete": "continuous"}),
    ("flow", {"integrator": "euler", "discrete": "uniform"}),
    ("flow", {"integrator": "heun"}),
    ("flow", {"integrator": "heun", "discrete": "continuous"}),
]


def conditioned_template() -> MolState:
    frag = Data(
        pos=torch.tensor([[1.0, 2.0, 0.5], [2.2, 1.5, 0.0]]),
        atom_type=torch.tensor([1, 2]),
        charge=torch.tensor([1, 1]),
        edge_index=torch.tensor([[0, 1], [1, 0]]),
        bond_type=torch.tensor([1, 1]),
        num_nodes=2,
    )
    return MolState.template([5, 3, 6], T, C, fragment=[None, frag, frag], dtype=torch.float64)


@pytest.mark.parametrize(
    ("name", "kw"), CASES, ids=[f"{n}-{'-'.join(map(str, k.values()))}" for n, k in CASES]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_step_is_equivariant(name, kw, seed):
    proc = build_process(name, T, C, **kw)
    tmpl = conditioned_template()
    t, s = 0.35, 0.5
    state = proc.prior(tmpl, torch.Generator().manual_seed(seed))
    # rotate (or reflect) and translate everything, frame centre included
    rot, shift = random_rotation(100 + seed), torch.tensor([1.5, -2.0, 0.7], dtype=torch.float64)
    if seed == 2:  # a reflection: the steps are E(3)-equivariant, not only SE(3)
        rot = rot @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    moved = state.replace(pos=state.pos @ rot.T + shift, center=state.center @ rot.T + shift)

    def one_step(st: MolState) -> MolState:
        def denoise(x: MolState, tt: float) -> DenoiserOutput:
            return equivariant_oracle(
                proc.model_input(x, torch.full((x.num_graphs,), tt, dtype=torch.float64))
            )

        return proc.step(
            st, denoise(st, t), t, s, generator=torch.Generator().manual_seed(7), denoise=denoise
        )

    a, b = one_step(state), one_step(moved)
    assert (a.pos - state.pos).abs().max() > 1e-3  # the step moves atoms
    assert torch.allclose(b.pos, a.pos @ rot.T + shift, atol=1e-10)
    for field in ("atom_type", "charge", "bond"):
        assert torch.allclose(getattr(b, field).double(), getattr(a, field).double(), atol=1e-10), field
    assert torch.equal(a.pos[tmpl.fixed], tmpl.pos[tmpl.fixed])


def test_sampler_keeps_fixed_atoms_and_writes_them_out():
    proc = build_process("flow", T, C)
    tmpl = conditioned_template()

    def pushy(inp: DenoiserInput) -> DenoiserOutput:  # tries to move every atom, fixed ones too
        out = equivariant_oracle(inp)
        return DenoiserOutput(inp.pos + 1.0, out.type_logits, out.charge_logits, out.bond_logits)

    final = sample(pushy, proc, tmpl, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(final.pos[tmpl.fixed], tmpl.pos[tmpl.fixed])
    assert torch.equal(final.atom_type[tmpl.fixed], tmpl.atom_type[tmpl.fixed])
    assert torch.equal(final.bond[tmpl.pair_fixed], tmpl.bond[tmpl.pair_fixed])
    graphs = final.to_graphs()
    assert [g.num_nodes for g in graphs] == [5, 3, 6]
    assert torch.allclose(graphs[1].pos[:2].double(), tmpl.pos[5:7], atol=1e-6)


@pytest.mark.parametrize(("name", "kw", "calls"), [("diffusion", {}, 4), ("flow", {"integrator": "heun"}, 7)])
def test_sampler_self_conditioning_and_call_count(name, kw, calls):
    proc = build_process(name, T, C, **kw)
    seen: list[DenoiserOutput | None] = []

    def recorder(inp: DenoiserInput) -> DenoiserOutput:
        seen.append(inp.self_cond)
        return equivariant_oracle(inp)

    sample(recorder, proc, MolState.template([3, 4], T, C, dtype=torch.float64), 4, self_condition=True)
    assert len(seen) == calls and seen[0] is None and all(s is not None for s in seen[1:])
    seen.clear()
    sample(recorder, proc, MolState.template([3, 4], T, C, dtype=torch.float64), 4, self_condition=False)
    assert all(s is None for s in seen)


@pytest.mark.parametrize("name", ["diffusion", "flow"])
@pytest.mark.parametrize("steps", [1, 3])
def test_sampler_any_number_of_steps(name, steps):
    proc = build_process(name, T, C)
    tmpl = MolState.template([3, 1, 4], T, C)
    final = sample(equivariant_oracle, proc, tmpl, steps, generator=torch.Generator().manual_seed(0))
    assert final.pos.dtype == torch.float32 and torch.isfinite(final.pos).all()
    assert final.atom_type.max() < T and final.bond.max() < K and final.charge.max() < C
    assert [g.num_nodes for g in final.to_graphs()] == [3, 1, 4]
    with pytest.raises(ValueError):
        sample(equivariant_oracle, proc, tmpl, 0)
