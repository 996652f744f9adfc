"""Distribution metrics of a generated set against a reference set.

Per molecule, :func:`molecule_features` collects the atom count, element counts, ring sizes and, when
the molecule has a trusted 3D graph, bond lengths per bond type (``C-C``, ``C=O``, ``C:C``, ...),
bond angles per angle type (``C-N-C``, ends sorted) and heavy-atom torsions (|dihedral|, 0-180°).
:class:`FeatureSet` pools them over a set, and :func:`compare` reports

* total variation distance (0-1) for the discrete ones: atom counts, element frequencies, ring sizes,
  and the bond types between heavy atoms (single, double, triple, aromatic as RDKit perceives them): a
  sampler that trades diversity for validity (a low categorical temperature) drifts towards saturated,
  carbon-rich molecules, and this and the element distance show it;
* Wasserstein-1 (``scipy.stats.wasserstein_distance``) per bond type (Å), per angle type (degrees),
  and for torsions (degrees), plus the sample-weighted mean over types.

A type is compared only when both sets have at least ``min_count`` samples of it.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
from rdkit import Chem
from scipy.stats import wasserstein_distance

_BOND_SYMBOL = {Chem.BondType.SINGLE: "-", Chem.BondType.DOUBLE: "=", Chem.BondType.TRIPLE: "#",
                Chem.BondType.AROMATIC: ":"}


def bond_key(a: str, b: str, bond: Chem.Bond) -> str:
    """``C-C``, ``C=O``, ``C:N``: elements sorted, symbol by bond type (aromatic ``:``)."""
    sym = ":" if bond.GetIsAromatic() else _BOND_SYMBOL.get(bond.GetBondType(), "~")
    a, b = sorted((a, b))
    return f"{a}{sym}{b}"


def _angle(p: np.ndarray, i: int, j: int, k: int) -> float:
    u, v = p[i] - p[j], p[k] - p[j]
    c = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12)
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def _dihedral(p: np.ndarray, i: int, j: int, k: int, m: int) -> float:
    b0, b1, b2 = p[j] - p[i], p[k] - p[j], p[m] - p[k]
    n1, n2 = np.cross(b0, b1), np.cross(b1, b2)
    x = np.dot(n1, n2)
    y = np.dot(np.cross(n1, n2), b1 / (np.linalg.norm(b1) + 1e-12))
    return float(abs(np.degrees(np.arctan2(y, x))))


def molecule_features(mol: Chem.Mol, geometry: bool = True) -> dict:
    """Distribution features of one molecule.

    Args:
        mol: molecule with explicit atoms; a sanitized one for ring sizes and bond types.
        geometry: also collect bond lengths, angles and torsions from the first conformer.

    Returns:
        ``n_atoms`` (all atoms, H included), ``atom_types`` (symbol -> count), ``ring_sizes``,
        ``bond_types`` (``-``/``=``/``#``/``:`` -> count, bonds between heavy atoms), and
        with geometry ``bond_lengths`` / ``bond_angles`` (type -> list) and ``torsions`` (list).
    """
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    feats = {
        "n_atoms": mol.GetNumAtoms(),
        "atom_types": dict(Counter(symbols)),
        "ring_sizes": [len(r) for r in Chem.GetSSSR(mol)],
        "bond_types": dict(Counter(
            ":" if b.GetIsAromatic() else _BOND_SYMBOL.get(b.GetBondType(), "~") for b in mol.GetBonds()
            if b.GetBeginAtom().GetAtomicNum() > 1 and b.GetEndAtom().GetAtomicNum() > 1
        )),
    }
    if not geometry or mol.GetNumConformers() == 0:
        return feats
    p = mol.GetConformer().GetPositions()
    lengths, angles, torsions = defaultdict(list), defaultdict(list), []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        lengths[bond_key(symbols[i], symbols[j], b)].append(float(np.linalg.norm(p[i] - p[j])))
    for atom in mol.GetAtoms():
        j = atom.GetIdx()
        nbrs = [n.GetIdx() for n in atom.GetNeighbors()]
        for x in range(len(nbrs)):
            for y in range(x + 1, len(nbrs)):
                i, k = nbrs[x], nbrs[y]
                a, c = sorted((symbols[i], symbols[k]))
                angles[f"{a}-{symbols[j]}-{c}"].append(_angle(p, i, j, k))
    heavy = [a.GetAtomicNum() > 1 for a in mol.GetAtoms()]
    for b in mol.GetBonds():
        j, k = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if not (heavy[j] and heavy[k]):
            continue
        for i in (n.GetIdx() for n in mol.GetAtomWithIdx(j).GetNeighbors()):
            for m in (n.GetIdx() for n in mol.GetAtomWithIdx(k).GetNeighbors()):
                if heavy[i] and heavy[m] and len({i, j, k, m}) == 4:
                    torsions.append(_dihedral(p, i, j, k, m))
    feats.update(bond_lengths=dict(lengths), bond_angles=dict(angles), torsions=torsions)
    return feats


class FeatureSet:
    """Pooled features of a set of molecules (see :func:`molecule_features`)."""

    def __init__(self) -> None:
        self.n_molecules = 0
        self.n_atoms: Counter = Counter()
        self.atom_types: Counter = Counter()
        self.ring_sizes: Counter = Counter()
        self.bond_types: Counter = Counter()
        self.bond_lengths: dict[str, list[float]] = defaultdict(list)
        self.bond_angles: dict[str, list[float]] = defaultdict(list)
        self.torsions: list[float] = []
        self.n_geometry = 0

    def add(self, feats: dict) -> None:
        self.n_molecules += 1
        self.n_atoms[feats["n_atoms"]] += 1
        self.atom_types.update(feats["atom_types"])
        self.ring_sizes.update(feats["ring_sizes"])
        self.bond_types.update(feats.get("bond_types", {}))
        if "bond_lengths" in feats:
            self.n_geometry += 1
            for k, v in feats["bond_lengths"].items():
                self.bond_lengths[k].extend(v)
            for k, v in feats["bond_angles"].items():
                self.bond_angles[k].extend(v)
            self.torsions.extend(feats["torsions"])

    def ring_size_histogram(self) -> dict[str, float]:
        """Ring size -> rings of that size per molecule."""
        n = max(self.n_molecules, 1)
        return {str(k): self.ring_sizes[k] / n for k in sorted(self.ring_sizes)}


def total_variation(p: Counter, q: Counter) -> float | None:
    """Total variation distance (0-1) between two count histograms (None when one is empty)."""
    sp, sq = sum(p.values()), sum(q.values())
    if sp == 0 or sq == 0:
        return None
    return 0.5 * sum(abs(p.get(k, 0) / sp - q.get(k, 0) / sq) for k in set(p) | set(q))


def _w1_by_type(a: dict, b: dict, min_count: int) -> tuple[dict[str, float], float | None]:
    out, weights = {}, {}
    for key in sorted(set(a) & set(b)):
        if len(a[key]) >= min_count and len(b[key]) >= min_count:
            out[key] = float(wasserstein_distance(a[key], b[key]))
            weights[key] = len(a[key])
    total = sum(weights.values())
    mean = sum(out[k] * weights[k] for k in out) / total if total else None
    return out, mean


def compare(gen: FeatureSet, ref: FeatureSet, min_count: int = 10) -> dict:
    """Distances between generated and reference distributions (see the module docstring)."""
    out: dict = {
        "n_atoms_tv": total_variation(gen.n_atoms, ref.n_atoms),
        "atom_types_tv": total_variation(gen.atom_types, ref.atom_types),
        "ring_sizes_tv": total_variation(gen.ring_sizes, ref.ring_sizes),
        "bond_types_tv": total_variation(gen.bond_types, ref.bond_types),
    }
    if gen.n_geometry and ref.n_geometry:
        out["bond_length_w1"], out["bond_length_w1_mean"] = _w1_by_type(gen.bond_lengths, ref.bond_lengths,
                                                                         min_count)
        out["bond_angle_w1"], out["bond_angle_w1_mean"] = _w1_by_type(gen.bond_angles, ref.bond_angles,
                                                                       min_count)
        ok = len(gen.torsions) >= min_count and len(ref.torsions) >= min_count
        out["torsion_w1"] = float(wasserstein_distance(gen.torsions, ref.torsions)) if ok else None
    else:
        out["geometry"] = "skipped: the reference has no 3D structures (SMILES)"
    return out
