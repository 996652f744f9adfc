"""Sampling speed: molecules/s against steps for both processes and both denoisers, and how the cost
of one sampler step grows with atom count and batch size, with peak memory.

Cases:

* ``throughput``: ``--num`` molecules with QM9 sizes (drawn from the shipped model's size histogram)
  in batches of ``--batch-size``, for every (process, denoiser) pair and every step count in
  ``--steps``. The flow + EGNN pair is the shipped QM9 model; the others are built from
  ``configs/qm9_diffusion.yaml`` / the e3nn defaults with random weights: speed does not depend on
  the weights (the molecules they make are not validated here; ``benchmarks.sampling_quality`` does
  that for trained models).
* ``paired_edges``: one EGNN forward on ``--batch-size`` QM9-sized molecules computing the edge work
  per directed edge and per pair (``DenoiserInput.paired``), side by side: the speed-up ratio;
* ``scaling``: seconds per sampler step (median of ``--repeats`` after a warm-up) of the shipped
  model for single molecules of 10-500 atoms (complete graphs: N(N-1) directed edges) and for
  batches of 1-1,000 QM9-sized (18-atom) molecules, each in a fresh interpreter so its peak resident
  memory (``ru_maxrss``; on CUDA also ``torch.cuda.max_memory_allocated``) is its own:
  ``peak_rss_mb`` includes the ~600 MB of imports and model, ``peak_rss_above_loaded_mb`` is what the
  step itself added.

Run from the repository root (``--device cuda`` on a GPU machine)::

    python -m benchmarks.sampling --out sampling.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAIRS = (("flow", "egnn"), ("diffusion", "egnn"), ("flow", "e3nn"), ("diffusion", "e3nn"))
ATOMS = (10, 25, 50, 100, 250, 500)
BATCHES = (1, 10, 100, 1000)


def machine(device: str) -> dict:
    import torch

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": device, "load_average": list(os.getloadavg())}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def build(process: str, denoiser: str, device: str):
    """(model, process, vocab, stats, self_condition) for one pair (see the module docstring)."""
    import yaml

    from molgen.sampling.generate import default_checkpoint
    from molgen.training.checkpoint import load_model
    from molgen.training.module import build_components

    gm = load_model(default_checkpoint(), device=device)
    if (process, denoiser) == ("flow", "egnn"):
        return gm.model, gm.process, gm.vocab, gm.stats, gm.self_condition
    name = "qm9_diffusion" if process == "diffusion" else "qm9_flow"
    cfg = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    if denoiser == "e3nn":
        cfg["model"] = {"name": "e3nn"}
    cfg.setdefault("train", {})["self_condition"] = False
    model, proc = build_components(cfg, gm.vocab)
    return model.eval().to(device), proc, gm.vocab, gm.stats, False


def throughput(args) -> list[dict]:
    import torch

    from molgen.sampling.generate import generate_graphs

    rows = []
    for process, denoiser in PAIRS:
        if f"{process}+{denoiser}" not in args.pairs:
            continue
        model, proc, vocab, stats, sc = build(process, denoiser, args.device)
        generate_graphs(model, proc, vocab, stats, min(args.batch_size, 20), 2, args.batch_size, 1, sc,
                        args.device)  # warm-up
        for steps in args.steps:
            _sync(args.device)
            t0, c0 = time.perf_counter(), time.process_time()
            generate_graphs(model, proc, vocab, stats, args.num, steps, args.batch_size, args.seed, sc, args.device)
            _sync(args.device)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            row = {"process": process, "denoiser": denoiser, "steps": steps, "num": args.num,
                   "batch_size": args.batch_size, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
                   "molecules_per_s": round(args.num / wall, 2),
                   "ms_per_molecule": round(1000 * wall / args.num, 3)}
            print(json.dumps(row), flush=True)
            rows.append(row)
        del model
        torch.cuda.empty_cache() if args.device.startswith("cuda") else None
    return rows


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def one_step(n_atoms: int, batch: int, device: str, repeats: int, threads: int) -> dict:
    """Seconds of one sampler step (network + process update) for ``batch`` molecules of ``n_atoms``."""
    import torch

    from molgen.processes.state import MolState
    from molgen.sampling.generate import default_checkpoint
    from molgen.training.checkpoint import load_model

    torch.set_num_threads(threads)
    gm = load_model(default_checkpoint(), device=device)
    sizes = torch.full((batch,), n_atoms, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    template = MolState.template(sizes, gm.vocab.num_types, gm.vocab.num_charges, device=device)
    state = gm.process.prior(template, gen)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    with torch.no_grad():
        for k in range(repeats + 1):
            _sync(device)
            t0 = time.perf_counter()
            t = torch.full((batch,), 0.5, device=device)
            out = gm.model(gm.process.model_input(state, t, None))
            gm.process.step(state, out, 0.5, 0.55, generator=gen)
            _sync(device)
            if k:
                times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {"n_atoms": n_atoms, "batch": batch, "directed_edges": 2 * int(state.pairs.shape[1]),
           "seconds_per_step": round(statistics.median(times), 5),
           "ms_per_molecule_step": round(1000 * statistics.median(times) / batch, 4),
           "peak_rss_mb": round(peak, 1), "peak_rss_above_loaded_mb": round(peak - before, 1)}
    if device.startswith("cuda"):
        row["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return row


def paired_edges(args) -> dict:
    """One EGNN forward of the shipped model on ``--batch-size`` QM9-sized molecules, with the
    per-directed-edge path and the per-pair path (``DenoiserInput.paired``), alternated, median of
    ``--repeats`` each: the speed-up of computing pair-symmetric work once per pair."""
    from dataclasses import replace

    import torch

    from molgen.data.stats import size_histogram
    from molgen.processes.state import MolState
    from molgen.sampling.generate import default_checkpoint
    from molgen.sampling.sizes import sample_num_atoms
    from molgen.training.checkpoint import load_model

    gm = load_model(default_checkpoint(), device=args.device)
    gen = torch.Generator().manual_seed(args.seed)
    sizes = sample_num_atoms(size_histogram(gm.stats), args.batch_size, generator=gen)
    state = gm.process.prior(MolState.template(sizes, gm.vocab.num_types, gm.vocab.num_charges,
                                               device=args.device), gen)
    inp = gm.process.model_input(state, torch.full((args.batch_size,), 0.5, device=args.device))
    times: dict[bool, list[float]] = {False: [], True: []}
    with torch.no_grad():
        for k in range(args.repeats + 1):
            for paired in (False, True):
                _sync(args.device)
                t0 = time.perf_counter()
                gm.model(replace(inp, paired=paired))
                _sync(args.device)
                if k:
                    times[paired].append(time.perf_counter() - t0)
    per_edge, per_pair = statistics.median(times[False]), statistics.median(times[True])
    row = {"molecules": args.batch_size, "directed_edges": int(inp.edge_index.shape[1]),
           "per_edge_s": round(per_edge, 4), "per_pair_s": round(per_pair, 4),
           "speedup": round(per_edge / per_pair, 3)}
    print(json.dumps(row), flush=True)
    return row


def scaling(args) -> dict:
    def run(n: int, b: int) -> dict:
        cmd = [sys.executable, "-m", "benchmarks.sampling", "--one", str(n), str(b), "--device", args.device,
               "--repeats", str(args.repeats), "--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
        if out.returncode != 0:
            return {"n_atoms": n, "batch": b, "error": (out.stderr.strip().splitlines() or ["?"])[-1][:300]}
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(row), flush=True)
        return row

    return {"atoms": [run(n, 1) for n in args.atoms], "batch": [run(18, b) for b in args.batches]}


def plot(result: dict, path: Path) -> Path | None:
    """Two panels: molecules/s against steps per pair; ms per molecule-step against atoms and batch."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4))
    rows = result.get("throughput", [])
    for pair in sorted({(r["process"], r["denoiser"]) for r in rows}):
        pts = [(r["steps"], r["molecules_per_s"]) for r in rows if (r["process"], r["denoiser"]) == pair]
        a.plot(*zip(*pts), marker="o", label=" + ".join(pair))
    a.set(xlabel="sampler steps", ylabel="molecules / s", xscale="log", yscale="log",
          title=f"QM9 sampling ({result['machine']['device']})")
    a.legend()
    sc = result.get("scaling", {})
    atoms = [r for r in sc.get("atoms", []) if "seconds_per_step" in r]
    if atoms:
        b.plot([r["n_atoms"] for r in atoms], [r["seconds_per_step"] * 1000 for r in atoms], marker="o")
    b.set(xlabel="atoms in the molecule", ylabel="ms per sampler step", xscale="log", yscale="log",
          title="one molecule, complete graph")
    batch = [r for r in sc.get("batch", []) if "seconds_per_step" in r]
    if batch:
        c.plot([r["batch"] for r in batch], [r["ms_per_molecule_step"] for r in batch], marker="s")
    c.set(xlabel="molecules per batch (18 atoms)", ylabel="ms per molecule per step", xscale="log",
          yscale="log", title="batching")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--num", type=int, default=200, help="molecules per throughput point")
    ap.add_argument("--batch-size", type=int, default=200)
    ap.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20, 50])
    ap.add_argument("--pairs", nargs="+", default=[f"{p}+{d}" for p, d in PAIRS])
    ap.add_argument("--atoms", type=int, nargs="+", default=list(ATOMS))
    ap.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", default="", help="comma-separated: throughput,paired,scaling")
    ap.add_argument("--one", nargs=2, type=int, metavar=("ATOMS", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        row = one_step(*args.one, args.device, args.repeats, args.threads)
        print(json.dumps(row))
        return row

    import torch

    torch.set_num_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    result: dict = {"machine": machine(args.device), "settings": {k: v for k, v in vars(args).items()
                                                                   if k not in ("out", "one")}}
    if "throughput" not in skip:
        result["throughput"] = throughput(args)
    if "paired" not in skip:
        result["paired_edges"] = paired_edges(args)
    if "scaling" not in skip:
        result["scaling"] = scaling(args)
    result["machine"]["load_average_end"] = list(os.getloadavg())
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        png = plot(result, args.out.with_suffix(".png"))
        if png:
            result["plot"] = str(png)
    return result


if __name__ == "__main__":
    main()
