"""How many atoms each generated molecule gets, and how the molecules are cut into sampler batches."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from molgen.errors import MolgenError


def sample_num_atoms(
    histogram: Mapping[int | str, int | float] | None,
    num: int,
    exact: int | None = None,
    range_: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Atom counts for ``num`` molecules.

    Precedence: ``exact`` (every molecule gets that count), then ``range_`` (uniform over the
    integers lo..hi, both included), then ``histogram`` (counts drawn with probability proportional
    to the dataset's frequencies, as in EDM's size distribution p(N)).

    Args:
        histogram: {atom count: frequency}, as in a dataset's ``stats.json`` (keys may be strings).
        num: how many counts to draw.
        exact: a fixed count.
        range_: (lo, hi) inclusive.
        generator: random generator.

    Returns:
        [num] long.

    Raises:
        MolgenError: nothing to sample from, or a non-positive count, an empty range, or a histogram
            without positive mass.
    """
    if num < 0:
        raise MolgenError(f"number of molecules must be >= 0, got {num}")
    if exact is not None:
        if int(exact) < 1:
            raise MolgenError(f"exact atom count must be >= 1, got {exact}")
        return torch.full((num,), int(exact), dtype=torch.long)
    if range_ is not None:
        lo, hi = (int(x) for x in range_)
        if lo < 1 or hi < lo:
            raise MolgenError(f"atom-count range must satisfy 1 <= lo <= hi, got {range_}")
        return torch.randint(lo, hi + 1, (num,), generator=generator)
    if not histogram:
        raise MolgenError("no atom-count histogram, exact count or range to sample sizes from")
    sizes = torch.tensor([int(k) for k in histogram], dtype=torch.long)
    weights = torch.tensor([float(v) for v in histogram.values()], dtype=torch.float64)
    if (sizes < 1).any() or (weights < 0).any() or weights.sum() <= 0:
        raise MolgenError("atom-count histogram needs positive sizes, non-negative counts and positive total")
    if num == 0:
        return torch.zeros(0, dtype=torch.long)
    return sizes[torch.multinomial(weights, num, replacement=True, generator=generator)]


#: Most ligand–ligand atom pairs in one sampler batch. Each is a network edge both ways with a
#: hidden-size row per layer: 20,000 pairs keep such a tensor near 15 MB (hidden 96, float32). Larger
#: tensors cost more than their arithmetic: glibc's malloc hands large freed blocks back to the OS and
#: faults them in again at every network call. 100 ligands of 33 atoms in a 291-atom pocket ran a
#: forward 2.6x slower in one batch than in five of 20 (1 CPU thread; as fast with
#: ``MALLOC_TOP_PAD_=1000000000``; README, Benchmarks).
MAX_BATCH_PAIRS = 20_000
#: Most ligand–context (pocket) atom pairs in one sampler batch: the state keeps every such pair,
#: with its bond state (held at "no bond") and a distance for the radius cut.
MAX_BATCH_CONTEXT_PAIRS = 200_000


def sampler_batches(sizes: list[int], batch_size: int, context_atoms: int = 0) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` ranges over ``sizes`` (atoms of each molecule, fixed fragment atoms
    included; ``context_atoms`` pocket atoms beside each): at most ``batch_size`` molecules each, and
    at most :data:`MAX_BATCH_PAIRS` ligand pairs and :data:`MAX_BATCH_CONTEXT_PAIRS` ligand–pocket pairs
    unless one molecule alone holds more."""
    out: list[tuple[int, int]] = []
    start, pairs, context_pairs = 0, 0, 0
    for k, n in enumerate(int(n) for n in sizes):
        p, c = n * (n - 1) // 2, n * context_atoms
        if k > start and (k - start == batch_size or pairs + p > MAX_BATCH_PAIRS
                          or context_pairs + c > MAX_BATCH_CONTEXT_PAIRS):
            out.append((start, k))
            start, pairs, context_pairs = k, 0, 0
        pairs, context_pairs = pairs + p, context_pairs + c
    if len(sizes) > start:
        out.append((start, len(sizes)))
    return out
