"""Valence-constrained bond decoding (molgen.processes.valence): caps, the repair rule, the sampler."""

from __future__ import annotations

import math

import pytest
import torch
from rdkit import Chem

from molgen.chem.vocab import BOND_ORDER, RDKIT_BOND_INV
from molgen.processes import MolState, build_process, sample
from molgen.processes.valence import (
    atom_caps,
    bond_load,
    kekule_bonds,
    max_valence,
    repair_valence,
    valence_caps,
)
from tests.processes.process_oracles import GaussianOracle, random_gaussian_target, random_marginals

K = 5  # none, single, double, triple, aromatic


@pytest.mark.parametrize("symbol,charge,cap", [
    ("C", 0, 4), ("N", 0, 3), ("N", 1, 4), ("N", -1, 2), ("O", 0, 2), ("O", 1, 3), ("O", -1, 1),
    ("S", 0, 6), ("P", 0, 5), ("F", 0, 1), ("Cl", 0, 1), ("Br", 0, 1), ("B", 0, 3), ("C", -1, 3),
])
def test_caps_are_the_textbook_valences(symbol, charge, cap):
    assert max_valence(symbol, charge) == cap


def test_caps_table_follows_the_vocabulary_order():
    caps = valence_caps(("C", "N", "O"), (-1, 0, 1))
    assert caps.tolist() == [[3, 4, 3], [2, 3, 4], [1, 2, 3]]


def _logits(probs: list[list[float]]) -> torch.Tensor:
    return torch.tensor(probs, dtype=torch.float64).log()


def _p(none=0.0, single=0.0, double=0.0, triple=0.0, aromatic=0.0, rest=1e-6):
    return [max(v, rest) for v in (none, single, double, triple, aromatic)]


def test_the_cheapest_change_of_the_over_valent_atom_is_taken():
    # a carbon (atom 0) with a double bond to atom 1 and single bonds to atoms 2, 3, 4: bond-order sum 5;
    # atoms 2, 3, 4 are also bonded in a chain 2-3-4 so that removing 0-2 would not split the molecule
    pairs = torch.tensor([[0, 0, 0, 0, 2, 3], [1, 2, 3, 4, 3, 4]])
    bond = torch.tensor([2, 1, 1, 1, 1, 1])
    probs = [_p(single=0.35, double=0.6), _p(none=0.45, single=0.5), _p(none=0.1, single=0.9),
             _p(none=0.1, single=0.9), _p(single=0.99), _p(single=0.99)]
    cap = torch.full((5,), 4.0, dtype=torch.float64)
    out = repair_valence(bond, _logits(probs), pairs, cap, torch.ones(6, dtype=torch.bool))
    # lowering 0=1 to single costs log(0.6/0.35) = 0.54 nats, removing 0-2 log(0.5/0.45) = 0.11: 0-2 goes
    assert math.log(0.6 / 0.35) > math.log(0.5 / 0.45)
    assert out.tolist() == [2, 0, 1, 1, 1, 1]


def test_a_bond_that_holds_the_molecule_together_is_lowered_not_removed():
    # the same carbon without the 2-3-4 chain: removing 0-2 would cut atom 2 off, so 0=1 becomes single
    pairs = torch.tensor([[0, 0, 0, 0], [1, 2, 3, 4]])
    bond = torch.tensor([2, 1, 1, 1])
    probs = [_p(single=0.35, double=0.6), _p(none=0.45, single=0.5), _p(none=0.1, single=0.9),
             _p(none=0.1, single=0.9)]
    cap = torch.full((5,), 4.0, dtype=torch.float64)
    out = repair_valence(bond, _logits(probs), pairs, cap, torch.ones(4, dtype=torch.bool))
    assert out.tolist() == [1, 1, 1, 1]


def test_a_five_bonded_carbon_loses_its_least_likely_bond_even_if_every_bond_is_a_bridge():
    pairs = torch.tensor([[0] * 5, [1, 2, 3, 4, 5]])
    bond = torch.ones(5, dtype=torch.long)
    probs = [_p(none=0.1, single=0.9)] * 5
    probs[3] = _p(none=0.4, single=0.6)
    cap = torch.full((6,), 4.0, dtype=torch.float64)
    out = repair_valence(bond, _logits(probs), pairs, cap, torch.ones(5, dtype=torch.bool))
    assert out.tolist() == [1, 1, 1, 0, 1]


