"""Rebuild the QM9 samples from the qm9pack 1.0.3 CSVs.

* qm9_sample.csv: 300 rows drawn with numpy.random.default_rng(0), in index order;
* qm9_hard_cases.csv: hand-picked rows (strained cages) that test the reader's bond perception.

Run: python data/qm9/make_sample.py [QM9PACK_DATA_DIR]
"""

import csv
import sys
from pathlib import Path

import numpy as np

from molgen.data.qm9 import installed_qm9pack_dir

N_SAMPLE, SEED = 300, 0
# 271: a carboxylate (two O related by symmetry); 44763, 45193: a 1,3 C···C contact of 1.97 Å that a plain 1.3 × covalent-radius cutoff takes for a
# bond; 133857, 133859: cages whose coordinate graph does not match the SMILES (skipped).
HARD_CASES = (271, 44763, 45193, 133857, 133859)


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    print(f"{path}: {len(rows)} rows")


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else installed_qm9pack_dir()
    rows, header = [], None
    for f in sorted(src.glob("qm9_part*.csv")):
        with open(f, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            rows.extend(reader)
    pick = np.sort(np.random.default_rng(SEED).choice(len(rows), N_SAMPLE, replace=False))
    here = Path(__file__).parent
    write(here / "qm9_sample.csv", header, [rows[i] for i in pick])
    col = header.index("Index")
    write(here / "qm9_hard_cases.csv", header, [r for r in rows if int(r[col]) in HARD_CASES])


if __name__ == "__main__":
    main()
