"""Writing generated molecules: SDF with coordinates, hydrogens, bonds and charges."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rdkit import Chem, RDLogger
from torch_geometric.data import Data

from molgen.chem.convert import data_to_mol
from molgen.chem.vocab import Vocab


def graph_to_molblock(data: Data, vocab: Vocab) -> tuple[str, bool]:
    """Molblock of a generated graph, and whether RDKit could sanitise it.

    Molecules that fail sanitisation are still written (with their bonds as predicted, not
    kekulised) so validation can report why they fail; the ``molgen_sanitized`` property says which.
    """
    try:
        mol = data_to_mol(data, vocab, sanitize=True)
        ok = True
    except Exception:
        mol = data_to_mol(data, vocab, sanitize=False)
        mol.UpdatePropertyCache(strict=False)
        ok = False
    mol.SetProp("molgen_sanitized", "1" if ok else "0")
    for key in ("molgen_seed", "molgen_index"):
        if key in data:
            mol.SetProp(key, str(data[key]))
    block = Chem.MolToMolBlock(mol, kekulize=ok)
    props = "".join(f">  <{k}>\n{mol.GetProp(k)}\n\n" for k in mol.GetPropNames())
    return block + props + "$$$$\n", ok


def write_sdf(graphs: Iterable[Data], vocab: Vocab, path: str | Path) -> dict:
    """Write graphs to an SDF atomically; returns counts (written, sanitised)."""
    RDLogger.DisableLog("rdApp.*")  # invalid generated molecules are expected; validation reports them
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = ok = 0
    with open(tmp, "w") as fh:
        for g in graphs:
            block, good = graph_to_molblock(g, vocab)
            fh.write(block)
            n += 1
            ok += int(good)
    os.replace(tmp, path)
    return {"written": n, "sanitized": ok}
