"""Learning efficiency: sample quality against training CPU time, one line per config.

    python -m benchmarks.learning --configs configs/qm9_flow.yaml configs/qm9_heavy_flow.yaml \
        --budget-cpu-min 15 --evals 3 --num 500 --steps 20 --jobs 2 \
        --reference runs/data/qm9/train_smiles.txt --out benchmarks/results/learning.json

Every config trains from scratch (``molgen.training.train``, the real training path) for the same
budget of **CPU seconds of its training process** (``time.process_time``: every thread of the
process, data loading included; it excludes the evaluation below). At ``--evals`` evenly spaced points
of the budget the EMA weights are exported, and afterwards each export samples ``--num`` molecules at
``--steps`` steps. The molecules are written to an SDF file and that file is validated (what a user
gets): validity, valid and connected, atom and molecule stability with the model's bonds (and with
EDM's distance bonds for explicit-hydrogen models), uniqueness, novelty against ``--reference``.

Each config runs as its own process with ``--threads`` torch threads (default 1), ``--jobs`` at a time.
CPU seconds of a one-thread process are a fair budget even when two configs share the machine side by
side; a process with more threads than free cores burns CPU time spinning, so keep
``jobs × threads <= cores``. Each config's JSON also holds a profile of its training step (forward,
backward, optimiser and EMA, noising, collation), measured on a few batches before training.

Outputs: ``--out`` (JSON), a Markdown table beside it (``.md``) and a plot (``.png``) of valid-and-
connected and molecule stability against CPU minutes. A config's run directory (``--work/NAME``) is a
normal resumable run: the winner can go on with ``molgen train --resume DIR train.max_steps=N``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEEP = ("valid", "valid_connected", "atom_stable", "mol_stable", "atom_stable_edm", "mol_stable_edm", "unique",
        "novel")


# ------------------------------------------------------------------------------------------ one config
def _load(config: Path, overrides: list[str], work: Path, threads: int):
    from molgen.config import load_config

    cfg = load_config(config, overrides)
    name = config.stem
    cfg.out_dir = (work / name).resolve()
    cfg.train.val_num_samples = 0  # evaluation happens here, outside the CPU budget
    cfg.data.val = None
    cfg.trainer.cpu_threads = threads
    cfg.trainer.log_every_n_steps = 50
    cfg.train.checkpoint_every_n_steps = 500
    if cfg.optim.schedule == "cosine" and cfg.optim.decay_steps is None:
        cfg.optim.decay_steps = cfg.train.max_steps  # the config's own schedule, whatever the budget
    cfg.train.max_steps = 10**8  # the budget ends training
    return cfg


def profile_step(cfg, num_batches: int = 6, warmup: int = 2) -> dict:
    """Median seconds of the parts of a training step on real batches (outside Lightning)."""
    import statistics

    import torch

    from molgen.config import config_to_dict
    from molgen.data.datamodule import MoleculeDataModule
    from molgen.processes.state import MolState
    from molgen.training.module import MolgenModule

    dm = MoleculeDataModule(cfg.data.train, None, cfg.data.batch_size, cfg.data.max_atoms, seed=cfg.seed)
    module = MolgenModule(config_to_dict(cfg), dm.stats, dm.vocab.to_dict())
    opt = torch.optim.AdamW(module.model.parameters(), lr=cfg.optim.lr)
    proc = module.process
    loader = iter(dm.train_dataloader())
    parts: dict[str, list[float]] = {k: [] for k in ("collate", "noise", "self_cond", "forward", "loss",
                                                      "backward", "optimizer_ema")}
    atoms = []
    for i in range(warmup + num_batches):
        clock = time.perf_counter()
        batch = next(loader)
        stamps = {"collate": time.perf_counter()}
        gen = torch.Generator().manual_seed(i)
        clean = MolState.from_batch(batch)
        t = proc.sample_time(clean.num_graphs, generator=gen)
        noisy = proc.corrupt(clean, t, generator=gen)
        stamps["noise"] = time.perf_counter()
        sc = None
        if module.self_condition and i % 2:  # training draws it half of the time
            with torch.no_grad():
                sc = module.model(proc.model_input(noisy, t)).detach()
        stamps["self_cond"] = time.perf_counter()
        out = module.model(proc.model_input(noisy, t, sc))
        stamps["forward"] = time.perf_counter()
        loss = proc.loss(out, clean, noisy, t)["loss"]
        stamps["loss"] = time.perf_counter()
        loss.backward()
        stamps["backward"] = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if module.ema is not None:
            module.ema.update_parameters(module.model)
        stamps["optimizer_ema"] = time.perf_counter()
        if i >= warmup:
            for k, v in stamps.items():
                parts[k].append(v - clock)
                clock = v
            atoms.append(int(batch.num_nodes))
    med = {k: statistics.median(v) for k, v in parts.items()}
    total = sum(med.values())
    return {"batches": num_batches, "graphs_per_batch": cfg.data.batch_size,
            "atoms_per_batch": statistics.median(atoms), "step_s": round(total, 4),
            "seconds": {k: round(v, 4) for k, v in med.items()},
            "share": {k: round(v / total, 3) for k, v in med.items()}}


def run_one(config: Path, overrides: list[str], work: Path, budget_s: float, evals: int, num: int, steps: int,
            threads: int, reference: Path | None, batch_size: int) -> dict:
    """Train one config for ``budget_s`` CPU seconds, export at ``evals`` points, then evaluate."""
    import torch
    from lightning.pytorch.callbacks import Callback

    from molgen.training.checkpoint import export_model
    from molgen.training.train import train

    torch.set_num_threads(threads)
    cfg = _load(config, overrides, work, threads)
    run = Path(cfg.out_dir)
    run.mkdir(parents=True, exist_ok=True)
    profile = profile_step(cfg)
    marks = [budget_s * (k + 1) / evals for k in range(evals)]
    exports: list[dict] = []
    start_cpu, start_wall = time.process_time(), time.perf_counter()

    class Budget(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            used = time.process_time() - start_cpu
            while marks and used >= marks[0]:
                marks.pop(0)
                path = run / f"eval{len(exports)}.ckpt"
                info = {"cpu_s": round(used, 1), "wall_s": round(time.perf_counter() - start_wall, 1),
                        "step": trainer.global_step, "molecules_seen": trainer.global_step * cfg.data.batch_size}
                export_model(pl_module, path, meta=info)
                exports.append({**info, "file": str(path)})
            if not marks:
                trainer.should_stop = True

    train(cfg, extra_callbacks=[Budget()])
    rows = [evaluate(Path(e["file"]), num, steps, batch_size, reference, run) | e for e in exports]
    return {"config": str(config), "name": config.stem, "overrides": overrides, "threads": threads,
            "budget_cpu_s": budget_s, "profile": profile, "run_dir": str(run), "rows": rows}


@functools.lru_cache(maxsize=4)
def _reference(path: Path):
    """The reference SMILES, canonicalised once per process (100,000 QM9 SMILES take about a minute)."""
    from molgen.validation.reference import load_reference

    return load_reference(path)


def evaluate(model_file: Path, num: int, steps: int, batch_size: int, reference: Path | None, run: Path) -> dict:
    """Sample ``num`` molecules, write them to SDF, validate the file: the metrics in :data:`KEEP`."""
    from molgen.sampling.generate import generate_graphs
    from molgen.sampling.writers import write_sdf
    from molgen.training.checkpoint import load_model
    from molgen.validation import validate_sdf
    from molgen.validation.io import validation_vocab

    gm = load_model(model_file)
    if reference is not None:
        reference = _reference(Path(reference))
    t0 = time.perf_counter()
    graphs = generate_graphs(gm.model, gm.process, gm.vocab, gm.stats, num, steps, batch_size, seed=0,
                             self_condition=gm.self_condition)
    seconds = time.perf_counter() - t0
    sdf = run / f"{model_file.stem}_steps{steps}.sdf"
    write_sdf(graphs, gm.vocab, sdf)
    # the file holds a heavy-atom model's molecules with their RDKit hydrogens: read them with hydrogen
    res = validate_sdf(sdf, vocab=validation_vocab(gm.vocab), reference=reference, checks=(),
                       progress=False)
    m = res.metrics
    row = {k: m.get(k) for k in KEEP}
    if not gm.vocab.explicit_hydrogens:  # protocol A needs generated hydrogens; RDKit placed these
        row["atom_stable_edm"] = row["mol_stable_edm"] = None
    written = int(m["n_input"])  # records in the file: every asked molecule is written, none dropped
    return {**row, "num": num, "written": written, "steps": steps, "sampling_s": round(seconds, 2),
            "vocab": gm.vocab.name}


# -------------------------------------------------------------------------------------------- driver
def _table(results: list[dict]) -> str:
    lines = ["| config | CPU min | step | step s (profile, as run) | valid | valid & connected | mol stable | "
             "atom stable | mol stable (EDM) | unique | novel |", "|" + "---|" * 11]
    for r in results:
        for row in r["rows"]:
            def f(k):
                v = row.get(k)
                return "—" if v is None else f"{v:.3f}"
            lines.append(f"| {r['name']} | {row['cpu_s'] / 60:.1f} | {row['step']} | {r['profile']['step_s']:.3f} | "
                         f"{f('valid')} | {f('valid_connected')} | {f('mol_stable')} | {f('atom_stable')} | "
                         f"{f('mol_stable_edm')} | {f('unique')} | {f('novel')} |")
    return "\n".join(lines) + "\n"


def _plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, ax in zip(("valid_connected", "mol_stable"), axes):
        for r in results:
            xs = [row["cpu_s"] / 60 for row in r["rows"]]
            ys = [row.get(key) or 0.0 for row in r["rows"]]
            ax.plot(xs, ys, marker="o", label=r["name"])
        ax.set_xlabel("training CPU minutes")
        ax.set_ylabel(key.replace("_", " "))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{results[0]['rows'][0]['num']} molecules at {results[0]['rows'][0]['steps']} steps, from the file")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", type=Path, nargs="+", required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="override for every config, key=value (e.g. data.limit_train=1000)")
    ap.add_argument("--budget-cpu-min", type=float, required=True, help="training CPU minutes per config")
    ap.add_argument("--evals", type=int, default=3, help="evaluation points, evenly spaced over the budget")
    ap.add_argument("--num", type=int, default=500)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=250, help="sampling batch")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per config process")
    ap.add_argument("--jobs", type=int, default=1, help="configs trained at the same time")
    ap.add_argument("--reference", type=Path, default=None, help="training SMILES, one per line (novelty)")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "learning")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # internal: run configs[0] here
    args = ap.parse_args(argv)

    budget_s = 60 * args.budget_cpu_min
    if args.one:
        res = run_one(args.configs[0], args.overrides, args.work, budget_s, args.evals, args.num, args.steps,
                      args.threads, args.reference, args.batch_size)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2) + "\n")
        return res

    args.work.mkdir(parents=True, exist_ok=True)
    pending = list(args.configs)
    running: list[tuple[subprocess.Popen, Path]] = []
    parts: list[Path] = []
    t0 = time.perf_counter()
    while pending or running:
        while pending and len(running) < args.jobs:
            cfg = pending.pop(0)
            part = args.work / f"{cfg.stem}.json"
            part.unlink(missing_ok=True)
            cmd = [sys.executable, "-m", "benchmarks.learning", "--one", "--configs", str(cfg),
                   "--budget-cpu-min", str(args.budget_cpu_min), "--evals", str(args.evals), "--num", str(args.num),
                   "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                   "--work", str(args.work), "--out", str(part)]
            cmd += [f"--set={o}" for o in args.overrides]
            if args.reference:
                cmd += ["--reference", str(args.reference)]
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            log = open(args.work / f"{cfg.stem}.log", "w")
            running.append((subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), part))
            parts.append(part)
        time.sleep(2)
        for proc, part in list(running):
            if proc.poll() is not None:
                running.remove((proc, part))
                if proc.returncode != 0:
                    print(f"learning: {part.stem} failed (exit {proc.returncode}; log {part.with_suffix('.log')})",
                          file=sys.stderr)
    results = [json.loads(p.read_text()) for p in parts if p.is_file()]
    if not results:
        raise SystemExit("learning: no config finished")
    out = {"command": " ".join(["python -m benchmarks.learning", *(argv if argv is not None else sys.argv[1:])]),
           "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
           "jobs": args.jobs, "threads": args.threads, "budget_cpu_min": args.budget_cpu_min,
           "wall_s": round(time.perf_counter() - t0, 1), "configs": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(_table(results))
    _plot(results, args.out.with_suffix(".png"))
    print(_table(results))
    return out


if __name__ == "__main__":
    main()
