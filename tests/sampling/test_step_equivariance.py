"""One whole sampler step with a real denoiser is E(3)-equivariant (float64).

Rotating (or reflecting) the state rotates the next state's coordinates and leaves its classes
unchanged, for both denoisers under flow matching (Euler, Heun) and diffusion (DDIM, ancestral with
the same noise draws rotated — here the noise is drawn from the same generator, so it is compared
through the deterministic samplers only).
"""

from __future__ import annotations

import pytest
import torch

from molgen.models import build_model
from molgen.processes import MolState, build_process

T, C = 5, 3
SIZES = [4, 7, 3]


def _orthogonal(seed: int, reflect: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if (torch.det(q) < 0) != reflect:
        q[:, 0] = -q[:, 0]
    return q


MODELS = {
    "egnn": dict(hidden=16, edge_dim=8, num_layers=2, num_rbf=8),
    "e3nn": dict(irreps_hidden="8x0e + 2x1o + 2x1e", num_layers=2, lmax=2, edge_dim=8, num_rbf=8,
                 radial_hidden=16, head_hidden=16),
}
PROCESSES = [
    ("flow", {"integrator": "euler"}),
    ("flow", {"integrator": "heun"}),
    ("diffusion", {"sampler": "ddim", "discrete": "continuous"}),
]


@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize(("proc_name", "proc_kw"), PROCESSES, ids=lambda x: str(x))
@pytest.mark.parametrize("seed", [0, 1])
def test_sampler_step_equivariant(model_name, proc_name, proc_kw, seed):
    torch.manual_seed(seed)
    model = build_model(model_name, num_types=T, num_charges=C, **MODELS[model_name]).double().eval()
    proc = build_process(proc_name, T, C, **proc_kw)
    tmpl = MolState.template(SIZES, T, C, dtype=torch.float64)
    state = proc.prior(tmpl, torch.Generator().manual_seed(seed))

    def denoise(s: MolState, time: float):
        tt = torch.full((s.num_graphs,), time, dtype=torch.float64)
        return model(proc.model_input(s, tt))

    def step(s: MolState) -> MolState:
        with torch.no_grad():
            out = denoise(s, 0.3)
            return proc.step(s, out, 0.3, 0.45, generator=torch.Generator().manual_seed(99), denoise=denoise)

    base = step(state)
    for reflect in (False, True):
        q = _orthogonal(seed + 10, reflect)
        rotated = step(state.replace(pos=state.pos @ q.T))
        err = (rotated.pos - base.pos @ q.T).abs().max().item()
        assert err < 1e-8, f"coordinate error {err:.2e}"
        for field in ("atom_type", "charge", "bond"):
            a, b = getattr(rotated, field), getattr(base, field)
            if a.is_floating_point():
                assert (a - b).abs().max() < 1e-8
            else:
                assert torch.equal(a, b)
    assert (base.pos - state.pos).abs().max() > 1e-3  # the step moved the atoms: not a vacuous test
