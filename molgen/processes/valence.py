"""Valence-constrained bond decoding: the model's bonds, with no atom past what RDKit accepts.

A heavy-atom model predicts each bond class from its own softmax, pair by pair, so a carbon can end with
four neighbours and a double bond (bond-order sum 5). Over 400 ligands of the shipped pocket model in 20
held-out pockets (issue 16, seventeenth session), 221 failed sanitisation and every failure was an
over-valent atom: 99 carbons with four neighbours and one double bond, 28 nitrogens with three and
one double, 17 oxygens with two and one double: the neighbours plausible, one bond order too high.

:func:`repair_valence` lowers bond orders until no atom exceeds its cap, one change at a time, always
the change the model itself finds least unlikely: for an over-valent atom, among its bonds and the
lower classes each could take (double -> single or none, single -> none, ...), the one with the smallest
drop in the pair's predicted log-probability, except that a bond is not removed when it is the only
path between its two atoms (that would split the molecule) unless no other change is allowed. Only bond
orders move; coordinates, atom types and
charges stay the model's, and a molecule without an over-valent atom is returned unchanged. This is
the valency correction of graph generators (GraphAF's valency check, Shi et al. 2020; MoFlow's validity
correction, Zang & Wang 2020), ranked by the model's own bond probabilities.

Heavy-atom vocabularies are trained on Kekulé graphs, so :func:`kekule_bonds` first makes a sampled aromatic
bond (a class those models never saw, drawn now and then by the stochastic sampler) single or double, by
the model's own preference between the two, and the repair never lowers a double bond to aromatic
(``classes``).

Caps (:func:`valence_caps`): the largest bond-order sum RDKit sanitises for an element with a formal
charge when hydrogens are implicit (C 4, N 3, N+ 4, O 2, O- 1, S 6, P 5, halogens 1), found by asking
RDKit, so the caps and the validator cannot disagree.
"""

from __future__ import annotations

from functools import cache

import torch
from rdkit import Chem, rdBase
from torch import Tensor

from molgen.chem.vocab import BOND_ORDER, BOND_TYPES

#: Index of the aromatic bond class.
AROMATIC = BOND_TYPES.index("aromatic")

#: Largest bond-order sum tried when finding a cap.
_MAX_TRIED = 8


@cache
def max_valence(symbol: str, charge: int) -> int:
    """Largest number of single bonds RDKit sanitises on ``symbol`` with formal charge ``charge``
    (hydrogens implicit); -1 when not even a lone atom sanitises."""
    best = -1
    quiet = rdBase.BlockLogs()  # the refusals are the answer, not news
    for n in range(_MAX_TRIED + 1):
        mol = Chem.RWMol()
        centre = Chem.Atom(symbol)
        centre.SetFormalCharge(charge)
        mol.AddAtom(centre)
        for _ in range(n):
            mol.AddBond(0, mol.AddAtom(Chem.Atom("C")), Chem.BondType.SINGLE)
        if not Chem.DetectChemistryProblems(mol):
            best = n
    del quiet
    return best


def valence_caps(elements: tuple[str, ...], charges: tuple[int, ...]) -> Tensor:
    """``[T, C]`` float64: :func:`max_valence` of each (element, charge) of a vocabulary."""
    return torch.tensor([[float(max_valence(e, q)) for q in charges] for e in elements], dtype=torch.float64)


def bond_load(order: Tensor, pairs: Tensor, num_atoms: int) -> Tensor:
    """``[N]`` bond-order sum per atom from per-pair orders ``[U]``."""
    load = torch.zeros(num_atoms, dtype=order.dtype, device=order.device)
    return load.index_add(0, pairs[0], order).index_add(0, pairs[1], order)


def atom_caps(atom_type: Tensor, charge: Tensor, caps: Tensor, free: Tensor) -> Tensor:
    """``[N]`` cap per atom; infinite where the atom is not ``free`` (context atoms) or its type or
    charge is still masked (an index past the table)."""
    t_ok, c_ok = atom_type < caps.shape[0], charge < caps.shape[1]
    known = free & t_ok & c_ok
    cap = caps.to(atom_type.device)[atom_type.clamp(max=caps.shape[0] - 1), charge.clamp(max=caps.shape[1] - 1)]
    return torch.where(known, cap, torch.full_like(cap, float("inf")))


