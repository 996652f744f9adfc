"""Chemistry core: vocabularies, bond types, RDKit molecule <-> graph conversion."""

from molgen.chem.vocab import BOND_TYPES, DRUG, QM9, Vocab, get_vocab

__all__ = ["BOND_TYPES", "DRUG", "QM9", "Vocab", "get_vocab"]
