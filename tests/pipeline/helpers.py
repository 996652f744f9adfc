"""Helpers of the pipeline tests: workflow files and run comparisons."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from rdkit import Chem


def write_workflow(path: Path, checkpoint: Path | str, out_dir: Path, *, num: int = 8, chunk_size: int = 2,
                   steps: list[dict] | None = None, **top) -> Path:
    """A workflow YAML: tiny generation (3 sampler steps), in-process validation of two cheap checks,
    a filter and a report, unless ``steps`` replaces what follows generate."""
    gen = {"name": "generate", "type": "generate", "checkpoint": str(checkpoint), "num": num, "steps": 3,
           "batch_size": 2, "chunk_size": chunk_size}
    rest = steps if steps is not None else [
        {"name": "validate", "type": "validate", "input": "generate", "vocab": "qm9",
         "checks": ["bond_lengths", "no_radicals"]},
        {"name": "keep", "type": "filter", "input": "validate", "where": "n_atoms >= 12 or valid"},
        {"name": "report", "type": "report"},
    ]
    doc = {"name": "test", "seed": 3, "out_dir": str(out_dir), "workers": 0, "threads": 1, **top,
           "steps": [gen, *rest]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def final_molecules(run_dir: Path) -> list[tuple[str, str]]:
    """(id, mol block) of every record of ``final.sdf``: ids, atoms, coordinates and bonds."""
    text = (run_dir / "final.sdf").read_text()
    out = []
    for rec in text.split("$$$$\n"):
        if rec.strip():
            block = rec.split("M  END")[0]
            out.append((block.split("\n", 1)[0].strip(), block.split("\n", 3)[3]))
    return out


def final_table(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "final.csv")


def assert_same_final(a: Path, b: Path) -> None:
    """Same molecules (ids, coordinates, bonds) and the same table (ids, SMILES, every column)."""
    ma, mb = final_molecules(a), final_molecules(b)
    assert [i for i, _ in ma] == [i for i, _ in mb]
    assert ma == mb
    ta, tb = final_table(a), final_table(b)
    assert ta["id"].is_unique
    pd.testing.assert_frame_equal(ta, tb)
    assert (a / "final.sdf").read_text() == (b / "final.sdf").read_text()


def read_sdf(path: Path) -> list:
    return [m for m in Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False)]
