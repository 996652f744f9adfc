"""Receptor preparation on real PDB files, and the Vina score of each complex's own crystal ligand.

Sets (``--sets``, default all three):

* ``posebusters_v2``: the 252 PoseBusters v2 training complexes in ``../shared/data/posebusters_v2``
  (one PDB per complex; the ligand is the HETATM residue named in the file name). The receptor is
  every other record; all copies of the ligand's residue name are removed from it. The reference
  ligand is the first residue of that name. Its bond orders: the PDB records carry the crystal
  ligand's hydrogens, so OpenBabel (``obabel -ipdb -osdf``, the ``openbabel-wheel`` program, in a
  subprocess) perceives them from the hydrogen-complete geometry; RDKit then reads the SDF (a
  four-bonded neutral N becomes N+); a ligand RDKit still cannot read is a ``ligand_failed`` row.
  A ligand in several pieces (metal, bridging atoms) is scored as its largest piece.
* ``complexes``: the committed crystal/FEP complexes of ``data/complexes/index.csv`` (one row per
  listed ligand record; a blank record means every record of the file).
* ``fep``: the 92 proteins of the Schrödinger FEP benchmark (``../shared/data/fep_benchmark``),
  each with the first ligand of its series (modelled poses, not crystal ones).

Per receptor: :func:`molgen.docking.prepare_receptor` (``auto``: Meeko after the repairs of
:mod:`molgen.docking.repair`, then OpenBabel), its method, removed residues and repairs; per ligand:
Vina ``score`` (in place) and ``minimize`` in a box around the ligand (4 Å padding). ``--meeko-alone``
also times Meeko on the records as they are (the behaviour before the repairs) and says whether it
prepares. Archives are unpacked into a temporary folder. Run from the repository root::

    python -m benchmarks.receptors --out benchmarks/results/receptors.json
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PB2_ARCHIVE = SHARED / "posebusters_v2" / "posebusters_v2_train.tar.xz"
FEP_ARCHIVE = SHARED / "fep_benchmark" / "schrodinger_fep_structure_inputs.tar.xz"
COMPLEXES = REPO / "data" / "complexes"
SETS = ("posebusters_v2", "complexes", "fep")
log = logging.getLogger("benchmarks.receptors")


def _ligand_from_pdb(records: list[str], tmp: Path):
    """RDKit molecule of HETATM records with hydrogens; bond orders from OpenBabel."""
    from rdkit import Chem

    from molgen.docking.receptor import find_obabel

    found = find_obabel()
    if found is None:
        raise RuntimeError("obabel not found: pip install openbabel-wheel")
    src = tmp / "ligand.pdb"
    src.write_text("\n".join(records) + "\nEND\n")
    out = subprocess.run([found[0], "-ipdb", str(src), "-osdf"], capture_output=True, text=True,
                         env=found[1], timeout=120, check=True).stdout
    mol = Chem.MolFromMolBlock(out, removeHs=False)
    if mol is None:
        mol = Chem.MolFromMolBlock(out, removeHs=False, sanitize=False)
        if mol is None:
            raise ValueError("OpenBabel wrote no readable molecule")
        mol.UpdatePropertyCache(strict=False)
        for atom in mol.GetAtoms():
            if atom.GetAtomicNum() == 7 and atom.GetFormalCharge() == 0 and atom.GetExplicitValence() == 4:
                atom.SetFormalCharge(1)
        Chem.SanitizeMol(mol)
    frags = Chem.GetMolFrags(mol, asMols=True)
    return max(frags, key=lambda m: m.GetNumHeavyAtoms()), len(frags)


def _pb2_cases(root: Path) -> list[dict]:
    from molgen.data.ccd import split_pdb_ligand

    cases = []
    for pdb in sorted((root / "posebusters_v2" / "structures").glob("*.pdb")):
        rec, lig = split_pdb_ligand(pdb.read_text().splitlines(), pdb.stem.split("_", 1)[1])
        cases.append({"set": "posebusters_v2", "name": pdb.stem, "receptor_lines": rec, "ligand_records": lig})
    return cases


def _sdf_records(path: Path, which: list[int] | None):
    from rdkit import Chem

    mols = list(Chem.SDMolSupplier(str(path), removeHs=False))
    idx = which if which is not None else range(len(mols))
    return [(i, mols[i]) for i in idx]


def _complex_cases() -> list[dict]:
    cases = []
    with open(COMPLEXES / "index.csv") as fh:
        rows = list(csv.DictReader(fh))
    by_protein: dict[str, list] = {}
    for row in rows:
        by_protein.setdefault(row["protein"], []).append(row)
    for protein, prow in by_protein.items():
        records = None if any(r["record"] == "" for r in prow) else [int(r["record"]) for r in prow]
        cases.append({"set": "complexes", "name": Path(protein).parent.name, "receptor": COMPLEXES / protein,
                      "ligands": _sdf_records(COMPLEXES / prow[0]["ligand"], records)})
    return cases


def _fep_cases(root: Path) -> list[dict]:
    cases = []
    for pdb in sorted(root.rglob("*_protein.pdb")):
        sdf = pdb.with_name(pdb.name.replace("_protein.pdb", "_ligands.sdf"))
        if sdf.exists():
            cases.append({"set": "fep", "name": f"{pdb.parent.name}/{pdb.stem}", "receptor": pdb,
                          "ligands": _sdf_records(sdf, [0])})
    return cases


def _meeko_alone(path: Path) -> dict:
    """The preparation before the repairs: waters and template-less residues dropped, then Meeko."""
    from meeko import MoleculePreparation, PDBQTWriterLegacy, ResidueChemTemplates

    from molgen.docking.receptor import _count_atoms, _meeko_polymer, clean_pdb_text, read_text

    t = time.perf_counter()
    try:
        templates = ResidueChemTemplates.create_from_defaults()
        cleaned, _ = clean_pdb_text(read_text(path), set(templates.residue_templates) | set(templates.ambiguous))
        polymer = _meeko_polymer(cleaned, templates, MoleculePreparation.from_config({"compute_charges": False}))
        rigid, _ = PDBQTWriterLegacy.write_from_polymer(polymer)
        ok = _count_atoms(rigid) > 0
        return {"ok": ok, "removed": len(polymer.get_ignored_monomers()), "seconds": round(time.perf_counter() - t, 2),
                "error": "" if ok else "no atoms written"}
    except Exception as err:  # noqa: BLE001 - recorded
        return {"ok": False, "seconds": round(time.perf_counter() - t, 2),
                "error": f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"}


def _run_case(case: dict, tmp: Path, meeko_alone: bool) -> list[dict]:
    from molgen.docking import DockSettings, VinaScorer, box_from_mols, prepare_receptor
    from molgen.errors import MolgenError

    row = {"set": case["set"], "name": case["name"]}
    rec_path = case.get("receptor")
    if rec_path is None:
        rec_path = tmp / "receptor.pdb"
        rec_path.write_text("\n".join(case["receptor_lines"]) + "\nEND\n")
    if meeko_alone:
        row["meeko_alone"] = _meeko_alone(Path(rec_path))
    t = time.perf_counter()
    try:
        rec = prepare_receptor(rec_path, tmp / "receptor.pdbqt")
    except MolgenError as err:
        row.update(status="receptor_failed", reason=str(err)[:400], prep_seconds=round(time.perf_counter() - t, 2))
        return [row]
    row.update(method=rec.method, receptor_atoms=rec.num_atoms, removed_residues=rec.removed_residues,
               repairs=rec.repairs, prep_errors=rec.errors, prep_seconds=round(time.perf_counter() - t, 2))
    if "ligand_records" in case:
        try:
            mol, n_frags = _ligand_from_pdb(case["ligand_records"], tmp)
            ligands = [(0, mol)]
            row["ligand_pieces"] = n_frags
        except Exception as err:  # noqa: BLE001 - a ligand row with the reason
            row.update(status="ligand_failed", reason=f"{type(err).__name__}: {' '.join(str(err).split())[:200]}")
            return [row]
    else:
        ligands = case["ligands"]
    rows = []
    for record, mol in ligands:
        out = dict(row, record=record)
        if mol is None:
            rows.append(dict(out, status="ligand_failed", reason="RDKit cannot read the record"))
            continue
        scorer = VinaScorer(rec.pdbqt, box_from_mols([mol], 4.0), DockSettings(mode="score"))
        try:
            for mode in ("score", "minimize"):
                res = scorer.run(mol, record, mode=mode).row
                out[f"{mode}_kcal_mol"] = res["vina_kcal_mol"] if res["status"] == "ok" else None
                if res["status"] != "ok":
                    out[f"{mode}_reason"] = res["reason"]
        finally:
            scorer.close()
        out["status"] = "ok" if out.get("score_kcal_mol") is not None else "ligand_failed"
        rows.append(out)
    return rows


def _run_case_in_tmp(case: dict, meeko_alone: bool) -> list[dict]:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="molgen_receptor_case_") as work:
        return _run_case(case, Path(work), meeko_alone)


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "mean": round(statistics.fmean(values), 3), "median": round(statistics.median(values), 3),
            "min": round(min(values), 3), "max": round(max(values), 3)}


def summarise(rows: list[dict]) -> dict:
    """Counts and score statistics per set (one receptor may carry several ligand rows)."""
    out = {}
    for name in sorted({r["set"] for r in rows}):
        sub = [r for r in rows if r["set"] == name]
        receptors = {r["name"]: r for r in sub}
        prepared = [r for r in receptors.values() if r.get("status") != "receptor_failed"]
        s = {"receptors": len(receptors), "receptors_prepared": len(prepared),
             "by_method": {m: sum(r.get("method") == m for r in prepared) for m in ("meeko", "openbabel")},
             "receptors_with_removed_residues": sum(bool(r.get("removed_residues")) for r in prepared),
             "removed_residues_total": sum(len(r.get("removed_residues", [])) for r in prepared),
             "ligands": len(sub), "ligands_failed": sum(r.get("status") == "ligand_failed" for r in sub),
             "vina_score_kcal_mol": _stats([r["score_kcal_mol"] for r in sub if r.get("score_kcal_mol") is not None]),
             "vina_minimize_kcal_mol": _stats([r["minimize_kcal_mol"] for r in sub
                                               if r.get("minimize_kcal_mol") is not None])}
        alone = [r["meeko_alone"] for r in receptors.values() if "meeko_alone" in r]
        if alone:
            s["meeko_alone_prepared"] = sum(a["ok"] for a in alone)
        out[name] = s
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "receptors.json")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated subset of {SETS}")
    parser.add_argument("--limit", type=int, default=0, help="first N receptors per set (0 = all)")
    parser.add_argument("--workers", type=int, default=1, help="receptors prepared in parallel processes")
    parser.add_argument("--meeko-alone", action="store_true", help="also try Meeko without the repairs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(message)s")
    logging.getLogger("benchmarks.receptors").setLevel(logging.INFO)
    sets = [s for s in args.sets.split(",") if s]
    if not set(sets) <= set(SETS):
        parser.error(f"--sets must be a subset of {SETS}")
    machine = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
               "workers": args.workers, "loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    command = "python -m benchmarks.receptors " + " ".join(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    rows: list[dict] = []
    cases: list[dict] = []

    def write(complete: bool) -> dict:
        ordered = sorted(rows, key=lambda r: (SETS.index(r["set"]), r["name"], r.get("record", 0)))
        result = {"machine": dict(machine, loadavg_after=[round(x, 2) for x in os.getloadavg()]),
                  "command": command, "complete": complete, "receptors_planned": len(cases),
                  "wall_seconds": round(time.perf_counter() - t0, 1), "summary": summarise(ordered),
                  "rows": ordered}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        partial = args.out.with_name(args.out.name + ".tmp")
        partial.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(partial, args.out)
        return result

    with tempfile.TemporaryDirectory(prefix="molgen_receptors_") as tmp_name:
        tmp = Path(tmp_name)
        if "posebusters_v2" in sets:
            with tarfile.open(PB2_ARCHIVE) as tar:
                tar.extractall(tmp / "pb2", filter="data")
            cases += _pb2_cases(tmp / "pb2")[: args.limit or None]
        if "complexes" in sets:
            cases += _complex_cases()[: args.limit or None]
        if "fep" in sets:
            with tarfile.open(FEP_ARCHIVE) as tar:
                tar.extractall(tmp / "fep", filter="data")
            cases += _fep_cases(tmp / "fep")[: args.limit or None]
        # spawn: no Vina or Meeko state crosses a fork; the JSON is rewritten every 5 receptors
        with ProcessPoolExecutor(max_workers=max(args.workers, 1), mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_run_case_in_tmp, case, args.meeko_alone): case for case in cases}
            for i, fut in enumerate(as_completed(futures), 1):
                case, new = futures[fut], fut.result()
                rows.extend(new)
                log.info("%d/%d %s %s: %s", i, len(cases), case["set"], case["name"],
                         ", ".join(f"{r.get('status')} {r.get('score_kcal_mol')}" for r in new))
                if i % 5 == 0:
                    write(False)
    result = write(True)
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
