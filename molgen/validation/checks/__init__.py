"""Per-molecule checks, one per file, collected in :data:`CHECKS` by :func:`register`.

PoseBusters-equivalent (their conjunction is ``pb_valid``): ``sanitization``, ``inchi_convertible``,
``all_atoms_connected``, ``no_radicals``, ``bond_lengths``, ``bond_angles``, ``no_internal_clash``,
``aromatic_ring_flatness``, ``non_aromatic_ring_non_flatness``, ``double_bond_flatness``,
``internal_energy`` and, with a protein, ``protein_max_distance``, ``no_protein_clash``,
``no_volume_clash``. Reported but not in ``pb_valid``: ``strain_energy``.
"""

from molgen.validation.checks.base import CHECKS, Check, CheckContext, register

# Importing a module registers its check; the import order is the column order.
from molgen.validation.checks import (  # noqa: F401  isort: skip
    sanitization,
    inchi_convertible,
    all_atoms_connected,
    no_radicals,
    bond_lengths,
    bond_angles,
    internal_clash,
    aromatic_flatness,
    ring_nonflatness,
    double_bond_flatness,
    energy_ratio,
    strain_energy,
    protein_distance,
    protein_clash,
    volume_overlap,
)

__all__ = ["CHECKS", "Check", "CheckContext", "register"]