def kekule_bonds(bond: Tensor, logits: Tensor, movable: Tensor) -> Tensor:
    """``[U]`` bond classes with every movable aromatic bond made single or double, whichever of the two
    the model predicts likelier (``logits [U, K]``). For vocabularies whose training graphs are Kekulé
    (heavy-atom ones), where the aromatic class never occurs but can still be sampled: RDKit refuses an
    aromatic bond outside a ring (one of 800 pocket ligands of the nineteenth session's screen)."""
    hit = (bond == AROMATIC) & movable
    if not hit.any():
        return bond
    single = BOND_TYPES.index("single")
    assert BOND_TYPES.index("double") == single + 1
    return torch.where(hit, single + logits[:, single:single + 2].argmax(-1), bond)


def repair_valence(bond: Tensor, logits: Tensor, pairs: Tensor, cap: Tensor, movable: Tensor,
                   classes: Tensor | None = None) -> Tensor:
    """Lower bond orders until no atom's bond-order sum exceeds its cap (see the module docstring).

    Args:
        bond: ``[U]`` long bond classes (an index past the last class, the masked state, counts as no
            bond and is left as it is).
        logits: ``[U, K]`` predicted bond-class logits of the pairs.
        pairs: ``[2, U]`` atom indices of the pairs.
        cap: ``[N]`` float64 largest bond-order sum per atom (:func:`atom_caps`).
        movable: ``[U]`` bool, pairs whose class may change (not fixed).
        classes: ``[K]`` bool, the classes a change may go to (None: all). Kekulé vocabularies leave the
            aromatic class out: its order 1.5 is below a double bond's, so it would otherwise be a repair.

    Returns:
        ``[U]`` long bond classes; equal to ``bond`` where no atom was over its cap.
    """
    k = logits.shape[-1]
    order_of = torch.tensor(BOND_ORDER[:k], dtype=torch.float64, device=bond.device)
    decided = bond < k
    bond = bond.clone()

    def orders() -> Tensor:
        return torch.where(decided, order_of[bond.clamp(max=k - 1)], torch.zeros_like(order_of[:1]))

    logp = torch.log_softmax(logits.double(), -1)
    # cost[u, c]: the model's log-probability lost by moving pair u to class c; only lower orders allowed
    cost = logp.gather(1, bond.clamp(max=k - 1)[:, None]) - logp
    for _ in range(int(decided.sum()) * 3 + 1):  # every change lowers a bond order, so this bounds the loop
        over = (bond_load(orders(), pairs, cap.shape[0]) > cap + 1e-9).nonzero().squeeze(-1)
        if over.numel() == 0:
            return bond
        atom = int(over[0])
        lower = order_of[None, :] < orders()[:, None]
        ok = decided & movable & ((pairs[0] == atom) | (pairs[1] == atom))
        allowed = ok[:, None] & lower
        if classes is not None:
            allowed = allowed & classes.to(allowed.device)[None, :]
        if not allowed.any():  # every bond of the atom is fixed: nothing the decoder may change
            cap = cap.clone()
            cap[atom] = float("inf")
            continue
        u, c = _cheapest_move(torch.where(allowed, cost, torch.full_like(cost, float("inf"))), bond, pairs, decided)
        bond[u] = c
        cost[u] = logp[u, c] - logp[u]
    return bond


def _cheapest_move(cost: Tensor, bond: Tensor, pairs: Tensor, decided: Tensor) -> tuple[int, int]:
    """``(pair, class)`` of the smallest finite ``cost [U, K]`` that does not split a molecule: removing a
    bond (class 0) that is the only path between its atoms is taken only when nothing else is allowed."""
    finite = torch.isfinite(cost)
    order = cost[finite].argsort()
    moves = finite.nonzero()[order].tolist()
    for u, c in moves:
        if c > 0 or not _is_bridge(u, bond, pairs, decided):
            return u, c
    return moves[0][0], moves[0][1]


def _is_bridge(u: int, bond: Tensor, pairs: Tensor, decided: Tensor) -> bool:
    """Whether removing the bond on pair ``u`` disconnects its two atoms (search over the other bonds)."""
    bonded = (decided & (bond > 0)).clone()
    bonded[u] = False
    a, b = pairs[:, bonded].tolist()
    neighbours: dict[int, list[int]] = {}
    for i, j in zip(a, b):
        neighbours.setdefault(i, []).append(j)
        neighbours.setdefault(j, []).append(i)
    start, goal = int(pairs[0, u]), int(pairs[1, u])
    seen, todo = {start}, [start]
    while todo:
        for j in neighbours.get(todo.pop(), ()):
            if j == goal:
                return False
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return True
