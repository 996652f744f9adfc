"""How many atoms each generated molecule gets."""

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