def test_nothing_changes_without_an_over_valent_atom_and_fixed_or_masked_pairs_never_change():
    pairs = torch.tensor([[0, 0, 1], [1, 2, 2]])
    logits = _logits([_p(none=0.9, single=0.05, double=0.05)] * 3)
    cap = torch.tensor([4.0, 4.0, 4.0], dtype=torch.float64)
    bond = torch.tensor([2, 1, K])  # the last pair still masked
    assert repair_valence(bond, logits, pairs, cap, torch.ones(3, dtype=torch.bool)).tolist() == [2, 1, K]
    # an oxygen (cap 2) with a fixed double bond and a free single bond: only the free bond may go
    cap = torch.tensor([2.0, 4.0, 4.0], dtype=torch.float64)
    bond = torch.tensor([2, 1, 1])
    movable = torch.tensor([False, True, True])
    assert repair_valence(bond, logits, pairs, cap, movable).tolist() == [2, 0, 1]
    # every bond of the over-valent atom fixed: left as it is
    assert repair_valence(bond, logits, pairs, cap, torch.tensor([False, False, True])).tolist() == [2, 1, 1]


def test_atoms_still_masked_or_in_the_context_are_not_constrained():
    caps = valence_caps(("C", "O"), (0,))
    atom_type = torch.tensor([0, 1, 2, 1])  # 2 = masked type
    charge = torch.tensor([0, 0, 0, 1])  # 1 = masked charge
    free = torch.tensor([True, False, True, True])
    assert atom_caps(atom_type, charge, caps, free).tolist() == [4.0, math.inf, math.inf, math.inf]


ELEMENTS, CHARGES = ("C", "N", "O"), (0, 1)


