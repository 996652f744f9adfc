"""Rebuild the committed samples ``data/ligands/`` and ``data/complexes/`` from the shared archives.

Usage (from the repository root)::

    python data/ligands/make_samples.py [--shared ../shared/data]

The picks below are fixed record numbers (0-based) in the archives' files, so the samples are
reproducible byte for byte; SD tags are kept as they are and a ``molgen_source`` tag is added.
See ``data/README.md`` for provenance and licences.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FEP = "schrodinger_fep_structure_inputs"

#: data/ligands/fep_ligands.sdf: 5 poses from each of 8 FEP systems (elements C H N O F S Cl Br I,
#: charges -2..+1 per molecule).
LIGAND_PICKS = {
    "jacs_set/tyk2": [0, 1, 2, 3, 4],
    "jacs_set/ptp1b": [0, 1, 2, 3, 4],
    "jacs_set/thrombin_core": [0, 2, 3, 6, 10],
    "jacs_set/p38": [0, 1, 2, 3, 4],
    "jacs_set/bace": [0, 1, 2, 3, 4],
    "merck/hif2a_automap": [0, 1, 2, 3, 4],
    "fragments/t4lysozyme_uvt": [0, 1, 2, 7, 10],
    "misc/cdk8_koehler": [0, 1, 2, 3, 9],
}
#: data/complexes/posebusters/: crystal complexes (protein without the ligand + crystal ligand).
POSEBUSTERS = ["1G9V_RQ3", "1IA1_TQ3", "1S3V", "7ZTL_BCN"]
#: data/complexes/fep/: FEP systems, protein + a few ligand poses.
FEP_COMPLEXES = {"jacs_set/mcl1_extra_flips": [0, 2, 4, 7], "jacs_set/thrombin_core": [0, 2, 10]}


def _records(src: Path, picks: list[int], tag: str) -> str:
    """The picked records as raw text (byte-exact copies) with a ``molgen_source`` tag added."""
    blocks = src.read_text().split("$$$$\n")
    return "".join(f"{blocks[k]}> <molgen_source>\n{tag} record {k}\n\n$$$$\n" for k in picks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for archive in (
            "posebusters/posebusters_examples.tar.xz",
            "fep_benchmark/schrodinger_fep_structure_inputs.tar.xz",
        ):
            with tarfile.open(args.shared / archive) as tar:
                tar.extractall(tmp, filter="data")

        text = "".join(
            _records(tmp / FEP / f"{system}_ligands.sdf", picks, f"{FEP}/{system}_ligands.sdf")
            for system, picks in LIGAND_PICKS.items()
        )
        (ROOT / "data/ligands/fep_ligands.sdf").write_text(text)

        out = ROOT / "data/complexes"
        rows = []
        with open(args.shared / "posebusters/posebusters_examples_index.csv") as fh:
            index = {r["complex_id"]: r for r in csv.DictReader(fh)}
        for cid in POSEBUSTERS:
            r = index[cid]
            for key in ("protein_pdb", "ligand_sdf"):
                dest = out / "posebusters" / r[key]
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tmp / "posebusters_examples" / r[key], dest)
            rows.append([f"posebusters/{r['protein_pdb']}", f"posebusters/{r['ligand_sdf']}", 0, cid])
        for system, picks in FEP_COMPLEXES.items():
            stem = system.split("/")[1]
            dest = out / "fep" / stem
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tmp / FEP / f"{system}_protein.pdb", dest / f"{stem}_protein.pdb")
            src = tmp / FEP / f"{system}_ligands.sdf"
            (dest / f"{stem}_ligands.sdf").write_text(_records(src, picks, f"{FEP}/{system}_ligands.sdf"))
            protein, ligands = f"fep/{stem}/{stem}_protein.pdb", f"fep/{stem}/{stem}_ligands.sdf"
            if stem == "mcl1_extra_flips":  # one row for the whole file: record left empty = all records
                rows.append([protein, ligands, "", ""])
            else:
                titles = [b.split("\n", 1)[0] for b in src.read_text().split("$$$$\n")]
                rows += [[protein, ligands, i, f"{stem}_{titles[k]}"] for i, k in enumerate(picks)]
        with open(out / "index.csv", "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["protein", "ligand", "record", "name"])
            w.writerows(rows)


if __name__ == "__main__":
    main()
