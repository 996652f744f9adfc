"""Benchmark dataset preparation: wall time, CPU time and peak memory.

Stages (each runs in a fresh process so its memory figures are its own):

* ``qm9``: the full QM9 (qm9pack CSVs, 130,831 molecules) -> ``--qm9-out``;
* ``moses``: 10,000 MOSES molecules (``--moses-limit``), SMILES -> RDKit conformers, via
  ``molgen.data.moses.prepare_moses`` -> ``--moses-out``.

Memory: ``peak_rss_self_mb`` and ``peak_rss_children_mb`` are ``resource.getrusage`` high-water
marks (ru_maxrss) of the stage process and of its largest finished child (pool worker);
``peak_rss_tree_mb`` is the highest sum of VmRSS over the stage's process tree, sampled every 0.1 s.

Run: ``python benchmarks/prepare_data.py --out results.json --qm9-out /work/qm9_full``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MOSES = REPO.parent / "shared" / "data" / "moses" / "train.csv.gz"


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                kids = [int(k) for k in task.read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


class TreeRssSampler(threading.Thread):
    """Samples the summed VmRSS (kB) of this process and its descendants; keeps the maximum."""

    def __init__(self, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.period, self.peak_kb, self._halt = period, 0, threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._halt.is_set():
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(p) for p in [me, *_descendants(me)]))
            self._halt.wait(self.period)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak_kb


def _stage(name: str, kwargs: dict, queue: mp.Queue) -> None:
    """Run one preparation in this (fresh) process and put its figures on ``queue``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sampler = TreeRssSampler()
    sampler.start()
    t0, c0 = time.perf_counter(), os.times()
    try:
        if name == "qm9":
            from molgen.data.qm9 import prepare_qm9

            summary = prepare_qm9(Path(kwargs["out"]), source=kwargs.get("source"), seed=0, force=True)
        else:
            from molgen.chem.vocab import DRUG
            from molgen.data.moses import prepare_moses

            summary = prepare_moses(
                Path(kwargs["source"]),
                Path(kwargs["out"]),
                vocab=DRUG,
                limit=kwargs["limit"],
                workers=0,
                seed=0,
            )
        error = None
    except Exception as exc:  # noqa: BLE001 -- the failure becomes a row; the other stage still runs
        summary, error = {}, f"{type(exc).__name__}: {exc}"
    wall, c1 = time.perf_counter() - t0, os.times()
    tree_kb = sampler.stop()
    self_ru, kids_ru = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    kept = summary.get("kept")
    queue.put(
        {
            "error": error,
            "out": kwargs["out"],
            "wall_s": round(wall, 2),
            "cpu_s": round(
                (c1.user - c0.user)
                + (c1.system - c0.system)
                + (c1.children_user - c0.children_user)
                + (c1.children_system - c0.children_system),
                2,
            ),
            "peak_rss_self_mb": round(self_ru.ru_maxrss / 1024, 1),
            "peak_rss_children_mb": round(kids_ru.ru_maxrss / 1024, 1),
            "peak_rss_tree_mb": round(tree_kb / 1024, 1),
            "kept": kept,
            "skipped": summary.get("skipped"),
            "skip_reasons": summary.get("skip_reasons"),
            "splits": summary.get("splits"),
            "molecules_per_s": round((kept + summary.get("skipped", 0)) / wall, 1)
            if kept is not None
            else None,
        }
    )


def run_stage(name: str, **kwargs) -> dict:
    """Run a stage in a fresh spawned process and return its figures."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_stage, args=(name, kwargs, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> dict:
    """Command-line entry; returns the results dict that it also writes to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("prepare_data_results.json"), help="results JSON")
    ap.add_argument(
        "--qm9-out", type=Path, default=None, help="prepared QM9 folder (default: a temporary one)"
    )
    ap.add_argument("--qm9-source", type=Path, default=None, help="QM9 source (default: installed qm9pack)")
    ap.add_argument("--moses-source", type=Path, default=DEFAULT_MOSES, help="MOSES CSV(.gz)")
    ap.add_argument("--moses-out", type=Path, default=None, help="prepared MOSES folder (default: temporary)")
    ap.add_argument("--moses-limit", type=int, default=10000, help="MOSES molecules to prepare")
    ap.add_argument("--only", choices=("qm9", "moses"), default=None, help="run one stage only")
    args = ap.parse_args(argv)

    import rdkit
    import torch

    results: dict = {
        "machine": {
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "rdkit": rdkit.__version__,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        }
    }
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "qm9"):
            out = args.qm9_out or Path(tmp) / "qm9"
            results["qm9"] = run_stage(
                "qm9", out=str(out), source=None if args.qm9_source is None else str(args.qm9_source)
            )
        if args.only in (None, "moses"):
            out = args.moses_out or Path(tmp) / "moses"
            results["moses"] = run_stage(
                "moses", out=str(out), source=str(args.moses_source), limit=args.moses_limit
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return results


if __name__ == "__main__":
    main()
