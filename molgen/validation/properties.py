"""Per-molecule chemistry: canonical SMILES, drug-likeness properties, ring sizes.

All of them are computed on the largest fragment with hydrogens removed, as the EDM-lineage metrics
do for uniqueness and novelty. SMILES are canonical and non-isomeric, so that a generated molecule
(whose stereo comes from 3D, or not at all) and a reference SMILES with stereo tags still compare.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache

from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski


def largest_fragment(mol: Chem.Mol) -> Chem.Mol:
    """The fragment with the most atoms (the first one on a tie); ``mol`` itself if connected."""
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    return max(frags, key=lambda m: m.GetNumAtoms()) if len(frags) > 1 else mol


def _heavy_fragment(mol: Chem.Mol) -> Chem.Mol:
    frag = largest_fragment(mol)
    try:
        return Chem.RemoveHs(frag)
    except ValueError:  # RemoveHs refuses a few odd-but-sanitizable molecules; keep the H-ful graph
        return frag


def canonical_smiles(mol: Chem.Mol) -> str:
    """Canonical non-isomeric SMILES of a sanitized molecule's largest fragment, without hydrogens."""
    return Chem.MolToSmiles(_heavy_fragment(mol), isomericSmiles=False)


def smiles_key(smiles: str) -> str | None:
    """The :func:`canonical_smiles` of a SMILES string (None when RDKit cannot parse it)."""
    mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else canonical_smiles(mol)


@lru_cache(maxsize=1)
def _sascorer():
    # RDKit ships Ertl & Schuffenhauer's SA score as a Contrib script, not as a module.
    path = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if path not in sys.path:
        sys.path.append(path)
    import sascorer

    return sascorer


def ring_sizes(mol: Chem.Mol) -> list[int]:
    """Sizes of the smallest set of smallest rings (works on unsanitized molecules too)."""
    return sorted(len(r) for r in Chem.GetSSSR(mol))


def properties(mol: Chem.Mol) -> dict:
    """Drug-likeness of a sanitized molecule's largest fragment.

    Returns:
        ``qed`` (0-1), ``sa`` (SA score, 1 easy - 10 hard), ``logp`` (Crippen), ``mw`` (g/mol),
        ``lipinski_violations`` (0-4: MW > 500, logP > 5, H-bond donors > 5, acceptors > 10),
        ``ring_sizes`` (comma-separated, e.g. ``"5,6,6"``), ``n_rings``.
    """
    frag = _heavy_fragment(mol)
    mw, logp = Descriptors.MolWt(frag), Crippen.MolLogP(frag)
    violations = int(mw > 500) + int(logp > 5) + int(Lipinski.NumHDonors(frag) > 5) + int(
        Lipinski.NumHAcceptors(frag) > 10
    )
    try:
        qed = QED.qed(frag)
    except (ValueError, RuntimeError):  # QED needs properties some exotic molecules lack
        qed = float("nan")
    try:
        sa = _sascorer().calculateScore(frag)
    except (ValueError, RuntimeError):
        sa = float("nan")
    rings = ring_sizes(frag)
    return {
        "qed": qed,
        "sa": sa,
        "logp": logp,
        "mw": mw,
        "lipinski_violations": violations,
        "n_rings": len(rings),
        "ring_sizes": ",".join(map(str, rings)),
    }
