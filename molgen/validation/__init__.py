"""Validation of generated 3D molecules: stability (two protocols), RDKit validity, uniqueness and
novelty, drug-likeness, PoseBusters-grade geometry checks, protein checks and distribution metrics.

Entry points: :func:`validate_molecules` (molecules or molecule graphs in memory),
:func:`validate_sdf` (an SDF file, writing the table, an SDF with properties and ``metrics.json``),
and the ``molgen validate`` command.
"""

from molgen.validation.checks import CHECKS
from molgen.validation.config import ValidationConfig
from molgen.validation.reference import Reference, load_reference
from molgen.validation.runner import (
    ValidationResult,
    validate_molecules,
    validate_records,
    validate_sdf,
    write_outputs,
)

__all__ = [
    "CHECKS",
    "Reference",
    "ValidationConfig",
    "ValidationResult",
    "load_reference",
    "validate_molecules",
    "validate_records",
    "validate_sdf",
    "write_outputs",
]
