"""The sampling loop: prior, then one process step per interval of the time grid."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from molgen.models.base import DenoiserInput, DenoiserOutput
from molgen.processes.base import GenerativeProcess
from molgen.processes.state import MolState


@torch.no_grad()
def sample(
    denoiser: Callable[[DenoiserInput], DenoiserOutput],
    process: GenerativeProcess,
    template: MolState,
    steps: int,
    self_condition: bool = False,
    generator: torch.Generator | None = None,
    progress: bool = False,
    refine_denoiser: Callable[[DenoiserInput], DenoiserOutput] | None = None,
) -> MolState:
    """Draw one sample per graph of ``template`` by integrating ``process`` from t = 0 to t = 1.

    Args:
        denoiser: network (or any callable) ``DenoiserInput -> DenoiserOutput``.
        process: the generative process.
        template: state shell (``MolState.template``): sizes, fixed/context atoms, centre.
        steps: number of grid intervals (network calls: ``steps``; ``heun`` adds one per interval
            except the last, one at the end per ``process.refine_times``).
        self_condition: feed the previous prediction back as ``DenoiserInput.self_cond``.
        generator: random generator for the prior and every step.
        progress: show a progress bar.
        refine_denoiser: the network of the refinement passes (``process.refine_times``); default
            ``denoiser``. Guided sampling passes the unguided network here when the guidance
            settings leave the passes out (``refine: false``).

    Returns:
        The final state with class indices (``process.finalize``); fixed atoms equal the template's.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = template.pos.device
    grid = process.time_grid(steps, device).tolist()
    state = process.prior(template, generator)
    prev: DenoiserOutput | None = None

    def denoise(st: MolState, t: float, net: Callable[[DenoiserInput], DenoiserOutput] = denoiser) -> DenoiserOutput:
        tt = torch.full((st.num_graphs,), t, dtype=st.pos.dtype, device=device)
        return net(process.model_input(st, tt, prev if self_condition else None))

    for t, t_next in tqdm(list(itertools.pairwise(grid)), desc="sampling", disable=not progress):
        out = denoise(state, t)
        prev = out.detach()  # self-conditions the next call (and heun's second call at t_next)
        state = process.step(state, out, t, t_next, generator=generator, denoise=denoise)
        state = process.impose_fixed(state, template)
    final = process.finalize(state, prev)
    refine_net = refine_denoiser or denoiser
    for t_refine in process.refine_times:  # the finished graph seen again: geometry that fits it
        final = process.refine(final, denoise(final, t_refine, refine_net))  # fixed atoms stay
    return final
