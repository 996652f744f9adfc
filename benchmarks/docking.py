"""Docking time with the Vina Python bindings: receptor preparation, maps, and per ligand per mode.

For each system (prepared protein + posed ligands from ``data/complexes/``):

* ``receptor_prep``: Meeko PDB -> PDBQT (:func:`molgen.docking.prepare_receptor`);
* ``maps``: Vina receptor load + maps for every atom type over the box around the first ligand
  (4 Å padding), done once per receptor (per worker in a pool);
* per ligand and mode (``score``, ``minimize``, ``dock`` with ``--exhaustiveness``, 1 thread):
  wall and CPU seconds of :meth:`molgen.docking.VinaScorer.run`, which includes ligand preparation;
* ``breakdown`` per ligand: Meeko ligand preparation, ``set_ligand_from_string`` (Vina's per-ligand
  pair tables), one ``score()`` call (median of 20) and one ``optimize()`` call.

Wall times depend on machine load: the JSON records the load average before and after.
Run from the repository root::

    python -m benchmarks.docking --out benchmarks/docking.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SYSTEMS = {
    "thrombin_core": ("data/complexes/fep/thrombin_core/thrombin_core_protein.pdb",
                      "data/complexes/fep/thrombin_core/thrombin_core_ligands.sdf"),
    "mcl1_extra_flips": ("data/complexes/fep/mcl1_extra_flips/mcl1_extra_flips_protein.pdb",
                         "data/complexes/fep/mcl1_extra_flips/mcl1_extra_flips_ligands.sdf"),
}
log = logging.getLogger("benchmarks.docking")


def _timed(fn, *args, **kwargs):
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w, time.process_time() - c


def _breakdown(scorer, mol) -> dict:
    from molgen.docking import mol_to_pdbqt, with_explicit_hydrogens

    t = time.perf_counter()
    mol_h, _ = with_explicit_hydrogens(mol)
    pdbqt = mol_to_pdbqt(mol_h)
    prep = time.perf_counter() - t
    _, set_lig, _ = _timed(scorer.vina.set_ligand_from_string, pdbqt)
    score_calls = []
    for _ in range(20):
        _, w, _ = _timed(scorer.vina.score)
        score_calls.append(w)
    _, opt, _ = _timed(scorer.vina.optimize)
    return {"ligand_prep_s": round(prep, 4), "set_ligand_s": round(set_lig, 4),
            "score_call_s": round(statistics.median(score_calls), 6), "optimize_call_s": round(opt, 4)}


def bench_system(name: str, receptor: Path, ligands: Path, max_ligands: int, exhaustiveness: int,
                 modes: list[str]) -> dict:
    """Time one receptor and its first ``max_ligands`` ligands in every mode."""
    from rdkit import Chem

    from molgen.docking import DockSettings, VinaScorer, box_from_mols, prepare_receptor

    mols = [m for m in Chem.SDMolSupplier(str(ligands), removeHs=False)][:max_ligands]
    box = box_from_mols(mols[:1], 4.0)
    with tempfile.TemporaryDirectory() as tmp:
        rec, rec_wall, rec_cpu = _timed(prepare_receptor, receptor, Path(tmp) / "receptor.pdbqt")
        settings = DockSettings(mode="score", exhaustiveness=exhaustiveness, cpu=1, seed=1)
        scorer, map_wall, map_cpu = _timed(VinaScorer, rec.pdbqt, box, settings)
        per_mode: dict[str, list[dict]] = {m: [] for m in modes}
        breakdown = []
        try:
            for i, mol in enumerate(mols):
                name_i = mol.GetProp("_Name") if mol.HasProp("_Name") else f"ligand_{i}"
                breakdown.append({"name": name_i, "num_heavy_atoms": mol.GetNumHeavyAtoms(),
                                  **_breakdown(scorer, mol)})
                for mode in modes:
                    res, wall, cpu = _timed(scorer.run, mol, i, name_i, mode)
                    row = res.row
                    per_mode[mode].append({"name": name_i, "status": row["status"], "reason": row["reason"],
                                           "vina_kcal_mol": row["vina_kcal_mol"],
                                           "rmsd_to_input_A": row["rmsd_to_input_A"],
                                           "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)})
                    log.info("%s %s %s: %.3f kcal/mol, %.2f s", name, name_i, mode, row["vina_kcal_mol"], wall)
        finally:
            scorer.close()
    summary = {m: {"mean_wall_s_per_ligand": round(statistics.mean(r["wall_s"] for r in rows), 3),
                   "mean_cpu_s_per_ligand": round(statistics.mean(r["cpu_s"] for r in rows), 3)}
               for m, rows in per_mode.items()}
    return {
        "receptor": str(receptor.relative_to(REPO)) if receptor.is_relative_to(REPO) else str(receptor),
        "receptor_atoms_pdbqt": rec.num_atoms, "removed_residues": rec.removed_residues,
        "box": box.to_dict(), "num_ligands": len(mols),
        "receptor_prep": {"wall_s": round(rec_wall, 3), "cpu_s": round(rec_cpu, 3)},
        "maps": {"wall_s": round(map_wall, 3), "cpu_s": round(map_cpu, 3)},
        "per_ligand_mean": summary, "per_ligand": per_mode, "breakdown": breakdown,
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; writes ``--out`` JSON and returns the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="Output JSON file.")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument("--max-ligands", type=int, default=3, help="Ligands per system.")
    parser.add_argument("--exhaustiveness", type=int, default=8, help="dock mode exhaustiveness.")
    parser.add_argument("--modes", nargs="+", default=["score", "minimize", "dock"],
                        choices=["score", "minimize", "dock"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import meeko
    import rdkit
    import vina

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    results = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before]},
        "versions": {"vina": getattr(vina, "__version__", "?"), "meeko": meeko.__version__,
                     "rdkit": rdkit.__version__},
        "settings": {"exhaustiveness": args.exhaustiveness, "vina_cpu": 1, "seed": 1, "padding_A": 4.0,
                     "max_ligands": args.max_ligands, "modes": args.modes},
        "systems": {},
    }
    for name in args.systems:
        rec, lig = SYSTEMS[name]
        results["systems"][name] = bench_system(name, REPO / rec, REPO / lig, args.max_ligands,
                                                args.exhaustiveness, args.modes)
    results["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    results["total_wall_s"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, args.out)
    return results


if __name__ == "__main__":
    main()
