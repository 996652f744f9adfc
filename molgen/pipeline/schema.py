"""The workflow file: one pydantic schema, YAML loading, overrides by step name, every error at once.

A workflow is global settings plus a list of named steps::

    name: quickstart
    seed: 0
    out_dir: ../runs/quickstart        # relative paths: against this file's folder
    device: cpu                        # cpu | cuda | cuda:N | auto
    workers: 0                         # processes for validation/docking inside one chunk
    executor: {name: local}            # local | dask (address, LocalCluster or a SLURMCluster section)
    steps:
      - {name: generate, type: generate, checkpoint: ../data/checkpoints/qm9_heavy_flow.ckpt, num: 100}
      - {name: validate, type: validate, input: generate}
      - {name: good, type: filter, input: validate, where: "qed > 0.5 and pb_valid"}
      - {name: report, type: report}

A step's ``name`` defaults to its ``type``. Overrides are dotted ``key=value`` strings: top-level keys
as in ``molgen train`` (``seed=3``, ``executor.name=dask``) and step keys by step name
(``steps.generate.num=10``).

Validation happens before anything runs and reports every problem, each with its YAML path, in one
:class:`~molgen.errors.MolgenError` (CLI exit 2): unknown step types and keys (with "did you mean"),
wrong types, missing files, inputs naming unknown or later steps.
"""

from __future__ import annotations

import ast
import copy
import difflib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from molgen.config import apply_overrides, parse_override, set_dotted
from molgen.errors import MolgenError

#: Step types whose work is done per chunk of molecules (they read and write molecules).
MAP_STEPS = ("generate", "validate", "filter", "dock", "relax")
#: Generation modes: no condition; ligands in a protein pocket; the rest grown around fixed atoms.
GENERATE_MODES = ("unconditional", "pocket", "fragment")
#: The generate keys that define a pocket, and those that define a fragment.
POCKET_KEYS = ("ref_ligand", "residues", "box")
FRAGMENT_KEYS = ("fragment", "fragment_smarts")
#: Table columns a generate step writes, and those a dock step adds (``tests/pipeline`` checks them
#: against the tables a run writes); validate's come from :func:`molgen.validation.runner.table_columns`.
GENERATE_COLUMNS = ("id", "index", "chunk", "n_atoms", "sanitized")
DOCK_COLUMNS = ("vina_kcal_mol", "dock_status", "dock_reason", "dock_mode", "dock_seconds", "vina_in_place_kcal_mol",
                "inter_kcal_mol", "intra_kcal_mol", "torsion_kcal_mol", "rmsd_to_input_A", "num_poses",
                "num_heavy_atoms", "num_torsions", "h_added")
#: Table columns a relax step adds (the same as :data:`molgen.docking.relax.RELAX_COLUMNS`, checked in tests).
RELAX_COLUMNS = ("relax_status", "relax_reason", "relax_method", "relax_rmsd_A", "relax_energy_before_kcal_mol",
                 "relax_energy_after_kcal_mol", "relax_wall_kcal_mol", "relax_min_protein_dist_before_A",
                 "relax_min_protein_dist_after_A", "relax_converged", "relax_seconds")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


