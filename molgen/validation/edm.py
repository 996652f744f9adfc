"""Protocol A: the EDM bond-length lookup and valence-based stability (Hoogeboom et al., ICML 2022).

Bonds are perceived from coordinates alone: for every atom pair the distance (in pm) is compared
with tabulated single/double/triple bond lengths plus fixed margins, and an atom is *stable* when
the sum of the perceived bond orders equals one of its allowed valences. Formal charges are ignored.
This is the protocol behind the "atom stability" and "molecule stability" columns of EDM-lineage
tables (EDM, GeoLDM, ...), so numbers from here are comparable with them.

Source of the constants: ``qm9/bond_analyze.py`` of github.com/ehoogeboom/e3_diffusion_for_molecules
(commit d28fd52e), whose tables cite wiredchemist.com and chemistry-reference.com bond-length tables.
The values are published facts, re-typed here (pm). Pairs absent from a table have no such bond
(EDM's ``check_exists=True`` behaviour, which gives the same answer as the QM9 path on H, C, N, O, F).
"""

from __future__ import annotations

import numpy as np

# Single-bond lengths, pm (EDM bonds1). Stored once per unordered pair; see _pair_table().
_SINGLE = {
    ("H", "H"): 74, ("H", "C"): 109, ("H", "N"): 101, ("H", "O"): 96, ("H", "F"): 92, ("H", "B"): 119,
    ("H", "Si"): 148, ("H", "P"): 144, ("H", "As"): 152, ("H", "S"): 134, ("H", "Cl"): 127,
    ("H", "Br"): 141, ("H", "I"): 161,
    ("C", "C"): 154, ("C", "N"): 147, ("C", "O"): 143, ("C", "F"): 135, ("C", "Si"): 185,
    ("C", "P"): 184, ("C", "S"): 182, ("C", "Cl"): 177, ("C", "Br"): 194, ("C", "I"): 214,
    ("N", "N"): 145, ("N", "O"): 140, ("N", "F"): 136, ("N", "Cl"): 175, ("N", "Br"): 214,
    ("N", "S"): 168, ("N", "I"): 222, ("N", "P"): 177,
    ("O", "O"): 148, ("O", "F"): 142, ("O", "Br"): 172, ("O", "S"): 151, ("O", "P"): 163,
    ("O", "Si"): 163, ("O", "Cl"): 164, ("O", "I"): 194,
    ("F", "F"): 142, ("F", "S"): 158, ("F", "Si"): 160, ("F", "Cl"): 166, ("F", "Br"): 178,
    ("F", "P"): 156, ("F", "I"): 187,
    ("B", "Cl"): 175,
    ("Si", "Si"): 233, ("Si", "S"): 200, ("Si", "Cl"): 202, ("Si", "Br"): 215, ("Si", "I"): 243,
    ("Cl", "Cl"): 199, ("Cl", "P"): 203, ("Cl", "S"): 207, ("Cl", "Br"): 214,
    ("S", "S"): 204, ("S", "Br"): 225, ("S", "P"): 210, ("S", "I"): 234,
    ("Br", "Br"): 228, ("Br", "P"): 222,
    ("I", "I"): 266,
}
# Double-bond lengths, pm (EDM bonds2).
_DOUBLE = {
    ("C", "C"): 134, ("C", "N"): 129, ("C", "O"): 120, ("C", "S"): 160, ("N", "N"): 125,
    ("N", "O"): 121, ("O", "O"): 121, ("O", "P"): 150, ("P", "S"): 186,
}
# Triple-bond lengths, pm (EDM bonds3).
_TRIPLE = {("C", "C"): 120, ("C", "N"): 116, ("C", "O"): 113, ("N", "N"): 110}

#: Margins added to the tabulated lengths, pm (EDM margin1, margin2, margin3; tuned by EDM on QM9).
MARGINS_PM = (10.0, 5.0, 3.0)

#: Allowed valences (sum of perceived bond orders), charges ignored. H C N O F as in EDM; the drug
#: elements as in the molgen spec: EDM's own table has S: 4 only, here S may be 2, 4 or 6.
EDM_ALLOWED_VALENCES: dict[str, tuple[int, ...]] = {
    "H": (1,), "C": (4,), "N": (3,), "O": (2,), "F": (1,), "B": (3,), "Al": (3,), "Si": (4,),
    "P": (3, 5), "S": (2, 4, 6), "Cl": (1,), "As": (3,), "Br": (1,), "I": (1,),
}


def _pair_table(table: dict[tuple[str, str], int]) -> dict[tuple[str, str], float]:
    out = {}
    for (a, b), v in table.items():
        out[(a, b)] = out[(b, a)] = float(v)
    return out


SINGLE_PM, DOUBLE_PM, TRIPLE_PM = _pair_table(_SINGLE), _pair_table(_DOUBLE), _pair_table(_TRIPLE)


def edm_bond_order(a: str, b: str, distance: float) -> int:
    """EDM bond order (0 none, 1, 2, 3) of elements ``a``, ``b`` at ``distance`` Å.

    A bond exists when the distance is below the single-bond length + 10 pm; it is double below the
    double-bond length + 5 pm (where tabulated) and triple below the triple-bond length + 3 pm.
    """
    d = 100.0 * distance
    single = SINGLE_PM.get((a, b))
    if single is None or not d < single + MARGINS_PM[0]:
        return 0
    double = DOUBLE_PM.get((a, b))
    if double is None or not d < double + MARGINS_PM[1]:
        return 1
    triple = TRIPLE_PM.get((a, b))
    if triple is None or not d < triple + MARGINS_PM[2]:
        return 2
    return 3


def edm_bond_matrix(symbols: list[str], pos: np.ndarray) -> np.ndarray:
    """EDM bond orders of every atom pair.

    Args:
        symbols: [N] element symbols.
        pos: [N, 3] float, Å.

    Returns:
        [N, N] int matrix of bond orders (0 = no bond), symmetric, zero diagonal.
    """
    pos = np.asarray(pos, dtype=np.float64)
    n = len(symbols)
    dist = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    # Thresholds per pair in pm; -inf where the pair has no entry, so "<" is never true.
    thr_pm = np.full((3, n, n), -np.inf)
    for t, table in enumerate((SINGLE_PM, DOUBLE_PM, TRIPLE_PM)):
        for i in range(n):
            for j in range(i + 1, n):
                v = table.get((symbols[i], symbols[j]))
                if v is not None:
                    thr_pm[t, i, j] = thr_pm[t, j, i] = v + MARGINS_PM[t]
    # Same cascade as edm_bond_order, vectorised (distance compared in pm as EDM does).
    d_pm = 100.0 * dist
    single = d_pm < thr_pm[0]
    double = single & (d_pm < thr_pm[1])
    triple = double & (d_pm < thr_pm[2])
    order = single.astype(int) + double.astype(int) + triple.astype(int)
    np.fill_diagonal(order, 0)
    return order


def edm_stability(symbols: list[str], pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Protocol A per atom: perceived valence and stability.

    Args:
        symbols: [N] element symbols (hydrogens included; EDM evaluates with explicit H).
        pos: [N, 3] float, Å.

    Returns:
        ``(valence [N] int, stable [N] bool)``; an element without an entry in
        :data:`EDM_ALLOWED_VALENCES` is never stable.
    """
    valence = edm_bond_matrix(symbols, pos).sum(axis=1)
    stable = np.array([int(v) in EDM_ALLOWED_VALENCES.get(s, ()) for s, v in zip(symbols, valence)], dtype=bool)
    return valence, stable
