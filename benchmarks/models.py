"""Forward + backward time and peak memory of the denoisers on CPU.

Cases (default model sizes):

* ``qm9``: 64 QM9-sized graphs of 18 atoms, complete graphs (19 584 directed edges);
* ``pocket``: 4 systems of 500 atoms at 0.1 atoms/Å³ (organic density), radius graph r = 5 Å,
  models built with ``cutoff=5``.

Each (model, case) runs in a fresh interpreter so that its peak resident memory is its own.
Run from the repository root::

    python -m benchmarks.models --out benchmarks/models.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

log = logging.getLogger("benchmarks.models")

CASES = {
    "qm9": {"num_graphs": 64, "atoms": 18, "graph": "complete", "cutoff": None},
    "pocket": {"num_graphs": 4, "atoms": 500, "graph": "radius", "cutoff": 5.0},
}
MODELS = ("egnn", "e3nn")
DENSITY = 0.1  # atoms per Å³


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_one(model_name: str, case: str, repeats: int, warmup: int, threads: int, seed: int = 0) -> dict:
    """Time ``repeats`` forward+backward passes of one model on one case (in this process)."""
    import torch

    from molgen.models import DenoiserInput, build_model
    from molgen.models.graphs import complete_graph, radius_graph

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    spec = CASES[case]
    b, n_per = spec["num_graphs"], spec["atoms"]
    n = b * n_per
    t_types, n_charges, k_bonds = 5, 3, 5
    batch = torch.arange(b).repeat_interleave(n_per)
    side = (n_per / DENSITY) ** (1 / 3)
    pos = torch.rand(n, 3) * side if spec["graph"] == "radius" else torch.randn(n, 3) * 1.5
    t0 = time.perf_counter()
    ei = complete_graph(batch, b) if spec["graph"] == "complete" else radius_graph(pos, 5.0, batch)
    graph_s = time.perf_counter() - t0
    e = ei.shape[1]

    def onehot(k: int, rows: int) -> torch.Tensor:
        return torch.nn.functional.one_hot(torch.randint(0, k, (rows,)), k + 1).float()

    inp = DenoiserInput(
        pos=pos,
        h_type=onehot(t_types, n),
        h_charge=onehot(n_charges, n),
        edge_index=ei,
        e_bond=onehot(k_bonds, e),
        t=torch.rand(b),
        batch=batch,
        num_graphs=b,
    )
    model = build_model(model_name, num_types=t_types, num_charges=n_charges, cutoff=spec["cutoff"])
    params = sum(p.numel() for p in model.parameters())
    rss_before = _rss_mb()

    def step() -> tuple[float, float]:
        model.zero_grad(set_to_none=True)
        start, cpu = time.perf_counter(), time.process_time()
        out = model(inp)
        loss = (out.pos - pos).square().mean() + out.type_logits.square().mean()
        loss = loss + out.charge_logits.square().mean() + out.bond_logits.square().mean()
        loss.backward()
        return time.perf_counter() - start, time.process_time() - cpu

    for _ in range(warmup):
        step()
    times, cpu_times = zip(*(step() for _ in range(repeats)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "model": model_name,
        "case": case,
        "num_graphs": b,
        "atoms_per_graph": n_per,
        "graph": spec["graph"],
        "num_edges": e,
        "mean_neighbours": e / n,
        "graph_build_s": graph_s,
        "params": params,
        "fwd_bwd_median_s": statistics.median(times),
        "fwd_bwd_min_s": min(times),
        "fwd_bwd_all_s": list(times),
        # CPU seconds of this process summed over its threads: less sensitive to other load
        "fwd_bwd_cpu_median_s": statistics.median(cpu_times),
        "peak_rss_mb": peak,
        "peak_rss_increase_mb": peak - rss_before,
    }


def main(argv: list[str] | None = None) -> int:
    """Run every (model, case) in a subprocess and write the results as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the results to this JSON file")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--one", nargs=2, metavar=("MODEL", "CASE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(*args.one, args.repeats, args.warmup, args.threads)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    load_before = os.getloadavg()
    results = []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    for m in args.models:
        for c in args.cases:
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.models",
                "--one",
                m,
                c,
                "--repeats",
                str(args.repeats),
                "--warmup",
                str(args.warmup),
                "--threads",
                str(args.threads),
            ]
            proc = subprocess.run(cmd, check=True, timeout=1800, capture_output=True, text=True, env=env)
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            log.info(
                "%s %-6s params=%d edges=%d fwd+bwd median %.3f s wall, %.3f s CPU, peak RSS %.0f MB (+%.0f MB)",
                m,
                c,
                res["params"],
                res["num_edges"],
                res["fwd_bwd_median_s"],
                res["fwd_bwd_cpu_median_s"],
                res["peak_rss_mb"],
                res["peak_rss_increase_mb"],
            )
            results.append(res)
    report = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "torch": torch.__version__,
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "repeats": args.repeats,
        "warmup": args.warmup,
        "results": results,
    }
    text = json.dumps(report, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
