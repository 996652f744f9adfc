"""Element, formal-charge and bond-type vocabularies.

Index conventions used everywhere in molgen:

* ``atom_type [N] long``: index into ``Vocab.elements``.
* ``charge [N] long``: index into ``Vocab.charges`` (formal charges, e).
* ``bond_type [E] long``: index into :data:`BOND_TYPES`; 0 means "no bond", which is stored only on
  the complete/radius graphs that models see, never in a molecule's own ``edge_index``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem

from molgen.errors import SkipRecord

#: Bond classes. Index 0 is "no bond"; aromatic bonds are their own class (bond order 1.5).
BOND_TYPES: tuple[str, ...] = ("none", "single", "double", "triple", "aromatic")
BOND_ORDER: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 1.5)
#: Largest bond-order sum per atom handed to RDKit (no element we model exceeds 7): beyond it, or with a
#: charge above the atomic number, RDKit's writer and valence checks raise or crash the process.
MAX_BOND_ORDER_SUM = 8.0
RDKIT_BOND = {
    Chem.BondType.SINGLE: 1,
    Chem.BondType.DOUBLE: 2,
    Chem.BondType.TRIPLE: 3,
    Chem.BondType.AROMATIC: 4,
}
RDKIT_BOND_INV = {v: k for k, v in RDKIT_BOND.items()}
NUM_BOND_TYPES = len(BOND_TYPES)

_PT = Chem.GetPeriodicTable()


@dataclass(frozen=True)
class Vocab:
    """An element and formal-charge vocabulary for one family of datasets.

    Attributes:
        name: registry name (``qm9``, ``qm9_heavy``, ``drug``, ``drug_heavy``).
        elements: element symbols; position = atom-type index.
        charges: formal charges; position = charge index.
    """

    name: str
    elements: tuple[str, ...]
    charges: tuple[int, ...]

    @property
    def num_types(self) -> int:
        return len(self.elements)

    @property
    def num_charges(self) -> int:
        return len(self.charges)

    @property
    def explicit_hydrogens(self) -> bool:
        """Whether hydrogens are atoms of the graph (``H`` in the vocabulary). Without it, graphs hold
        heavy atoms and Kekulé bonds only, and RDKit infers the hydrogens from valences (see
        :mod:`molgen.chem.convert`)."""
        return "H" in self.elements

    @property
    def atomic_numbers(self) -> tuple[int, ...]:
        return tuple(_PT.GetAtomicNumber(s) for s in self.elements)

    def type_index(self, symbol: str) -> int:
        """Index of an element symbol; raises SkipRecord for an element outside the vocabulary."""
        try:
            return self.elements.index(symbol)
        except ValueError:
            raise SkipRecord(f"element {symbol} not in the {self.name} vocabulary") from None

    def charge_index(self, charge: int) -> int:
        """Index of a formal charge; raises SkipRecord for a charge outside the vocabulary."""
        try:
            return self.charges.index(int(charge))
        except ValueError:
            raise SkipRecord(f"formal charge {charge:+d} not in the {self.name} vocabulary") from None

    def to_dict(self) -> dict:
        return {"name": self.name, "elements": list(self.elements), "charges": list(self.charges)}

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        return cls(d["name"], tuple(d["elements"]), tuple(int(c) for c in d["charges"]))


QM9 = Vocab("qm9", ("H", "C", "N", "O", "F"), (-1, 0, 1))
DRUG = Vocab(
    "drug",
    ("H", "B", "C", "N", "O", "F", "Al", "Si", "P", "S", "Cl", "As", "Br", "I"),
    (-2, -1, 0, 1, 2, 3),
)
#: The drug vocabulary without hydrogen: heavy-atom graphs with Kekulé bonds, hydrogens implicit. Generating
#: heavy atoms and adding hydrogens afterwards is how most pocket-conditioned generators work (TargetDiff,
#: DiffSBDD, Pocket2Mol): a drug-like ligand has about half as many heavy atoms as atoms.
DRUG_HEAVY = Vocab("drug_heavy", DRUG.elements[1:], DRUG.charges)
#: QM9 without hydrogens: heavy-atom graphs (at most 9 atoms instead of 29, about 4x fewer atom pairs) with
#: Kekulé bonds; hydrogens come from RDKit on output, as for ``drug_heavy``. EDM's protocol A needs generated
#: hydrogens, so the explicit-H ``qm9`` vocabulary stays for that comparison.
QM9_HEAVY = Vocab("qm9_heavy", QM9.elements[1:], QM9.charges)
#: Protein pocket atoms (heavy atoms plus H where the PDB has them; metals and others map to "X").
POCKET_ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "S", "Se", "X")

VOCABS = {v.name: v for v in (QM9, QM9_HEAVY, DRUG, DRUG_HEAVY)}


def get_vocab(name: str) -> Vocab:
    """Look up a vocabulary by registry name."""
    try:
        return VOCABS[name]
    except KeyError:
        raise ValueError(f"unknown vocabulary {name!r}; known: {sorted(VOCABS)}") from None
