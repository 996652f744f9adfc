"""Options and thresholds of one validation run (picklable, so workers get the same settings)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

BOND_SOURCES = ("predicted", "edm", "rdkit")
HYDROGEN_MODES = ("auto", "keep", "add")


@dataclass(frozen=True)
class ValidationConfig:
    """How molecules are built and which thresholds the checks use.

    Attributes:
        bonds: ``predicted`` (the molecule's own bonds), ``edm`` (EDM distance lookup on the
            coordinates) or ``rdkit`` (``rdDetermineBonds.DetermineBonds`` with the molecule's total
            formal charge; needs explicit hydrogens).
        hydrogens: ``keep`` (the atoms given are the whole molecule: no implicit hydrogens, a missing
            H shows up as a radical), ``add`` (missing hydrogens are inferred from standard valences
            and placed with coordinates, as PoseBusters does) or ``auto`` (``keep`` when the
            molecule has at least one H atom, else ``add``).
        checks: names of the checks to run (default: all registered ones that apply).
        bond_length_tol, bond_angle_tol, clash_tol: relative tolerances on RDKit distance-geometry
            bounds (PoseBusters ``mol``/``dock`` configs: 0.25, 0.25, 0.3).
        flatness_tol: maximum distance (Å) of an aromatic-ring or C=C system atom from its best plane
            (PoseBusters: 0.25).
        nonflat_tol: minimum out-of-plane distance (Å) a saturated six-ring must reach (0.05).
        energy_ratio_threshold: maximum UFF energy of the pose over the mean energy of an ETKDG
            ensemble (PoseBusters paper and ``check_energy_ratio`` default: 7; note that the
            ``mol.yml`` shipped with posebusters 0.6.5 uses 100).
        n_conformers: ETKDG ensemble size for the energy ratio (PoseBusters configs: 50).
        embed_timeout_s: time limit, s, of one ETKDG ensemble (RDKit ``EmbedParameters.timeout``;
            0: none). A generated molecule with impossible ring geometry can keep ETKDG retrying for
            many minutes (seen here: one generated ligand held a validation run for over 10
            minutes). RDKit drops the whole ensemble when the limit is reached, so such a molecule
            fails ``internal_energy`` with the reason; 50 conformers of a cyclic hexapeptide (with
            H) take 17 s here.
        energy_screen_conformers: size of the small ensemble drawn first; when it decides the
            verdict with a safety margin the full ensemble is skipped (0: always the full one; see
            :mod:`molgen.validation.checks.energy_ratio`).
        strain_threshold: maximum strain energy, kcal/mol (force-field energy as given minus after
            local relaxation). Default 60: measured here, MMFF94 local strain is 7-60 kcal/mol
            (median 22) on the 12 PoseBusters crystal ligands (hydrogens added) and has its 90th
            percentile at 57 kcal/mol (median 19) on 150 posed ligands of the Schrödinger FEP set.
        protein_max_distance: the ligand must come within this many Å of the protein (5.0).
        protein_clash_cutoff: a ligand-protein heavy-atom pair clashes when its distance is below
            this fraction of the sum of van der Waals radii (0.75).
        volume_overlap_cutoff: maximum share of the ligand's volume inside the protein (0.075).
        seed: random seed of the ETKDG ensembles.
    """

    bonds: str = "predicted"
    hydrogens: str = "auto"
    checks: tuple[str, ...] | None = None
    bond_length_tol: float = 0.25
    bond_angle_tol: float = 0.25
    clash_tol: float = 0.3
    flatness_tol: float = 0.25
    nonflat_tol: float = 0.05
    energy_ratio_threshold: float = 7.0
    n_conformers: int = 50
    embed_timeout_s: int = 120
    energy_screen_conformers: int = 8
    strain_threshold: float = 60.0
    protein_max_distance: float = 5.0
    protein_clash_cutoff: float = 0.75
    volume_overlap_cutoff: float = 0.075
    seed: int = 42

    def __post_init__(self) -> None:
        if self.checks is not None:
            object.__setattr__(self, "checks", tuple(self.checks))
        if self.bonds not in BOND_SOURCES:
            raise ValueError(f"bonds must be one of {BOND_SOURCES}, not {self.bonds!r}")
        if self.hydrogens not in HYDROGEN_MODES:
            raise ValueError(f"hydrogens must be one of {HYDROGEN_MODES}, not {self.hydrogens!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["checks"] = None if self.checks is None else list(self.checks)
        return d