# ------------------------------------------------------------------------------------------- steps
class BoxConfig(_Strict):
    """Search box: centre and edge lengths, Å."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]

    @field_validator("size")
    @classmethod
    def _positive(cls, v):
        if any(x <= 0 for x in v):
            raise ValueError(f"box edge lengths must be > 0, got {list(v)}")
        return v


class GenerateStep(_Strict):
    """Sample molecules with a trained model.

    ``num`` molecules are made as ``ceil(num / chunk_size)`` chunks; chunk k is seeded by
    ``(seed, k)`` so its molecules do not depend on the process, shard or executor that runs it.
    ``checkpoint: null`` means the shipped QM9 model.

    Modes (see :mod:`molgen.sampling.conditioning`):

    * ``unconditional``;
    * ``pocket``: ligands in the pocket of ``protein`` cut around ``ref_ligand`` (residues within
      ``pocket_cutoff`` Å), or given as ``residues`` (``["A:12", ...]``), or by a ``box``; written in
      the protein's frame; needs a pocket model (``data/checkpoints/pocket_flow.ckpt``);
    * ``fragment``: the atoms of ``fragment`` (an SDF of the atoms to keep) or of ``fragment_smarts``
      matched on ``ref_ligand`` stay where they are and the rest is grown; in a pocket when
      ``protein`` is given (the pocket then comes from ``residues``, ``box`` or ``ref_ligand``).

    ``guidance`` (with a protein; default off): ``true`` or a mapping of
    :class:`~molgen.sampling.guidance.GuidanceSettings` (``start``, ``clash_distance``,
    ``clash_weight``, ``site_radius``, ``site_weight``, ``iterations``, ``refine``) pushes the predicted
    ligand coordinates of the last steps out of the protein and into the pocket.

    ``sizes`` (a pocket cut around ``ref_ligand``, no ``num_atoms`` / ``atoms_range``): ``pocket`` (default)
    draws ligand sizes from the nearest training sites by pocket size, ``reference`` uniformly within 2
    atoms of the reference ligand's (:mod:`molgen.sampling.conditioning`).
    """

    name: str
    type: Literal["generate"] = "generate"
    mode: str = "unconditional"
    checkpoint: Path | None = None
    num: int = Field(100, ge=1)
    steps: int = Field(20, ge=1, description="sampler steps")
    batch_size: int = Field(100, ge=1, description="most molecules per sampler batch (cut smaller by atom pairs)")
    chunk_size: int = Field(100, ge=1, description="molecules per chunk (unit of work, resume, shards)")
    num_atoms: int | None = Field(None, ge=1)
    atoms_range: tuple[int, int] | None = None
    sizes: Literal["pocket", "reference"] = Field(
        "pocket", description="with a pocket cut around ref_ligand and no num_atoms / atoms_range: ligand sizes from "
        "the nearest training sites by pocket size, or within 2 atoms of the reference ligand's")
    options: dict[str, Any] = Field(default_factory=dict, description="process sampler settings")
    seed: int | None = Field(None, description="default: the workflow seed")
    protein: Path | None = Field(None, description="pocket and fragment modes: protein PDB or mmCIF")
    ref_ligand: Path | None = Field(None, description="reference ligand SDF: pocket definition, SMARTS target")
    residues: list[str] | None = Field(None, description='pocket residues, e.g. ["A:57", "A:102"]')
    box: BoxConfig | None = Field(None, description="pocket: residues with an atom inside this box")
    pocket_cutoff: float = Field(6.0, gt=0, description="Å around ref_ligand")
    fragment: Path | None = Field(None, description="fragment mode: SDF of the atoms to keep")
    fragment_smarts: str | None = Field(None, description="fragment mode: SMARTS matched on ref_ligand")
    guidance: dict[str, Any] | None = Field(None, description="with a protein: guide the last steps out of the "
                                            "protein and into the pocket (true: defaults; a mapping of settings)")

    @field_validator("guidance", mode="before")
    @classmethod
    def _guidance(cls, v):
        """Every setting, defaults filled in (so ``true`` and ``{}`` are one fingerprint); None when off."""
        if v is None or v is False:
            return None
        from molgen.sampling.guidance import parse_guidance  # torch: only when guidance is asked for

        try:
            return parse_guidance(v, source=None).summary()
        except MolgenError as err:
            raise ValueError(str(err)) from None

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        if v not in GENERATE_MODES:
            hint = difflib.get_close_matches(v, GENERATE_MODES, n=1)
            more = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ValueError(f"unknown mode {v!r}{more} (known: {', '.join(GENERATE_MODES)})")
        return v

    @field_validator("atoms_range")
    @classmethod
    def _range(cls, v):
        if v is not None and not 1 <= v[0] <= v[1]:
            raise ValueError(f"needs 1 <= lo <= hi, got {list(v)}")
        return v

    @field_validator("fragment_smarts")
    @classmethod
    def _smarts(cls, v):
        from rdkit import Chem, RDLogger

        RDLogger.DisableLog("rdApp.*")
        if v is not None and Chem.MolFromSmarts(v) is None:
            raise ValueError(f"cannot parse SMARTS {v!r}")
        return v

    def input_files(self) -> list[Path]:
        """The files the molecules depend on besides the checkpoint (hashed into the fingerprint)."""
        return [p for p in (self.protein, self.ref_ligand, self.fragment) if p is not None]


def generate_condition_problems(label: str, s: dict) -> list[str]:
    """Which condition keys a generate step's mode needs and forbids (raw dict)."""
    mode = s.get("mode", "unconditional")
    given = [k for k in ("protein", *POCKET_KEYS, *FRAGMENT_KEYS) if s.get(k) is not None]
    pocket = [k for k in ("residues", "box") if k in given]
    out = []
    if s.get("guidance") not in (None, False) and "protein" not in given:
        out.append(f"{label}.guidance: needs a pocket: give the protein (mode pocket, or fragment with a protein)")
    if s.get("sizes", "pocket") == "reference":
        if "protein" not in given or "ref_ligand" not in given or pocket:
            out.append(f"{label}.sizes: 'reference' needs a pocket cut around ref_ligand: give the protein and "
                       "ref_ligand (not residues or box)")
        if s.get("num_atoms") is not None or s.get("atoms_range") is not None:
            out.append(f"{label}.sizes: 'reference' draws sizes around ref_ligand's: give either it or num_atoms / "
                       "atoms_range, not both")
    if mode == "unconditional":
        if given:
            out.append(f"{label}: mode 'unconditional' takes no {', '.join(given)} (use mode: pocket or fragment)")
        return out
    if mode == "pocket" and "protein" not in given:
        out.append(f"{label}.protein: mode 'pocket' needs the protein (PDB or mmCIF)")
    if mode == "pocket" and not pocket and "ref_ligand" not in given:
        out.append(f"{label}: mode 'pocket' needs one of ref_ligand, residues, box to define the pocket")
    if len(pocket) > 1:
        out.append(f"{label}: give either residues or box, not both")
    if mode == "pocket" and any(k in given for k in FRAGMENT_KEYS):
        out.append(f"{label}: fragment and fragment_smarts belong to mode 'fragment' (which also takes a protein)")
    if mode == "fragment":
        frag = [k for k in FRAGMENT_KEYS if k in given]
        if not frag:
            out.append(f"{label}: mode 'fragment' needs fragment (SDF of the atoms to keep) or fragment_smarts")
        elif len(frag) > 1:
            out.append(f"{label}: give either fragment or fragment_smarts, not both")
        if "fragment_smarts" in given and "ref_ligand" not in given:
            out.append(f"{label}.fragment_smarts: is matched on ref_ligand: give the reference ligand")
        if pocket and "protein" not in given:
            out.append(f"{label}: {pocket[0]} defines a pocket: give the protein too")
    return out


