"""Benchmark the validation suite: speed, agreement with PoseBusters, and reference figures.

Speed and agreement (``--n`` molecules, default 100): drug-like posed ligands with hydrogens from
the Schrödinger FEP benchmark (one ligand per system in turn, each with its own receptor), checked

* by molgen (``validate_molecules``, full check set) without a protein and with the receptor, and
* by posebusters (``PoseBusters(config="mol")`` and ``config="dock"`` with the receptor),

each run starting with cold conformer-ensemble caches. Reported: molecules per CPU second (process
time, all threads; robust to other load on the machine) and per wall second, the speed ratios
(molgen / posebusters, > 1 = molgen faster), and the fraction of molecules where the verdicts agree (``pb_valid``
vs. all PoseBusters tests true), overall and per check. The energy-ratio threshold differs between
the PoseBusters paper (7, molgen's default) and posebusters 0.6.5's shipped ``mol``/``dock`` configs
(100), so agreement is given at both thresholds, recomputed from the energy ratios both tools report.

Reference figures (``--reference-figures``): protocol A (and B, validity) on ``--qm9 N`` QM9
molecules from the qm9pack CSVs (bonds perceived by RDKit from the DFT coordinates), to compare with
EDM's "Data" row (atom stability 99.0 %, molecule stability 95.2 %); and the full check set with
receptors on the 12 PoseBusters crystal complexes.

Run: ``python -m benchmarks.validation --out benchmarks/validation.json [--n 100] [--reference-figures]``.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import platform
import sys
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
from rdkit import Chem, rdBase
from rdkit.Geometry import Point3D

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FEP_ARCHIVE = SHARED / "fep_benchmark" / "schrodinger_fep_structure_inputs.tar.xz"
FEP_INDEX = SHARED / "fep_benchmark" / "fep_ligands_index.csv"
PB_ARCHIVE = SHARED / "posebusters" / "posebusters_examples.tar.xz"
PB_INDEX = SHARED / "posebusters" / "posebusters_examples_index.csv"

#: molgen check -> PoseBusters test columns (lower-cased, as PoseBusters reports them).
PB_COLUMNS = {
    "sanitization": ["sanitization"],
    "inchi_convertible": ["inchi_convertible"],
    "all_atoms_connected": ["all_atoms_connected"],
    "no_radicals": ["no_radicals"],
    "bond_lengths": ["bond_lengths"],
    "bond_angles": ["bond_angles"],
    "no_internal_clash": ["internal_steric_clash"],
    "aromatic_ring_flatness": ["aromatic_ring_flatness"],
    "non_aromatic_ring_non_flatness": ["non-aromatic_ring_non-flatness"],
    "double_bond_flatness": ["double_bond_flatness"],
    "internal_energy": ["internal_energy"],
    "protein_max_distance": ["protein-ligand_maximum_distance"],
    "no_protein_clash": ["minimum_distance_to_protein", "minimum_distance_to_organic_cofactors",
                         "minimum_distance_to_inorganic_cofactors", "minimum_distance_to_waters"],
    "no_volume_clash": ["volume_overlap_with_protein", "volume_overlap_with_organic_cofactors",
                        "volume_overlap_with_inorganic_cofactors", "volume_overlap_with_waters"],
}


def _extract(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


def fep_ligands(n: int, root: Path) -> list[dict]:
    """``n`` FEP ligands, one per system in turn: ``{"mol", "protein", "name"}``."""
    index = pd.read_csv(FEP_INDEX)
    index["rank"] = index.groupby("system").cumcount()
    index = index.sort_values(["rank", "subset", "system"]).head(n)
    suppliers: dict[str, Chem.SDMolSupplier] = {}
    out = []
    for r in index.itertuples():
        sdf = str(root / r.ligand_sdf)
        sup = suppliers.setdefault(sdf, Chem.SDMolSupplier(sdf, sanitize=False, removeHs=False))
        mol = sup[int(r.record)]
        mol.SetProp("_Name", f"{r.system}:{r.record}")
        out.append({"mol": mol, "protein": str(root / r.protein_pdb), "name": f"{r.system}:{r.record}"})
    return out


def _clear_caches() -> None:
    from posebusters.modules.energy_ratio import get_energies

    from molgen.validation.checks import energy_ratio

    energy_ratio._CACHE.clear()
    get_energies.cache_clear()


def run_molgen(items: list[dict], with_protein: bool, workers: int) -> tuple[pd.DataFrame, float, float]:
    from molgen.validation import validate_molecules

    _clear_caches()
    c0, t0 = time.process_time(), time.perf_counter()
    tables = []
    groups = pd.Series(range(len(items))).groupby([it["protein"] for it in items]) if with_protein else None
    batches = [list(g) for _, g in groups] if with_protein else [list(range(len(items)))]
    for batch in batches:
        res = validate_molecules([items[i]["mol"] for i in batch], protein=items[batch[0]]["protein"] if with_protein
                                 else None, workers=workers, progress=False)
        tables.append(res.table.assign(item=batch))
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    return pd.concat(tables).set_index("item").sort_index(), dt, dc


def run_posebusters(items: list[dict], config: str) -> tuple[pd.DataFrame, float, float, int]:
    from posebusters import PoseBusters

    _clear_caches()
    pb = PoseBusters(config=config)
    n_tests = sum(len(m.get("chosen_binary_test_output", [])) for m in pb.config["modules"])
    c0, t0 = time.process_time(), time.perf_counter()
    rows = []
    for it in items:
        df = pb.bust(Chem.Mol(it["mol"]), None, it["protein"] if config == "dock" else None, full_report=True)
        rows.append(df.iloc[0])
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    table = pd.DataFrame(rows).reset_index(drop=True)
    return table, dt, dc, n_tests


def _agreement(ours: pd.DataFrame, pb: pd.DataFrame, n_tests: int, threshold: float, checks: list[str]) -> dict:
    pb = pb.copy()
    ours = ours.copy()
    ours["internal_energy"] = ours["energy_ratio"].astype(float) <= threshold
    pb["internal_energy"] = pb["energy_ratio"].astype(float) <= threshold
    test_cols = [c for c in pb.columns[:n_tests] if c not in ("mol_pred_loaded", "mol_cond_loaded")]
    pb_valid = pb[test_cols].fillna(False).astype(bool).all(axis=1) & pb[pb.columns[0]].fillna(False).astype(bool)
    our_valid = ours[[c for c in checks if c in PB_COLUMNS]].astype(bool).all(axis=1)
    per_check = {}
    for c in checks:
        cols = [x for x in PB_COLUMNS.get(c, []) if x in pb.columns]
        if cols:
            theirs = pb[cols].fillna(False).astype(bool).all(axis=1)
            per_check[c] = float((ours[c].astype(bool).values == theirs.values).mean())
    disagree = [int(i) for i in np.where(our_valid.values != pb_valid.values)[0]]
    return {
        "energy_ratio_threshold": threshold,
        "pb_valid_molgen": float(our_valid.mean()),
        "pb_valid_posebusters": float(pb_valid.mean()),
        "verdict_agreement": float((our_valid.values == pb_valid.values).mean()),
        "per_check_agreement": per_check,
        "disagreements": disagree,
    }


def speed_and_agreement(n: int, workers: int) -> dict:
    rdBase.DisableLog("rdApp.*")
    logging.getLogger("posebusters").setLevel(logging.ERROR)
    from molgen.validation.config import ValidationConfig
    from molgen.validation.runner import selected_checks

    with tempfile.TemporaryDirectory() as tmp:
        root = _extract(FEP_ARCHIVE, Path(tmp)) / "schrodinger_fep_structure_inputs"
        items = fep_ligands(n, root)
        report: dict = {"n_molecules": len(items), "source": "Schrödinger FEP benchmark ligands (posed, with H)",
                        "n_receptors": len({it["protein"] for it in items})}
        for mode, config in (("mol", "mol"), ("dock", "dock")):
            with_protein = mode == "dock"
            ours, t_ours, c_ours = run_molgen(items, with_protein, workers)
            theirs, t_pb, c_pb, n_tests = run_posebusters(items, config)
            checks = selected_checks(ValidationConfig(), with_protein)
            disagreements = {}
            agreement = {}
            for thr in (7.0, 100.0):
                a = _agreement(ours, theirs, n_tests, thr, checks)
                disagreements[str(thr)] = [items[i]["name"] for i in a.pop("disagreements")]
                agreement[f"threshold_{thr:g}"] = a
            report[mode] = {
                "molgen_wall_s": round(t_ours, 2),
                "posebusters_wall_s": round(t_pb, 2),
                "molgen_cpu_s": round(c_ours, 2),
                "posebusters_cpu_s": round(c_pb, 2),
                "molgen_mol_per_cpu_s": round(len(items) / c_ours, 3),
                "posebusters_mol_per_cpu_s": round(len(items) / c_pb, 3),
                "molgen_mol_per_wall_s": round(len(items) / t_ours, 3),
                "posebusters_mol_per_wall_s": round(len(items) / t_pb, 3),
                "speed_ratio_molgen_over_posebusters_cpu": round(c_pb / c_ours, 3),
                "speed_ratio_molgen_over_posebusters_wall": round(t_pb / t_ours, 3),
                "molgen_workers": workers,
                "agreement": agreement,
                "disagreeing_molecules": disagreements,
                "energy_ratio_abs_diff_median": float(np.nanmedian(np.abs(
                    ours["energy_ratio"].astype(float).values - theirs["energy_ratio"].astype(float).values))),
            }
    return report


def _qm9_csvs() -> list[Path]:
    import importlib.util

    spec = importlib.util.find_spec("qm9pack")
    base = Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None
    if base is None:
        base = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages" / "qm9pack"
    return sorted((base / "data").glob("qm9_part*.csv"))


def qm9_reference(n: int, seed: int, workers: int) -> dict:
    """Metrics on ``n`` random QM9 molecules (qm9pack CSVs; coordinates Å, bonds from RDKit)."""
    from molgen.chem.vocab import QM9
    from molgen.validation import validate_molecules

    df = pd.concat([pd.read_csv(p, usecols=["Index", "Elements", "XYZ_Ang"]) for p in _qm9_csvs()])
    sample = df.sample(n, random_state=seed) if n < len(df) else df
    mols = []
    for r in sample.itertuples():
        rw = Chem.RWMol()
        for s in ast.literal_eval(r.Elements):
            rw.AddAtom(Chem.Atom(s))
        conf = Chem.Conformer(rw.GetNumAtoms())
        for k, (x, y, z) in enumerate(ast.literal_eval(r.XYZ_Ang)):
            conf.SetAtomPosition(k, Point3D(x, y, z))
        conf.Set3D(True)
        rw.AddConformer(conf, assignId=True)
        m = rw.GetMol()
        m.SetProp("_Name", f"qm9_{r.Index}")
        mols.append(m)
    out = {"n_molecules": len(mols), "n_total_qm9": len(df), "seed": seed,
           "published_edm_data_row": {"atom_stable": 0.990, "mol_stable": 0.952}}
    geometry = ("sanitization", "bond_lengths", "bond_angles", "no_internal_clash", "aromatic_ring_flatness",
                "non_aromatic_ring_non_flatness", "double_bond_flatness")
    for bonds in ("rdkit", "edm"):
        t0 = time.perf_counter()
        res = validate_molecules(mols, vocab=QM9, workers=workers, progress=False, bonds=bonds, checks=geometry)
        m = res.metrics
        out[f"bonds_{bonds}"] = {k: m[k] for k in ("atom_stable_edm", "mol_stable_edm", "atom_stable", "mol_stable",
                                                   "valid", "valid_connected", "unique", "n_failed_to_read")}
        out[f"bonds_{bonds}"]["checks"] = m["checks"]
        out[f"bonds_{bonds}"]["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def posebusters_crystals(workers: int) -> dict:
    """Full check set with receptors on the 12 PoseBusters crystal complexes."""
    from molgen.validation import validate_sdf

    index = pd.read_csv(PB_INDEX)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = _extract(PB_ARCHIVE, Path(tmp)) / "posebusters_examples"
        for r in index.itertuples():
            res = validate_sdf(root / r.ligand_sdf, protein=root / r.protein_pdb, workers=workers, progress=False)
            row = res.table.iloc[0]
            failed = [c for c in res.metrics["checks"] if not bool(row[c])]
            rows[r.complex_id] = {"pb_valid": bool(row["pb_valid"]), "failed_checks": failed,
                                  "energy_ratio": float(row["energy_ratio"]),
                                  "strain_energy_kcal_mol": float(row["strain_energy_kcal_mol"]),
                                  "protein_min_distance": float(row["protein_min_distance"])}
    return {"n_complexes": len(rows), "n_pb_valid": sum(v["pb_valid"] for v in rows.values()), "complexes": rows}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; writes JSON to ``--out`` (and prints it)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="Write the JSON report here.")
    ap.add_argument("--n", type=int, default=100, help="Molecules for speed and agreement (0 = skip).")
    ap.add_argument("--workers", type=int, default=0, help="molgen worker processes (0 = in-process, like PB).")
    ap.add_argument("--reference-figures", action="store_true", help="Also QM9 and PoseBusters-crystal figures.")
    ap.add_argument("--qm9", type=int, default=2000, help="QM9 molecules for the reference figures.")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    report: dict = {"host": {"python": platform.python_version(), "machine": platform.machine(),
                             "cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}}
    import posebusters
    from rdkit import rdBase as _rb

    report["versions"] = {"posebusters": posebusters.__version__, "rdkit": _rb.rdkitVersion}
    if args.n > 0:
        report["speed_and_agreement"] = speed_and_agreement(args.n, args.workers)
    if args.reference_figures:
        report["qm9"] = qm9_reference(args.qm9, seed=0, workers=args.workers)
        report["posebusters_crystals"] = posebusters_crystals(args.workers)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
