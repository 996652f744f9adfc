"""Writing generated molecules: SDF with coordinates, hydrogens, bonds and charges.

A heavy-atom model's molecules (vocabulary without ``H``) get their hydrogens from RDKit when they
sanitise (placed by ``AddHs(addCoords=True)``); the ones that do not are written with heavy atoms only.

Every generated graph gets a record, whatever it holds. RDKit writes the ones it can; a garbage graph
(an untrained model's: one atom with 40 bonds, a hydrogen with charge +2) can make RDKit's
``MolToMolBlock`` raise or even crash the process, so graphs that fail :func:`writable` (or make
RDKit raise) are written by :func:`plain_molblock` instead, with ``molgen_sanitized = 0`` and a
``molgen_note``. Validation then reports why they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch
from rdkit import Chem, RDLogger
from torch_geometric.data import Data

from molgen.chem.convert import data_to_mol, restore_hydrogens
from molgen.chem.vocab import BOND_ORDER, MAX_BOND_ORDER_SUM, Vocab
from molgen.errors import SkipRecord


def writable(g: Data, vocab: Vocab) -> bool:
    """Whether a graph is sane enough to hand to RDKit (which can crash the process on garbage): every
    atom's bond-order sum at most :data:`MAX_BOND_ORDER_SUM` and no charge above its atomic number."""
    z = torch.tensor(vocab.atomic_numbers)
    q = torch.tensor(vocab.charges)
    if (z[g.atom_type] - q[g.charge] < 0).any():
        return False
    order = torch.tensor(BOND_ORDER, dtype=torch.float64)[g.bond_type]
    valence = torch.zeros(int(g.num_nodes), dtype=torch.float64).index_add_(0, g.edge_index[0], order)
    return bool((valence <= MAX_BOND_ORDER_SUM).all())


def plain_molblock(g: Data, vocab: Vocab, props: dict[str, str]) -> str:
    """A V2000 SDF record written without RDKit: atoms, coordinates, charges (``M  CHG``) and bonds
    (bond classes 1-4 are V2000 types 1-4, aromatic = 4)."""
    n = int(g.num_nodes)
    ei, bt = g.edge_index, g.bond_type
    once = (ei[0] < ei[1]) & (bt > 0)
    bonds = list(zip(ei[0, once].tolist(), ei[1, once].tolist(), bt[once].tolist()))[:999]
    lines = [str(g.get("name", "")), "  molgen            3D", "",
             f"{min(n, 999):3d}{len(bonds):3d}  0  0  0  0  0  0  0  0999 V2000"]
    for (x, y, z), t in zip(g.pos.double().tolist(), g.atom_type.tolist()):
        lines.append(f"{x:10.4f}{y:10.4f}{z:10.4f} {vocab.elements[t]:<3} 0  0  0  0  0  0  0  0  0  0  0  0")
    lines += [f"{i + 1:3d}{j + 1:3d}{b:3d}  0" for i, j, b in bonds]
    charged = [(k + 1, vocab.charges[c]) for k, c in enumerate(g.charge.tolist()) if vocab.charges[c] != 0]
    for start in range(0, len(charged), 8):
        chunk = charged[start:start + 8]
        lines.append(f"M  CHG{len(chunk):3d}" + "".join(f"{a:4d}{c:4d}" for a, c in chunk))
    lines.append("M  END")
    return "\n".join(lines) + "\n" + "".join(f">  <{k}>\n{v}\n\n" for k, v in props.items()) + "$$$$\n"


def _rdkit_molblock(data: Data, vocab: Vocab) -> tuple[str, bool]:
    try:
        mol = restore_hydrogens(data_to_mol(data, vocab, sanitize=True), vocab)
        kekulize = True
    except Exception:  # noqa: BLE001 - RDKit raises several types for molecules it will not sanitise
        mol = data_to_mol(data, vocab, sanitize=False)
        mol.UpdatePropertyCache(strict=False)
        kekulize = False
    block = Chem.MolToMolBlock(mol, kekulize=kekulize)
    ok = is_valid_molblock(block, vocab)
    props = {"molgen_sanitized": "1" if ok else "0"}
    for key in ("molgen_seed", "molgen_index"):
        if key in data:
            props[key] = str(data[key])
    props["molgen_vocab"] = vocab.name
    return block + "".join(f">  <{k}>\n{v}\n\n" for k, v in props.items()) + "$$$$\n", ok


def is_valid_molblock(block: str, vocab: Vocab) -> bool:
    """Whether ``molgen validate`` (default settings: predicted bonds, hydrogens ``auto``) calls this
    record valid: the one definition behind ``sanitized`` here and ``valid`` there."""
    from molgen.validation.build import build_molecule
    from molgen.validation.io import check_molecule, validation_vocab

    try:
        mol = Chem.MolFromMolBlock(block, sanitize=False, removeHs=False, strictParsing=True)
        if mol is None:
            return False
        check_molecule(mol, validation_vocab(vocab))
        return build_molecule(mol).mol is not None
    except (SkipRecord, ValueError, RuntimeError):
        return False


def graph_to_molblock(data: Data, vocab: Vocab) -> tuple[str, bool]:
    """SDF record of a generated graph, and whether it is valid as ``molgen validate`` defines it
    (:func:`is_valid_molblock`).

    Molecules RDKit does not sanitise are still written (with their bonds as predicted, not
    kekulised) so validation can report why they fail; the ``molgen_sanitized`` property says which
    are valid and ``molgen_vocab`` names the model's vocabulary. Graphs RDKit cannot take at all are
    written by :func:`plain_molblock`.
    """
    sane = writable(data, vocab)
    try:
        if not sane:
            raise RuntimeError("valence or charge out of range")
        return _rdkit_molblock(data, vocab)
    except RuntimeError as err:
        props = {"molgen_sanitized": "0"}
        if "molgen_index" in data:
            props["molgen_index"] = str(data["molgen_index"])
        props["molgen_vocab"] = vocab.name
        props["molgen_note"] = f"not an RDKit molecule ({str(err).splitlines()[0][:80]}); written as is"
        block = plain_molblock(data, vocab, props)
        ok = sane and is_valid_molblock(block, vocab)  # an insane graph is invalid (and may crash RDKit)
        if ok:
            block = block.replace(">  <molgen_sanitized>\n0\n", ">  <molgen_sanitized>\n1\n", 1)
        return block, ok


def write_sdf(graphs: Iterable[Data], vocab: Vocab, path: str | Path) -> dict:
    """Write graphs to an SDF atomically, one record per graph; returns counts (written, and sanitized:
    valid as ``molgen validate`` counts them)."""
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
