"""Unconditional sampling in the sampler's batches (cut by atom pairs) against one batch, alternated.

    python -m benchmarks.sampler_batches --checkpoint data/checkpoints/drug_heavy_flow.ckpt --num 250 \\
        --batch-size 250 --rounds 3 --threads 1 --out benchmarks/results/sampler_batches_druglike.json

``molgen.sampling.sizes.sampler_batches`` cuts a batch of ``--batch-size`` molecules where its ligand pairs pass
``MAX_BATCH_PAIRS``; the other arm lifts that limit (:func:`benchmarks.pocket.pair_limits_lifted`), so the whole
batch runs at once, as before the limit. Both arms draw the same sizes (seed 0); the rounds alternate the arms.
Writes the wall seconds of every round, the batches and the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--num", type=int, default=250)
    ap.add_argument("--batch-size", type=int, default=250)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import torch

    from benchmarks.pocket import pair_limits_lifted
    from molgen.errors import MolgenError
    from molgen.sampling.generate import generate_graphs
    from molgen.sampling.sizes import sampler_batches
    from molgen.training import load_model

    try:
        gm = load_model(args.checkpoint)
    except MolgenError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    torch.set_num_threads(args.threads)

    def run() -> tuple[float, list]:
        t0 = time.perf_counter()
        graphs = generate_graphs(gm.model, gm.process, gm.vocab, gm.stats, args.num, args.steps, args.batch_size, 0)
        return time.perf_counter() - t0, graphs

    seconds: dict[str, list[float]] = {"sampler_batches": [], "one_batch": []}
    load_start = list(os.getloadavg())
    for _ in range(args.rounds):
        s, graphs = run()
        seconds["sampler_batches"].append(round(s, 2))
        with pair_limits_lifted():
            s, _ = run()
        seconds["one_batch"].append(round(s, 2))
    result = {"checkpoint": str(args.checkpoint), "num": args.num, "batch_size": args.batch_size, "steps": args.steps,
              "threads": args.threads, "batches": [b - a for a, b in sampler_batches([g.num_nodes for g in graphs],
                                                                                     args.batch_size)],
              "seconds": seconds, "load_start": load_start, "load_end": list(os.getloadavg())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
