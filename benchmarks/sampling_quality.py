"""Sample quality and speed of a model against the number of sampler steps.

    python -m benchmarks.sampling_quality --checkpoint data/checkpoints/qm9_flow.ckpt \
        --reference runs/data/qm9/train_smiles.txt --num 1000 --steps 10 20 50 100 --out quality.json

For each step count: molecules/s of sampling (batched) and the validation summary (stability in both
protocols, validity, connected validity, uniqueness, novelty against the reference SMILES, and the total
variation distances of atom counts, element frequencies, ring sizes and heavy-atom bond types from the
reference's). The summary
is taken from the SDF file the molecules are written to, as a user gets them: every molecule asked for
is written and counted, none dropped or resampled; a heavy-atom model's molecules get their hydrogens
from RDKit in the writer, nothing else is repaired. Protocol A (EDM's distance bonds) is reported for
explicit-hydrogen models only: a heavy-atom model's hydrogens are placed by RDKit, not generated.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch


KEEP = ("atom_stable_edm", "mol_stable_edm", "atom_stable", "mol_stable", "valid", "valid_connected", "unique",
        "novel")
DISTANCES = ("n_atoms_tv", "atom_types_tv", "ring_sizes_tv", "bond_types_tv")


def sample_to_sdf(gm, num: int, steps: int, batch_size: int, seed: int, sdf: Path, device: str = "cpu") -> dict:
    """Sample ``num`` molecules from a loaded model and write every one of them to ``sdf``.

    Returns:
        ``written`` (= ``num``), ``sampling_seconds`` (sampling only, not writing) and ``molecules_per_s``.
    """
    from molgen.sampling.generate import generate_graphs
    from molgen.sampling.writers import write_sdf

    t0 = time.perf_counter()
    graphs = generate_graphs(gm.model, gm.process, gm.vocab, gm.stats, num, steps, batch_size, seed,
                             gm.self_condition, device=device, progress=True)
    seconds = time.perf_counter() - t0
    sdf.parent.mkdir(parents=True, exist_ok=True)
    counts = write_sdf(graphs, gm.vocab, sdf)
    return {"written": counts["written"], "sampling_seconds": seconds, "molecules_per_s": num / seconds}


def measure(gm, steps: int, num: int, batch_size: int, seed: int, reference, sdf: Path) -> dict:
    """Sample ``num`` molecules from a loaded model at ``steps``, write them to ``sdf``, validate that file.

    Args:
        gm: a :class:`~molgen.training.checkpoint.GenerativeModel` (its process carries the sampler settings).
        reference: a loaded :class:`~molgen.validation.reference.Reference` (novelty, distances) or None.

    Returns:
        One row: steps, num, written, sampling seconds and molecules/s, :data:`KEEP`, and with a reference
        the :data:`DISTANCES` (what sharper sampling costs in diversity shows there).
    """
    from molgen.validation import validate_sdf
    from molgen.validation.io import validation_vocab

    seconds = sample_to_sdf(gm, num, steps, batch_size, seed, sdf)["sampling_seconds"]
    res = validate_sdf(sdf, vocab=validation_vocab(gm.vocab), reference=reference, checks=(), progress=True)
    row = {"steps": steps, "num": num, "written": res.metrics["n_input"], "sampling_seconds": round(seconds, 2),
           "molecules_per_s": round(num / seconds, 2), **{k: res.metrics.get(k) for k in KEEP}}
    if not gm.vocab.explicit_hydrogens:
        row["atom_stable_edm"] = row["mol_stable_edm"] = None
    if "distributions" in res.metrics:
        row.update({k: res.metrics["distributions"].get(k) for k in DISTANCES})
    return row


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=None, help="model file (default: the shipped QM9 model)")
    ap.add_argument("--reference", type=Path, default=None, help="training SMILES, one per line (novelty)")
    ap.add_argument("--num", type=int, default=1000)
    ap.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50, 100])
    ap.add_argument("--batch-size", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--option", action="append", default=[], help="process override key=value (e.g. integrator=heun)")
    ap.add_argument("--save-sdf", type=Path, default=None, help="folder for the generated SDF files "
                    "(default: a temporary folder)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import tempfile

    from molgen.config import parse_options
    from molgen.sampling.generate import default_checkpoint
    from molgen.training.checkpoint import load_model

    torch.set_num_threads(args.threads)
    opts = parse_options(args.option)
    ckpt = args.checkpoint or default_checkpoint()
    gm = load_model(ckpt, process_options=opts or None)
    if args.reference is not None:  # canonicalised once, not once per row
        from molgen.validation.reference import load_reference

        args.reference = load_reference(args.reference)
    folder = args.save_sdf or Path(tempfile.mkdtemp(prefix="molgen_quality_"))
    rows = []
    for steps in args.steps:
        row = measure(gm, steps, args.num, args.batch_size, args.seed, args.reference, folder / f"steps{steps}.sdf")
        print(json.dumps(row), flush=True)
        rows.append(row)
    result = {
        "checkpoint": str(ckpt), "vocab": gm.vocab.name, "process": gm.config["process"], "model": gm.config["model"],
        "trained": gm.meta, "threads": args.threads, "machine": platform.processor() or platform.machine(),
        "cpu_count": __import__("os").cpu_count(), "torch": torch.__version__, "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
