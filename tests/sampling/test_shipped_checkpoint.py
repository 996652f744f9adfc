"""The shipped QM9 models load with weights_only=True and sample molecules with bonds."""

from __future__ import annotations

import torch
from rdkit import Chem

from molgen.sampling.generate import default_checkpoint, generate
from tests.conftest import ROOT


def test_shipped_checkpoint_loads_and_samples(tmp_path):
    ckpt = default_checkpoint()
    assert ckpt == ROOT / "data" / "checkpoints" / "qm9_heavy_flow.ckpt"
    blob = torch.load(ckpt, weights_only=True)
    assert blob["format"] == "molgen-model/1" and blob["vocab"]["name"] == "qm9_heavy"
    explicit = torch.load(ROOT / "data" / "checkpoints" / "qm9_flow.ckpt", weights_only=True)
    assert explicit["vocab"]["name"] == "qm9"
    summary = generate(None, 8, 5, tmp_path / "s.sdf", batch_size=8, seed=0)
    assert summary["written"] == 8 and summary["checkpoint"] == str(ckpt)
    mols = list(Chem.SDMolSupplier(str(tmp_path / "s.sdf"), sanitize=False, removeHs=False))
    assert all(m is not None and m.GetNumBonds() > 0 for m in mols)
    # heavy-atom model: a molecule that sanitises is written with its RDKit hydrogens
    assert any(a.GetSymbol() == "H" for m in mols for a in m.GetAtoms())
