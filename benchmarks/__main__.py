"""One entry for the benchmark suite: ``python -m benchmarks all --out results.json`` (or ``molgen bench``).

Each suite runs as its own ``python -m benchmarks.NAME`` process (so its memory and thread settings are
its own) and writes ``NAME.json`` beside the output; the output file gathers them with the machine,
the commands, the wall time of each suite and a summary (``summary`` below, also written as a
Markdown table, ``.md`` beside the JSON). Plots (``.png``) come from the suites that draw them.

Suites (``all`` = every one; ``--quick`` shrinks each to a smoke size, for checking the machinery):

* ``sampling``: molecules/s against steps, both processes x both denoisers; step cost against atoms
  (10-500) and batch size (1-1,000); peak memory (:mod:`benchmarks.sampling`);
* ``training``: molecules/s of full training steps of the shipped config on a prepared QM9 cache
  (``--qm9-dir``; default: the committed 300-molecule sample, prepared into a temporary folder);
* ``validation``: molecules per CPU-second against PoseBusters' ``mol`` and ``dock`` configs on the
  same 100 FEP ligands, and the agreement of the verdicts (needs ``../shared/data``);
* ``docking``: Vina receptor preparation, maps and per-ligand seconds per mode;
* ``models``: forward + backward time and peak memory of both denoisers.

Use ``--device cuda`` on a GPU machine (sampling, training). Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUITES = ("sampling", "training", "validation", "docking", "models")


def suite_args(name: str, args, tmp: Path) -> list[str]:
    """Command-line arguments of one suite (full size, or smoke size with ``--quick``)."""
    q = args.quick
    if name == "sampling":
        out = ["--device", args.device, "--threads", str(args.threads)]
        if q:
            out += ["--num", "20", "--batch-size", "20", "--steps", "2", "5", "--atoms", "10", "50",
                    "--batches", "1", "10", "--repeats", "1"]
        return out
    if name == "training":
        data = args.qm9_dir / "train" if args.qm9_dir else _sample_qm9(tmp) / "train"
        return ["--data", str(data), "--device", args.device, "--threads", str(args.threads),
                "--steps", "2" if q else "10", "--warmup", "1" if q else "2"]
    if name == "validation":
        return ["--n", "4" if q else "100"]
    if name == "docking":
        return (["--systems", "mcl1_extra_flips", "--max-ligands", "1", "--modes", "score", "minimize"] if q
                else ["--max-ligands", "3", "--exhaustiveness", "8"])
    if name == "models":
        return ["--threads", str(args.threads), "--repeats", "1" if q else "5", "--warmup", "1" if q else "2"] + (
            ["--cases", "qm9"] if q else [])
    raise ValueError(name)


def _sample_qm9(tmp: Path) -> Path:
    out = tmp / "qm9_sample"
    if not (out / "train" / "index.json").is_file():
        from molgen.data.qm9 import prepare_qm9

        prepare_qm9(out, source=REPO / "data" / "qm9" / "qm9_sample.csv", seed=0)
    return out


def summary(results: dict) -> list[dict]:
    """The headline figures, one row each: what, figure, unit."""
    rows = []

    def add(what: str, value, unit: str) -> None:
        if value is not None:
            rows.append({"what": what, "value": value, "unit": unit})

    s = results.get("sampling", {})
    for r in s.get("throughput", []):
        add(f"sampling {r['process']}+{r['denoiser']}, {r['steps']} steps, batch {r['batch_size']}",
            r["molecules_per_s"], "molecules/s")
    pe = s.get("paired_edges", {})
    add(f"EGNN forward, {pe.get('molecules')} molecules: per-pair / per-edge edge work, speed-up",
        pe.get("speedup"), "x")
    for r in s.get("scaling", {}).get("atoms", []):
        add(f"one sampler step, 1 molecule of {r['n_atoms']} atoms", r.get("seconds_per_step"), "s")
    for r in s.get("scaling", {}).get("batch", []):
        add(f"one sampler step, batch of {r['batch']} x 18 atoms, per molecule", r.get("ms_per_molecule_step"), "ms")
        add(f"peak RSS above loaded model, batch of {r['batch']}", r.get("peak_rss_above_loaded_mb"), "MB")
    t = results.get("training", {})
    add("training, shipped config", t.get("molecules_per_s"), "molecules/s")
    v = results.get("validation", {}).get("speed_and_agreement", {})
    for mode in ("mol", "dock"):
        m = v.get(mode, {})
        add(f"validation speed / PoseBusters '{mode}' config (CPU time, {v.get('n_molecules')} FEP ligands)",
            m.get("speed_ratio_molgen_over_posebusters_cpu"), "x")
        add(f"validation speed / PoseBusters '{mode}' config (wall time)",
            m.get("speed_ratio_molgen_over_posebusters_wall"), "x")
        for thr, a in m.get("agreement", {}).items():
            add(f"pb_valid verdicts equal to PoseBusters '{mode}' ({thr.replace('_', ' ')})",
                a.get("verdict_agreement"), "fraction")
    for sys_name, d in results.get("docking", {}).get("systems", {}).items():
        for mode, m in d.get("per_ligand_mean", {}).items():
            add(f"Vina {mode}, {sys_name}, per ligand", m.get("mean_wall_s_per_ligand"), "s")
    return rows


def markdown(machine: dict, rows: list[dict], commands: dict) -> str:
    gpu = f", {machine['gpu']}" if machine.get("gpu") else ""
    head = (f"Machine: {machine['processor']}, {machine['cpu_count']} cores, device {machine['device']}{gpu}; "
            f"load average at start {machine['load_average'][0]:.1f}.")
    lines = [head, "", "| what | figure | unit |", "|---|---|---|"]
    lines += [f"| {r['what']} | {r['value']} | {r['unit']} |" for r in rows]
    lines += ["", "Commands:", ""] + [f"- `{c}`" for c in commands.values()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suites", nargs="+", help=f"all, or some of: {', '.join(SUITES)}")
    ap.add_argument("--out", type=Path, required=True, help="results JSON (suite files go beside it)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--qm9-dir", type=Path, default=None, help="prepared QM9 (molgen data prepare qm9)")
    ap.add_argument("--quick", action="store_true", help="smoke sizes: checks the machinery, not the figures")
    args = ap.parse_args(argv)
    names = list(SUITES) if "all" in args.suites else args.suites
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        ap.error(f"unknown suite(s) {', '.join(unknown)}; known: all, {', '.join(SUITES)}")
    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    import torch

    machine = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
               "cpu_count": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
               "device": args.device, "load_average": list(os.getloadavg())}
    if args.device.startswith("cuda"):
        machine["gpu"] = torch.cuda.get_device_name(0)
    results: dict = {"machine": machine, "quick": args.quick, "suites": {}}
    commands = {}
    with tempfile.TemporaryDirectory(prefix="molgen-bench-") as tmp:
        for name in names:
            path = out.with_name(f"{out.stem}.{name}.json")
            cmd = [sys.executable, "-m", f"benchmarks.{name}", *suite_args(name, args, Path(tmp)), "--out", str(path)]
            commands[name] = " ".join(["python", *cmd[1:]])
            print(f"== {name}: {commands[name]}", flush=True)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
            entry = {"command": commands[name], "seconds": round(time.perf_counter() - t0, 1),
                     "exit_code": proc.returncode, "json": str(path)}
            if proc.returncode == 0 and path.is_file():
                results[name] = json.loads(path.read_text())
            results["suites"][name] = entry
    machine["load_average_end"] = list(os.getloadavg())
    results["summary"] = summary(results)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(machine, results["summary"], commands))
    failed = [n for n, e in results["suites"].items() if e["exit_code"] != 0]
    print(f"results: {out} (+ {out.with_suffix('.md').name}); failed suites: {', '.join(failed) or 'none'}")
    if failed:
        raise SystemExit(1)
    return results


if __name__ == "__main__":
    main()
