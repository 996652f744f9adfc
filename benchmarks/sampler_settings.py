"""Sampler settings of one trained model, side by side: the same molecules asked for, judged on the SDF.

    python -m benchmarks.sampler_settings --checkpoint data/checkpoints/qm9_heavy_flow.ckpt \
        --settings "as_trained" "discrete_temperature=0.5" \
                   "discrete_temperature=0.5,discrete_stochasticity=1" \
        --steps 20 --num 1000 --reference runs/data/qm9_heavy/train_smiles.txt \
        --out benchmarks/results/sampler_settings.json

A setting is ``as_trained`` (the process settings stored in the model file) or comma-separated process
options ``key=value`` that replace them for sampling (the same as ``molgen sample --option``). Sampling
settings change no weight: they are chosen here, on the molecules they produce, and should then be
confirmed on another seed (``benchmarks.sampling_quality --seed``). Every row comes from
:func:`benchmarks.sampling_quality.measure`: all molecules asked for are written and counted. Writes the
JSON and a Markdown table beside it (``.md``).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import torch

from benchmarks.sampling_quality import measure

AS_TRAINED = "as_trained"


def parse_setting(text: str) -> dict:
    """``"a=1,b=x"`` -> ``{"a": 1, "b": "x"}`` (values parsed as YAML scalars); ``as_trained`` -> ``{}``."""
    from molgen.config import parse_options

    if text.strip() in ("", AS_TRAINED):
        return {}
    return parse_options(part for part in text.split(",") if part.strip())


def markdown(result: dict) -> str:
    cols = ("valid", "valid_connected", "atom_stable", "mol_stable", "mol_stable_edm", "unique", "novel",
            "atom_types_tv", "bond_types_tv", "n_atoms_tv", "ring_sizes_tv", "molecules_per_s")
    lines = [f"Model `{result['checkpoint']}` (step {result['trained'].get('global_step')}), "
             f"{result['rows'][0]['num']} molecules per row, seed {result['seed']}, {result['threads']} thread(s).", "",
             "| setting | steps | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for r in result["rows"]:
        vals = ["" if r.get(c) is None else (f"{r[c]:.3f}" if c != "molecules_per_s" else f"{r[c]:.0f}") for c in cols]
        lines.append(f"| {r['setting']} | {r['steps']} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=None, help="model file (default: the shipped QM9 model)")
    ap.add_argument("--settings", nargs="+", default=[AS_TRAINED], help="as_trained or key=value[,key=value]")
    ap.add_argument("--steps", type=int, nargs="+", default=[20])
    ap.add_argument("--num", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reference", type=Path, default=None, help="training SMILES (novelty, distances)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    from molgen.sampling.generate import default_checkpoint
    from molgen.training.checkpoint import load_model

    torch.set_num_threads(args.threads)
    ckpt = args.checkpoint or default_checkpoint()
    reference = None
    if args.reference is not None:
        from molgen.validation.reference import load_reference

        reference = load_reference(args.reference)
    folder = Path(tempfile.mkdtemp(prefix="molgen_settings_"))
    rows, trained = [], {}
    for k, text in enumerate(args.settings):
        opts = parse_setting(text)
        gm = load_model(ckpt, process_options=opts or None)
        trained = gm.meta
        for steps in args.steps:
            row = {"setting": text or AS_TRAINED, "options": opts,
                   **measure(gm, steps, args.num, args.batch_size, args.seed, reference, folder / f"{k}_{steps}.sdf")}
            print(json.dumps(row), flush=True)
            rows.append(row)
    result = {"checkpoint": str(ckpt), "trained": trained, "seed": args.seed, "threads": args.threads,
              "machine": platform.processor() or platform.machine(), "torch": torch.__version__, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    return result


if __name__ == "__main__":
    main()
