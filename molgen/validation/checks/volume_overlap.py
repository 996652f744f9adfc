"""Check: little ligand volume inside the receptor (PoseBusters "Volume overlap with protein").

The share of the ligand's heavy-atom volume that lies inside the receptor's
(``rdShapeHelpers.ShapeTverskyIndex`` with alpha=1, beta=0), with van der Waals radii scaled by 0.8
for protein and organic cofactors and by 0.5 for inorganic cofactors and waters, as in PoseBusters'
``dock`` config. Only receptor atoms within 6 x scale Å of the ligand take part.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdShapeHelpers
from rdkit.Geometry import Point3D

from molgen.validation.checks.base import CheckContext, register

_GROUPS = {"protein": 0.8, "organic": 0.8, "inorganic": 0.5, "water": 0.5}


def _atoms_mol(symbols, pos: np.ndarray) -> Chem.Mol:
    rw = Chem.RWMol()
    for s in symbols:
        rw.AddAtom(Chem.Atom(str(s)))
    conf = Chem.Conformer(len(symbols))
    for k, (x, y, z) in enumerate(pos.tolist()):
        conf.SetAtomPosition(k, Point3D(x, y, z))
    rw.AddConformer(conf, assignId=True)
    return rw.GetMol()


@register("no_volume_clash", pb=True, protein=True, needs_valid=False)
def no_volume_clash(ctx: CheckContext) -> dict:
    """At most volume_overlap_cutoff (7.5%) of the ligand volume overlaps any receptor group."""
    mol = ctx.mol if ctx.mol is not None else ctx.raw
    lig_pos = mol.GetConformer().GetPositions()
    prot = ctx.protein
    overlaps = {}
    for group, scale in _GROUPS.items():
        sel = prot.group == group
        if not sel.any():
            continue
        pos = prot.pos[sel]
        near = np.linalg.norm(lig_pos[:, None] - pos[None], axis=-1).min(axis=0) <= 6.0 * scale
        if not near.any():
            overlaps[group] = 0.0
            continue
        cond = _atoms_mol(prot.symbols[sel][near], pos[near])
        overlaps[group] = float(rdShapeHelpers.ShapeTverskyIndex(mol, cond, alpha=1.0, beta=0.0,
                                                                 vdwScale=scale, ignoreHs=True))
    worst = max(overlaps.values()) if overlaps else 0.0
    return {"no_volume_clash": worst <= ctx.config.volume_overlap_cutoff,
            "volume_overlap_protein": overlaps.get("protein", 0.0), "volume_overlap_max": worst}