@pytest.mark.parametrize("mode", ["final", "steps"])
def test_sampled_molecules_respect_the_caps_and_unaffected_ones_are_unchanged(mode):
    """Random bond marginals over-bond most atoms; with the repair no atom is over its cap, RDKit accepts
    every valence, and graphs the unconstrained sampler left within the caps come out bit-identical
    (final mode: the same random draws, the repair acts only after the last step)."""
    n, m, seed = 6, 200, 3
    mu, cov = random_gaussian_target(n, seed)
    marg = (random_marginals(n, 3, seed + 1), random_marginals(n, 2, seed + 2),
            random_marginals(n * (n - 1) // 2, 4, seed + 3))  # no aromatic class
    caps = valence_caps(ELEMENTS, CHARGES)
    out = {}
    for valence in ("off", mode):
        proc = build_process("flow", 3, 2, valence=valence, valence_caps=caps)
        oracle = GaussianOracle(proc, mu, cov, *marg)
        template = MolState.template([n] * m, 3, 2, dtype=torch.float64)
        out[valence] = sample(oracle, proc, template, 8, generator=torch.Generator().manual_seed(seed))
    s = out[mode]
    order = torch.tensor(BOND_ORDER, dtype=torch.float64)[s.bond]
    cap = atom_caps(s.atom_type, s.charge, caps, torch.ones_like(s.fixed))
    assert (bond_load(order, s.pairs, s.pos.shape[0]) <= cap).all()
    off = out["off"]
    load_off = bond_load(torch.tensor(BOND_ORDER, dtype=torch.float64)[off.bond], off.pairs, off.pos.shape[0])
    over_graph = torch.zeros(m, dtype=torch.bool).index_put_((off.batch,), load_off > cap, accumulate=True)
    assert over_graph.float().mean() > 0.5  # the test has something to repair
    if mode == "final":
        same = ~over_graph[off.pair_batch]
        assert torch.equal(s.bond[same], off.bond[same]) and torch.equal(s.pos, off.pos)
    for g in range(20):  # RDKit agrees: every atom's valence is accepted
        mol = Chem.RWMol()
        atoms = (s.batch == g).nonzero().squeeze(-1).tolist()
        for i in atoms:
            a = Chem.Atom(ELEMENTS[int(s.atom_type[i])])
            a.SetFormalCharge(CHARGES[int(s.charge[i])])
            mol.AddAtom(a)
        for (i, j), b in zip(s.pairs.t().tolist(), s.bond.tolist()):
            if b and i in atoms:
                mol.AddBond(i - atoms[0], j - atoms[0], RDKIT_BOND_INV[b])
        assert not [p for p in Chem.DetectChemistryProblems(mol) if "valence" in p.Message().lower()]


def test_kekule_bonds_make_aromatic_bonds_single_or_double_by_the_models_preference():
    logits = _logits([_p(single=0.2, double=0.1, aromatic=0.7), _p(single=0.1, double=0.3, aromatic=0.6),
                      _p(single=0.1, double=0.3, aromatic=0.6), _p(double=0.9), _p(none=0.9)])
    bond = torch.tensor([4, 4, 4, 2, K])  # three aromatic, one double, one still masked
    movable = torch.tensor([True, True, False, True, True])  # the third is fixed (given fragment)
    assert kekule_bonds(bond, logits, movable).tolist() == [1, 2, 4, 2, K]
    no_aromatic = torch.tensor([1, 2, 3, 0, K])
    assert kekule_bonds(no_aromatic, logits, movable) is no_aromatic


def test_the_repair_of_a_kekule_graph_never_lowers_a_double_bond_to_aromatic():
    # a carbon with two double bonds and a single bond (order sum 5, cap 4), in no ring
    pairs = torch.tensor([[0, 0, 0], [1, 2, 3]])
    bond = torch.tensor([2, 2, 1])
    probs = [_p(single=0.1, double=0.5, aromatic=0.4), _p(single=0.2, double=0.45, aromatic=0.35), _p(single=0.99)]
    cap = torch.full((4,), 4.0, dtype=torch.float64)
    movable = torch.ones(3, dtype=torch.bool)
    # order 1.5 counts as lower than 2 and is the cheapest change twice: two aromatic bonds outside a ring,
    # which RDKit refuses (the invalid pocket ligand of the nineteenth session)
    assert repair_valence(bond, _logits(probs), pairs, cap, movable).tolist() == [4, 4, 1]
    # without the aromatic class: the cheaper of the two double -> single changes, log(0.45 / 0.2) < log(0.5 / 0.1)
    kekule = torch.arange(K) != 4
    assert repair_valence(bond, _logits(probs), pairs, cap, movable, kekule).tolist() == [2, 1, 1]


def test_kekule_vocabularies_never_end_with_an_aromatic_bond():
    """Marginals with an aromatic class (the stochastic sampler can draw it from a heavy-atom model too):
    with ``kekule`` no bond stays aromatic and the caps still hold; without it, aromatic bonds remain."""
    n, m, seed = 6, 100, 5
    mu, cov = random_gaussian_target(n, seed)
    marg = (random_marginals(n, 3, seed + 1), random_marginals(n, 2, seed + 2),
            random_marginals(n * (n - 1) // 2, 5, seed + 3))
    caps = valence_caps(ELEMENTS, CHARGES)
    for kekule in (False, True):
        proc = build_process("flow", 3, 2, valence="final", valence_caps=caps, kekule=kekule)
        template = MolState.template([n] * m, 3, 2, dtype=torch.float64)
        s = sample(GaussianOracle(proc, mu, cov, *marg), proc, template, 8,
                   generator=torch.Generator().manual_seed(seed))
        aromatic = int((s.bond == 4).sum())
        assert (aromatic == 0) if kekule else (aromatic > 0)
        order = torch.tensor(BOND_ORDER, dtype=torch.float64)[s.bond]
        cap = atom_caps(s.atom_type, s.charge, caps, torch.ones_like(s.fixed))
        assert (bond_load(order, s.pairs, s.pos.shape[0]) <= cap).all()


def test_heavy_atom_vocabularies_decode_kekule_bonds():
    from molgen.chem.vocab import DRUG, DRUG_HEAVY, QM9, QM9_HEAVY
    from molgen.training.module import build_components

    cfg = {"model": {"name": "egnn", "hidden": 8, "num_layers": 1},
           "process": {"name": "flow", "discrete": "masked", "valence": "final"}}
    for vocab, kekule in ((DRUG_HEAVY, True), (QM9_HEAVY, True), (DRUG, False), (QM9, False)):
        assert build_components(cfg, vocab)[1].kekule is kekule
    cfg["process"]["valence"] = "off"
    assert build_components(cfg, DRUG_HEAVY)[1].kekule is False


def test_valence_needs_the_caps_and_a_known_mode():
    with pytest.raises(ValueError, match="valence caps"):
        build_process("flow", 3, 2, valence="final")
    with pytest.raises(ValueError, match="unknown valence"):
        build_process("flow", 3, 2, valence="sometimes", valence_caps=valence_caps(ELEMENTS, CHARGES))


def test_valence_off_as_a_user_writes_it():
    """``--option valence=off`` and a workflow's ``options: {valence: off}`` are YAML, where ``off`` reads as
    false: the shipped files (``valence: final``) must still sample with it switched off."""
    from pathlib import Path

    from molgen.config import parse_options
    from molgen.training import load_model

    opts = parse_options(["valence=off"])
    assert opts == {"valence": False}  # the YAML reading this guards against
    ckpt = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "drug_heavy_flow.ckpt"
    assert load_model(ckpt).process.valence == "final"
    assert load_model(ckpt, process_options=opts).process.valence == "off"
    assert build_process("flow", 3, 2, valence=False).valence == "off"
