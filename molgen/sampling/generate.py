"""``generate()``: sizes -> prior -> sampler loop -> molecule graphs -> SDF + JSON.

Reproducible: batch k of a run is drawn with its own generator seeded by ``(seed, k)``, so the same
seed, number and batch size give the same molecules on the same machine and torch version. Batches
hold at most ``batch_size`` molecules and are cut smaller where their atom pairs would pass
:data:`MAX_BATCH_PAIRS` or :data:`MAX_BATCH_CONTEXT_PAIRS` (:func:`molgen.sampling.sizes.sampler_batches`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch
from torch_geometric.data import Data
from tqdm.auto import tqdm

from molgen.chem.vocab import Vocab
from molgen.data.stats import size_histogram
from molgen.errors import MolgenError
from molgen.io import check_output_file, write_json_atomic
from molgen.processes.sampler import sample
from molgen.processes.state import MolState
from molgen.sampling.sizes import sample_num_atoms, sampler_batches

log = logging.getLogger(__name__)


def _histogram(stats: dict) -> dict | None:
    return size_histogram(stats) if stats.get("num_atoms", {}).get("hist") else None


@torch.no_grad()
def generate_graphs(
    model: torch.nn.Module,
    process,
    vocab: Vocab,
    stats: dict,
    num: int,
    steps: int,
    batch_size: int = 100,
    seed: int = 0,
    self_condition: bool = False,
    device: str | torch.device = "cpu",
    num_atoms: int | None = None,
    atoms_range: tuple[int, int] | None = None,
    progress: bool = False,
) -> list[Data]:
    """Sample ``num`` molecules unconditionally.

    Args:
        model: denoiser (eval mode).
        process: the generative process it was trained with.
        vocab, stats: the training set's vocabulary and statistics (size histogram).
        num: molecules to generate.
        steps: sampler steps (network evaluations per molecule, Heun doubles them).
        batch_size: most molecules per sampler batch (:func:`~molgen.sampling.sizes.sampler_batches` may cut it smaller).
        seed: base seed.
        num_atoms / atoms_range: exact size, or uniform in [lo, hi]; default: the dataset histogram.

    Returns:
        Molecule graphs (pos, atom_type, charge, edge_index, bond_type) with ``molgen_index``.
    """
    if num < 0 or steps < 1 or batch_size < 1:
        raise MolgenError(f"need num >= 0, steps >= 1, batch_size >= 1 (got {num}, {steps}, {batch_size})")
    size_gen = torch.Generator().manual_seed(seed)
    hist = _histogram(stats) if num_atoms is None and atoms_range is None else None
    if num_atoms is None and atoms_range is None and not hist:
        raise MolgenError("the model's dataset statistics have no atom-count histogram; pass --num-atoms")
    sizes = sample_num_atoms(hist, num, exact=num_atoms, range_=atoms_range, generator=size_gen)
    out: list[Data] = []
    chunks = sampler_batches(sizes.tolist(), batch_size)
    for k, (start, stop) in enumerate(tqdm(chunks, desc="sampling", unit="batch", disable=not progress)):
        gen = torch.Generator(device="cpu").manual_seed(seed * 1_000_003 + k)
        template = MolState.template(sizes[start:stop], vocab.num_types, vocab.num_charges, device=device)
        final = sample(model, process, template, steps, self_condition=self_condition, generator=gen)
        for i, g in enumerate(final.to_graphs()):
            g.molgen_index = start + i
            g.name = f"gen_{start + i:06d}"
            out.append(g)
    return out


def generate(
    checkpoint: str | Path | None,
    num: int,
    steps: int,
    out: str | Path,
    batch_size: int = 100,
    seed: int = 0,
    device: str = "cpu",
    num_atoms: int | None = None,
    atoms_range: tuple[int, int] | None = None,
    process_options: dict | None = None,
) -> dict:
    """Load a model, sample ``num`` molecules, write ``out`` (SDF) and ``out`` with ``.json`` suffix.

    Args:
        checkpoint: model file; None = the shipped QM9 checkpoint.
        process_options: process settings that override the trained ones for sampling (e.g.
            ``{"sampler": "ddim"}`` for diffusion, ``{"integrator": "heun"}`` for flow).

    Returns:
        The JSON summary (settings, counts, seconds, molecules/s).
    """
    from molgen.training.checkpoint import load_model

    check_outputs(out)
    ckpt = Path(checkpoint) if checkpoint else default_checkpoint()
    gm = load_model(ckpt, device=device, process_options=process_options)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    graphs = generate_graphs(gm.model, gm.process, gm.vocab, gm.stats, num, steps, batch_size, seed,
                             gm.self_condition, device, num_atoms, atoms_range, progress=True)
    seconds = time.perf_counter() - t0
    from molgen.sampling.writers import write_sdf

    out = Path(out)
    counts = write_sdf(graphs, gm.vocab, out)
    summary = {
        "checkpoint": str(ckpt),
        "process": gm.config["process"],
        "model": gm.config["model"]["name"],
        "vocab": gm.vocab.name,
        "num": num,
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "seconds": round(seconds, 3),
        "molecules_per_s": round(num / seconds, 3) if seconds > 0 else None,
        **counts,
        "sdf": str(out),
    }
    write_json_atomic(out.with_suffix(".json"), summary)
    return summary


def check_outputs(out: str | Path) -> None:
    """Refuse, before sampling, an SDF path (or the ``.json`` beside it) that cannot be written.

    Raises:
        MolgenError: an existing folder, or a folder that cannot be created or written.
    """
    out = check_output_file(out, "output SDF")
    if out.with_suffix(".json").is_dir():
        raise MolgenError("the summary beside the output SDF would overwrite this folder", out.with_suffix(".json"))


def default_checkpoint() -> Path:
    """The shipped default QM9 model, heavy atoms (``data/checkpoints/qm9_heavy_flow.ckpt`` in the source
    tree; ``MOLGEN_CHECKPOINT`` overrides). The explicit-hydrogen model is ``qm9_flow.ckpt`` beside it."""
    here = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "qm9_heavy_flow.ckpt"
    env = os.environ.get("MOLGEN_CHECKPOINT")
    path = Path(env) if env else here
    if not path.is_file():
        raise MolgenError("no shipped checkpoint found; pass --checkpoint", path)
    return path
