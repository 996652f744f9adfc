"""The check registry: each check is a function of a :class:`CheckContext`, registered by name.

A check returns a dict of columns for the per-molecule table. Its pass/fail column carries the
check's own name and is True when the molecule passes; other columns (``<name>_...``) carry the
measured values. ``pb=True`` marks the PoseBusters-equivalent checks whose conjunction is
``pb_valid``; ``protein=True`` checks run only when a protein is given; ``needs_valid=True`` checks
need a sanitized molecule and fail (without running) on a molecule RDKit rejects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rdkit import Chem

from molgen.validation.config import ValidationConfig


@dataclass
class CheckContext:
    """What a check sees of one molecule.

    Attributes:
        raw: the molecule as built (bonds from the chosen source, hydrogen mode applied), not
            sanitized; chemistry checks look at this one.
        mol: ``raw`` sanitized, with missing hydrogens added when asked; None when RDKit rejects
            ``raw``. One conformer, Å.
        added_h: indices (in ``mol``) of hydrogens added here, whose coordinates are guesses that
            the energy checks relax first.
        config: thresholds.
        protein: receptor heavy atoms (:class:`~molgen.validation.io.ProteinAtoms`) or None.
        cache: scratch space shared by the checks of one molecule (e.g. the bounds matrix).
    """

    raw: Chem.Mol
    mol: Chem.Mol | None
    config: ValidationConfig
    added_h: tuple[int, ...] = ()
    protein: Any = None
    cache: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """A registered check (see the module docstring)."""

    name: str
    func: Callable[[CheckContext], dict]
    pb: bool
    protein: bool
    needs_valid: bool
    description: str


#: name -> Check, in registration order (which is the column order of the table).
CHECKS: dict[str, Check] = {}


def register(name: str, *, pb: bool, protein: bool = False, needs_valid: bool = True) -> Callable:
    """Decorator registering ``func(ctx) -> dict`` as the check ``name``; its docstring's first line
    becomes the description."""

    def deco(func: Callable[[CheckContext], dict]) -> Callable[[CheckContext], dict]:
        if name in CHECKS:
            raise ValueError(f"check {name!r} registered twice")
        doc = (func.__doc__ or "").strip().splitlines()
        CHECKS[name] = Check(name, func, pb, protein, needs_valid, doc[0] if doc else "")
        return func

    return deco