class ValidateStep(_Strict):
    """Validate the input step's molecules (see :mod:`molgen.validation`).

    ``checks``: the check names to run (default all); ``reference``: ``qm9``, a SMILES or an SDF
    file for novelty and distributions; ``protein``: a PDB for the protein checks; ``thresholds``:
    fields of :class:`~molgen.validation.ValidationConfig` (e.g. ``strain_threshold: 80``).
    """

    name: str
    type: Literal["validate"] = "validate"
    input: str
    checks: list[str] | None = None
    reference: str | None = None
    qm9_dir: Path | None = None
    protein: Path | None = None
    bonds: Literal["predicted", "edm", "rdkit"] = "predicted"
    hydrogens: Literal["auto", "keep", "add"] = "auto"
    vocab: Literal["drug", "qm9"] = "drug"
    thresholds: dict[str, float | int] = Field(default_factory=dict)

    @field_validator("checks")
    @classmethod
    def _checks(cls, v):
        if v is None:
            return v
        from molgen.validation.checks import CHECKS

        bad = []
        for name in v:
            if name not in CHECKS:
                hint = difflib.get_close_matches(name, list(CHECKS), n=1)
                bad.append(f"{name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        if bad:
            raise ValueError(f"unknown check(s) {', '.join(bad)} (known: {', '.join(CHECKS)})")
        return v

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v):
        from molgen.validation import ValidationConfig

        known = [f for f in ValidationConfig.__dataclass_fields__ if f not in ("bonds", "hydrogens", "checks")]
        bad = []
        for key in v:
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                bad.append(f"{key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        if bad:
            raise ValueError(f"unknown threshold(s) {', '.join(bad)} (known: {', '.join(known)})")
        return v


class FilterStep(_Strict):
    """Keep the molecules whose row satisfies ``where``, a condition on the input's table columns
    (``qed > 0.5 and pb_valid``; pandas ``DataFrame.query`` syntax; null values compare false)."""

    name: str
    type: Literal["filter"] = "filter"
    input: str
    where: str

    @field_validator("where")
    @classmethod
    def _syntax(cls, v: str) -> str:
        try:
            ast.parse(v.strip(), mode="eval")
        except SyntaxError as err:
            raise ValueError(f"not a valid condition ({err.msg}): {v!r}") from None
        return v


class DockStep(_Strict):
    """Score, minimise or dock the input's molecules with AutoDock Vina (see :mod:`molgen.docking`).

    The box is ``box`` (centre + size) or the box around ``ref_ligand`` plus ``padding``: it must
    not depend on which molecules a chunk holds.
    """

    name: str
    type: Literal["dock"] = "dock"
    input: str
    receptor: Path
    mode: Literal["score", "minimize", "dock"] = "score"
    box: BoxConfig | None = None
    ref_ligand: Path | None = None
    padding: float = Field(4.0, ge=0)
    exhaustiveness: int = Field(8, ge=1)
    num_poses: int = Field(9, ge=1)
    seed: int = Field(1, description="Vina seed")
    scoring: Literal["vina", "vinardo"] = "vina"
    receptor_prep: Literal["auto", "meeko", "openbabel"] = "auto"


class RelaxStep(_Strict):
    """Relax the input's molecules in the fixed pocket of ``protein`` (see :mod:`molgen.docking.relax`):
    MMFF94 for the ligand, the protein heavy atoms as fixed repulsive points. A separate, named step:
    the molecules of earlier steps stay as they were (generate's are the model's); this step writes its
    own SDF (relaxed coordinates, hydrogens explicit) and adds the ``relax_*`` columns. A molecule that
    cannot be relaxed is a row with ``relax_status: failed`` and a ``relax_reason``, without a record."""

    name: str
    type: Literal["relax"] = "relax"
    input: str
    protein: Path
    method: Literal["mmff"] = "mmff"
    clash_distance: float = Field(3.0, gt=0, description="wall for ligand heavy atoms, Å")
    hydrogen_clash_distance: float = Field(2.0, gt=0, description="wall for ligand hydrogens, Å")
    cutoff: float = Field(6.0, gt=0, description="protein atoms within this of the ligand enter, Å")
    force_constant: float = Field(100.0, gt=0, description="wall force constant, kcal/mol/Å²")
    max_iters: int = Field(500, ge=1, description="minimiser iterations")


class ReportStep(_Strict):
    """The run's summary: ``report.json`` and ``report.html`` in the run directory. It reads the whole
    run; ``input`` optionally names the molecule step the report is about (default: the last one)."""

    name: str
    type: Literal["report"] = "report"
    input: str | None = None


STEP_TYPES: dict[str, type[_Strict]] = {
    "generate": GenerateStep, "validate": ValidateStep, "filter": FilterStep, "dock": DockStep,
    "relax": RelaxStep, "report": ReportStep,
}
Step = Annotated[GenerateStep | ValidateStep | FilterStep | DockStep | RelaxStep | ReportStep,
                 Field(discriminator="type")]
#: Path-valued keys of each step type, resolved against the workflow file's folder.
_PATH_KEYS = {"generate": ("checkpoint", "protein", "ref_ligand", "fragment"), "validate": ("qm9_dir", "protein", "reference"),
              "dock": ("receptor", "ref_ligand"), "relax": ("protein",)}


# -------------------------------------------------------------------------------------- executors
class SlurmConfig(_Strict):
    """``dask_jobqueue.SLURMCluster`` settings: one SLURM job per ``jobs``, each ``processes``
    Dask workers sharing ``cores`` and ``memory``."""

    cores: int = Field(1, ge=1)
    memory: str = "4GB"
    processes: int = Field(1, ge=1)
    jobs: int = Field(1, ge=1)
    queue: str | None = None
    account: str | None = None
    walltime: str = "01:00:00"
    interface: str | None = None
    local_directory: str | None = None
    job_extra_directives: list[str] = Field(default_factory=list)
    job_script_prologue: list[str] = Field(default_factory=list)


class ExecutorConfig(_Strict):
    """Where the chunks of a step run.

    ``local``: this process, one chunk after the other. ``dask``: chunks are tasks on a Dask
    cluster: the scheduler at ``address`` if given, else a ``slurm`` SLURMCluster if given, else a
    ``LocalCluster`` of ``n_workers`` worker processes on ``host``.
    """

    name: Literal["local", "dask"] = "local"
    address: str | None = None
    n_workers: int = Field(2, ge=1)
    threads_per_worker: int = Field(1, ge=1)
    host: str = "127.0.0.1"
    slurm: SlurmConfig | None = None


class Workflow(_Strict):
    """A whole workflow (the resolved form is ``RUN_DIR/workflow.yaml``)."""

    name: str = "workflow"
    seed: int = 0
    out_dir: Path = Path("runs/workflow")
    device: str = "cpu"
    workers: int = Field(0, ge=0, description="processes for validation/docking within a chunk")
    threads: int | None = Field(None, ge=1, description="torch threads per chunk task (default: torch's)")
    executor: ExecutorConfig = ExecutorConfig()
    steps: list[Step]

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v not in ("cpu", "auto", "cuda", "mps") and not v.startswith("cuda:"):
            raise ValueError(f"device must be cpu, cuda, cuda:N, mps or auto, not {v!r}")
        return v

    def step(self, name: str):
        """The step called ``name``."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def source_of(self, name: str) -> GenerateStep:
        """The generate step at the root of a molecule step's inputs (it fixes the chunking)."""
        s = self.step(name)
        while s.type != "generate":
            s = self.step(s.input)
        return s

    def num_chunks(self, name: str) -> int:
        src = self.source_of(name)
        return -(-src.num // src.chunk_size)


# --------------------------------------------------------------------------------------- loading
def _hint(word: str, options) -> str:
    match = difflib.get_close_matches(str(word), list(options), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _problems(err: ValidationError, prefix: str, model: type[BaseModel]) -> list[str]:
    """One ``yaml.path: message`` per error, unknown keys with a did-you-mean."""
    out = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        path = ".".join(p for p in (prefix, loc) if p) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            # the fields of the model that owns the key: walk nested models along the location
            owner: Any = model
            for part in e["loc"][:-1]:
                field = getattr(owner, "model_fields", {}).get(part)
                ann = getattr(field, "annotation", None)
                owner = next((a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")), None)
                if owner is None:
                    break
            fields = list(getattr(owner, "model_fields", {}) or [])
            msg = "unknown key" + _hint(e["loc"][-1], fields)
        out.append(f"{path}: {msg}")
    return out


def _step_label(i: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"steps.{name}" if isinstance(name, str) and name else f"steps[{i}]"


def _default_names(raw: dict) -> None:
    steps = raw.get("steps")
    if isinstance(steps, list):
        for s in steps:
            if isinstance(s, dict) and "name" not in s and isinstance(s.get("type"), str):
                s["name"] = s["type"]


def apply_workflow_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply dotted overrides; ``steps.NAME.key=value`` sets a key of the step called NAME."""
    _default_names(raw)
    for item in overrides:
        keys, value = parse_override(item)
        if keys[0] != "steps":
            apply_overrides(raw, [item])
            continue
        steps = raw.get("steps")
        names = [s.get("name") for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
        if len(keys) < 3:
            raise MolgenError(f"override {item!r}: step keys are steps.NAME.KEY=VALUE")
        if keys[1] not in names:
            raise MolgenError(f"override {item!r}: no step named {keys[1]!r}{_hint(keys[1], names)}; "
                              f"steps: {', '.join(map(str, names)) or 'none'}")
        set_dotted(steps[names.index(keys[1])], keys[2:], value, item)
    return raw


def _resolve(value: Any, base: Path) -> Any:
    if not isinstance(value, str) or not value:
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _model_problems(label: str, s: dict) -> list[str]:
    """A pocket model needs a protein, and a protein needs a pocket model."""
    ckpt = s.get("checkpoint")
    if not isinstance(ckpt, str) or not Path(ckpt).is_file():
        return []
    from molgen.sampling.conditioning import is_pocket_model
    from molgen.training.checkpoint import read_model_file

    try:
        pocket_model = is_pocket_model(read_model_file(ckpt)[0])
    except MolgenError:
        return []  # not a model file: the generate step says so when it loads it
    with_protein = s.get("protein") is not None
    if with_protein and not pocket_model:
        return [(f"{label}.checkpoint: this model was trained without a pocket (data.context: none); a protein "
                 "needs a pocket model such as data/checkpoints/pocket_flow.ckpt")]
    if pocket_model and not with_protein:
        return [(f"{label}.checkpoint: a pocket model generates in a pocket: give protein (mode pocket, or "
                 "fragment with a protein)")]
    return []


def _file_problems(steps: list[dict]) -> list[str]:
    """Missing files named by the steps (raw dicts, paths already resolved; also for steps with other
    problems, so that one message lists everything)."""
    out = []

    def need(label: str, key: str, value: Any, kind: str = "file") -> None:
        if not isinstance(value, str) or not value:
            return
        p = Path(value)
        if not (p.is_dir() if kind == "folder" else p.is_file()):
            out.append(f"{label}.{key}: {kind} not found: {p}")

    for i, s in enumerate(steps):
        label, kind = _step_label(i, s), s.get("type")
        if kind == "generate":
            if s.get("checkpoint") is None:
                try:
                    from molgen.sampling.generate import default_checkpoint

                    default_checkpoint()
                except MolgenError as err:
                    out.append(f"{label}.checkpoint: not set, and the shipped checkpoint is missing ({err.path})")
            need(label, "checkpoint", s.get("checkpoint"))
            for key in ("protein", "ref_ligand", "fragment"):
                need(label, key, s.get(key))
            out += _model_problems(label, s)
        elif kind == "validate":
            need(label, "protein", s.get("protein"))
            need(label, "qm9_dir", s.get("qm9_dir"), "folder")
            if s.get("reference") == "qm9":
                folder = s.get("qm9_dir") or os.environ.get("MOLGEN_QM9_DIR")
                if not folder:
                    out.append(f"{label}.reference: 'qm9' needs qm9_dir (or $MOLGEN_QM9_DIR): the folder written "
                               "by `molgen data prepare qm9`")
                elif Path(folder).is_dir():
                    need(label, "reference", str(Path(folder) / "train_smiles.txt"))
            else:
                need(label, "reference", s.get("reference"))
        elif kind == "dock":
            need(label, "receptor", s.get("receptor"))
            need(label, "ref_ligand", s.get("ref_ligand"))
        elif kind == "relax":
            need(label, "protein", s.get("protein"))
    return out


def _graph_problems(steps: list[dict]) -> list[str]:
    """Names unique, inputs name an earlier molecule step, dock has one box source."""
    out, seen = [], {}
    for i, s in enumerate(steps):
        name, kind = s.get("name"), s.get("type")
        label = _step_label(i, s)
        if name in seen:
            out.append(f"{label}.name: duplicate step name {name!r} (also steps[{seen[name]}])")
        if isinstance(s.get("input"), str) and kind in STEP_TYPES:
            src = s["input"]
            earlier = {n: t for n, t in ((x.get("name"), x.get("type")) for x in steps[:i])}
            later = [x.get("name") for x in steps[i + 1:]]
            if src == name:
                out.append(f"{label}.input: a step cannot read its own output")
            elif src in later:
                out.append(f"{label}.input: step {src!r} comes after {name!r}; a step reads an earlier step")
            elif src not in earlier:
                out.append(f"{label}.input: unknown step {src!r}{_hint(src, earlier)} (earlier steps: "
                           f"{', '.join(map(str, earlier)) or 'none'})")
            elif earlier[src] in STEP_TYPES and earlier[src] not in MAP_STEPS:
                out.append(f"{label}.input: step {src!r} ({earlier[src]}) has no molecules to read")
        if kind == "generate":
            out += generate_condition_problems(label, s)
        if kind == "dock":
            has_box, has_ref = s.get("box") is not None, s.get("ref_ligand") is not None
            if not has_box and not has_ref:
                out.append(f"{label}: dock needs 'box' (center, size) or 'ref_ligand': the box must not "
                           "depend on which molecules a chunk holds")
            elif has_box and has_ref:
                out.append(f"{label}: give either 'box' or 'ref_ligand', not both")
        seen.setdefault(name, i)
    return out


def step_columns(steps: list[dict]) -> dict[str, set[str]]:
    """The table columns of each molecule step, known before anything runs (raw dicts of valid steps;
    a step whose input is unknown is left out)."""
    out: dict[str, set[str]] = {}
    for s in steps:
        name, kind, src = s.get("name"), s.get("type"), s.get("input")
        if kind == "generate":
            out[name] = set(GENERATE_COLUMNS)
        elif kind == "validate" and src in out:
            from molgen.validation import ValidationConfig
            from molgen.validation.runner import table_columns

            try:
                cols = table_columns(ValidationConfig(checks=s.get("checks")), s.get("protein") is not None)
            except MolgenError:  # an unknown check: reported by the step's own validation
                continue
            out[name] = out[src] | (set(cols) - {"index", "name"})
        elif kind == "filter" and src in out:
            out[name] = set(out[src])
        elif kind == "dock" and src in out:
            out[name] = out[src] | set(DOCK_COLUMNS)
        elif kind == "relax" and src in out:
            out[name] = out[src] | set(RELAX_COLUMNS)
    return out


def condition_names(where: str) -> list[str]:
    """The column names a filter condition reads (names that are not called as functions), in order."""
    try:
        tree = ast.parse(where.strip(), mode="eval")
    except SyntaxError:
        return []
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    seen: list[str] = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and id(n) not in called and n.id not in seen:
            seen.append(n.id)
    return seen


def _filter_problems(steps: list[dict]) -> list[str]:
    """Filter conditions that name a column their input step's table does not have."""
    cols = step_columns(steps)
    out = []
    for i, s in enumerate(steps):
        if s.get("type") != "filter" or not isinstance(s.get("where"), str) or s.get("input") not in cols:
            continue
        have = cols[s["input"]]
        for name in condition_names(s["where"]):
            if name not in have:
                out.append(f"{_step_label(i, s)}.where: unknown column {name!r}{_hint(name, sorted(have))} in the "
                           f"table of step {s['input']!r}")
    return out


def validate_workflow(raw: dict, base_dir: Path, check_files: bool = True, source: str | Path | None = None
                      ) -> Workflow:
    """Validate a raw (already overridden) workflow dict; relative paths resolve against ``base_dir``.

    Raises:
        MolgenError: every problem, each with its YAML path, in one line.
    """
    raw = copy.deepcopy(raw)
    _default_names(raw)
    problems: list[str] = []
    steps = raw.get("steps")
    if steps is None:
        problems.append("steps: missing (a list of steps)")
        steps = []
    elif not isinstance(steps, list) or not steps:
        problems.append("steps: must be a non-empty list of steps")
        steps = []
    try:  # top-level keys, steps checked one by one below
        Workflow.model_validate({**raw, "steps": []})
    except ValidationError as err:
        problems += _problems(err, "", Workflow)
    good_steps = []
    for i, s in enumerate(steps):
        label = _step_label(i, s)
        if not isinstance(s, dict):
            problems.append(f"{label}: a step must be a mapping with 'type'")
            continue
        kind = s.get("type")
        if kind is None:
            problems.append(f"{label}.type: missing (known: {', '.join(STEP_TYPES)})")
            continue
        if kind not in STEP_TYPES:
            problems.append(f"{label}.type: unknown step type {kind!r}{_hint(kind, STEP_TYPES)} "
                            f"(known: {', '.join(STEP_TYPES)})")
            continue
        for key in _PATH_KEYS.get(kind, ()):
            if key == "reference" and s.get(key) == "qm9":
                continue
            s[key] = _resolve(s.get(key), base_dir) if key in s else None
            if s[key] is None:
                s.pop(key)
        try:
            STEP_TYPES[kind].model_validate(s)
            good_steps.append(s)
        except ValidationError as err:
            problems += _problems(err, label, STEP_TYPES[kind])
    problems += _graph_problems([s for s in steps if isinstance(s, dict)])
    if not problems:
        problems += _filter_problems(good_steps)
    if isinstance(raw.get("out_dir"), str):
        raw["out_dir"] = _resolve(raw["out_dir"], base_dir)
    wf = None
    if not problems:
        try:
            wf = Workflow.model_validate({**raw, "steps": good_steps})
        except ValidationError as err:
            problems += _problems(err, "", Workflow)
    if check_files:
        problems += _file_problems([s for s in steps if isinstance(s, dict)])
    if problems:
        n = len(problems)
        raise MolgenError(f"invalid workflow ({n} problem{'s' * (n > 1)}): " + "; ".join(problems), source)
    return wf


def read_yaml(path: str | Path) -> dict:
    """The raw mapping of a YAML file.

    Raises:
        MolgenError: missing file, YAML syntax error, or not a mapping.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise MolgenError("workflow file not found", p)
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise MolgenError(f"invalid YAML{where}: {getattr(err, 'problem', err)}", p) from None
    if not isinstance(raw, dict):
        raise MolgenError("a workflow must be a mapping (name, seed, out_dir, steps, ...)", p)
    return raw


def load_workflow(path: str | Path, overrides: list[str] | None = None, out_dir: str | Path | None = None,
                  check_files: bool = True) -> Workflow:
    """Load, override and validate a workflow file.

    Args:
        path: the YAML file.
        overrides: dotted ``key=value`` strings (``steps.NAME.key=value`` for a step).
        out_dir: the run directory (replaces ``out_dir`` of the file; resolved against the working
            directory by the caller).
        check_files: also report files named by the steps that do not exist.

    Raises:
        MolgenError: the file cannot be read, or the list of every schema problem.
    """
    p = Path(path).expanduser()
    raw = read_yaml(p)
    apply_workflow_overrides(raw, overrides or [])
    if out_dir is not None:
        raw["out_dir"] = str(Path(out_dir).expanduser().resolve())
    return validate_workflow(raw, p.parent.resolve(), check_files=check_files, source=p)


def workflow_to_dict(wf: Workflow) -> dict:
    """Plain, YAML/JSON-safe dict of a resolved workflow (paths as absolute strings)."""
    return wf.model_dump(mode="json")
