"""A workflow run directory as Python objects: :func:`load_run` -> :class:`Run`.

Everything is read from what ``molgen run`` wrote (see :mod:`molgen.pipeline.rundir`); nothing is
recomputed. Tables and molecules are read on first use and kept.

Example::

    from molgen.analysis import load_run
    run = load_run("runs/quickstart")
    run.final                      # the final table (DataFrame, one row per molecule)
    run.metrics()                  # metrics.json of the last validate step
    run.step("dock").table         # any step's merged table
    run.molecules()["gen_000003"]  # RDKit molecules of final.sdf, by id
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import yaml
from rdkit import Chem, rdBase

from molgen.errors import MolgenError
from molgen.pipeline.rundir import MOLECULES, TABLE_STEM, read_json, read_table, table_path

log = logging.getLogger(__name__)


def read_molecules(path: str | Path) -> dict[str, Chem.Mol]:
    """The molecules of an SDF by title (the run's stable ids), hydrogens kept.

    Molecules RDKit cannot sanitize are kept unsanitized (generated molecules often are); records
    it cannot parse at all are left out.
    """
    out: dict[str, Chem.Mol] = {}
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return out
    with rdBase.BlockLogs():
        for mol in Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False):
            if mol is None:
                continue
            Chem.SanitizeMol(mol, catchErrors=True)
            out[mol.GetProp("_Name") if mol.HasProp("_Name") else str(len(out))] = mol
    return out


@dataclass
class Step:
    """One step of a run: its manifest entry, settings and outputs.

    Attributes:
        name: the step's name; type: ``generate``, ``validate``, ``filter``, ``dock`` or ``report``.
        dir: ``RUN/steps/NAME``.
        entry: the step's manifest entry (status, counts, seconds, outputs, ...).
        settings: the step's settings from the resolved ``workflow.yaml``.
    """

    name: str
    type: str
    dir: Path
    entry: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def status(self) -> str | None:
        return self.entry.get("status")

    @property
    def has_table(self) -> bool:
        return table_path(self.dir / TABLE_STEM) is not None

    @cached_property
    def table(self) -> pd.DataFrame:
        """The merged table (one row per molecule, ``id`` first).

        Raises:
            FileNotFoundError: the step has not written one (not run, failed, or a report step).
        """
        return read_table(self.dir / TABLE_STEM)

    @property
    def sdf(self) -> Path:
        return self.dir / MOLECULES

    @cached_property
    def metrics(self) -> dict:
        """validate: ``metrics.json``; dock: ``summary.json``; else ``{}``."""
        name = {"validate": "metrics.json", "dock": "summary.json"}.get(self.type)
        return (read_json(self.dir / name) or {}) if name else {}

    @cached_property
    def molecules(self) -> dict[str, Chem.Mol]:
        """The step's molecules by id (see :func:`read_molecules`)."""
        return read_molecules(self.sdf)

    @cached_property
    def features(self):
        """validate: the pooled distribution features of its molecules (a
        :class:`~molgen.validation.distributions.FeatureSet`: atom counts, bond lengths, angles,
        torsions), read from the chunks' ``features.json``; None for other steps."""
        if self.type != "validate":
            return None
        from molgen.validation.distributions import FeatureSet

        fs = FeatureSet()
        for path in sorted((self.dir / "chunks").glob("[0-9]*/features.json")):
            for f in read_json(path) or []:
                f = dict(f)
                f.pop("id", None)
                fs.add(f)
        return fs


class Run:
    """A workflow run directory (see :func:`load_run`).

    Attributes:
        root: the run directory.
        manifest: ``manifest.json``.
        workflow: the resolved ``workflow.yaml`` as a dict.
        steps: the steps by name, in workflow order.
    """

    def __init__(self, root: Path, manifest: dict, workflow: dict) -> None:
        self.root = root
        self.manifest = manifest
        self.workflow = workflow
        settings = {s.get("name", s.get("type")): s for s in workflow.get("steps", [])}
        entries = manifest.get("steps") or {}
        names = list(settings) or list(entries)
        self.steps: dict[str, Step] = {}
        for name in names:
            entry, conf = entries.get(name) or {}, settings.get(name) or {}
            kind = conf.get("type") or entry.get("type") or "unknown"
            self.steps[name] = Step(name, kind, root / "steps" / name, entry, conf)
        self._reference: dict = {}
        self._training_stats: dict = {}
        self._final_molecules: dict[str, Chem.Mol] | None = None

    def __repr__(self) -> str:
        return f"Run({str(self.root)!r}, status={self.status!r}, steps={list(self.steps)})"

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.workflow.get("name") or self.root.name

    @property
    def status(self) -> str | None:
        return self.manifest.get("status")

    def steps_of(self, kind: str) -> list[Step]:
        """The steps of one type, in workflow order."""
        return [s for s in self.steps.values() if s.type == kind]

    def step(self, name: str | None = None, kind: str | None = None) -> Step:
        """A step by name, or the last step of type ``kind``.

        Raises:
            MolgenError: no such step.
        """
        if name is not None:
            if name not in self.steps:
                raise MolgenError(f"run {self.name!r} has no step {name!r} (steps: {', '.join(self.steps)})")
            return self.steps[name]
        found = self.steps_of(kind) if kind else [s for s in self.steps.values() if s.type != "report"]
        if not found:
            raise MolgenError(f"run {self.name!r} has no {kind or 'molecule'} step")
        return found[-1]

    # ----------------------------------------------------------------------------- final outputs
    @cached_property
    def final(self) -> pd.DataFrame:
        """The final table (``final.parquet`` or ``final.csv``); empty when the run wrote none."""
        for name in ("final.parquet", "final.csv"):
            p = self.root / name
            if p.is_file():
                return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
        return pd.DataFrame()

    def table(self, step: str | None = None) -> pd.DataFrame:
        """A step's table, or the final table (default)."""
        return self.final if step is None else self.step(step).table

    def molecules(self, step: str | None = None) -> dict[str, Chem.Mol]:
        """Molecules by id of a step, or of ``final.sdf`` (default)."""
        if step is not None:
            return self.step(step).molecules
        if self._final_molecules is None:
            self._final_molecules = read_molecules(self.root / "final.sdf")
        return self._final_molecules

    def metrics(self, step: str | None = None) -> dict:
        """``metrics.json`` of a validate step (default: the last one); ``{}`` if there is none."""
        try:
            s = self.step(step, "validate")
        except MolgenError:
            return {}
        return s.metrics

    def docking(self, step: str | None = None) -> dict:
        """``summary.json`` of a dock step (default: the last one); ``{}`` if there is none."""
        try:
            s = self.step(step, "dock")
        except MolgenError:
            return {}
        return s.metrics

    # -------------------------------------------------------------------------------- reference
    def reference(self, step: str | None = None, max_molecules: int = 1000):
        """The reference set named by a validate step's ``reference`` (default: the last validate
        step), as a :class:`~molgen.analysis.reference.ReferenceSet`; None when it names none or
        the file is gone (logged). Loaded once."""
        try:
            s = self.step(step, "validate")
        except MolgenError:
            return None
        spec = s.settings.get("reference")
        if not spec:
            return None
        key = (s.name, max_molecules)
        if key not in self._reference:
            from molgen.analysis.reference import load_reference_set

            try:
                self._reference[key] = load_reference_set(spec, s.settings.get("qm9_dir"), max_molecules)
            except MolgenError as err:
                log.warning("reference of step %s not loaded: %s", s.name, err)
                self._reference[key] = None
        return self._reference[key]

    def upstream(self, name: str | None, kind: str) -> Step | None:
        """The nearest step of type ``kind`` at or before step ``name`` along the ``input`` chain
        (default: the last molecule step), else the last step of that type; None when there is none."""
        seen = set()
        cur = name or (self.step().name if any(s.type != "report" for s in self.steps.values()) else None)
        while cur is not None and cur in self.steps and cur not in seen:
            seen.add(cur)
            s = self.steps[cur]
            if s.type == kind:
                return s
            cur = s.settings.get("input")
        found = self.steps_of(kind)
        return found[-1] if found else None

    def training_stats(self, step: str | None = None):
        """The training statistics of the checkpoint of the generate step upstream of ``step``
        (default: of the last molecule step), as a
        :class:`~molgen.analysis.reference.TrainingStats`; None when there is no generate step with
        a checkpoint or it cannot be read (logged). Loaded once."""
        gen = self.upstream(step, "generate")
        ckpt = gen.settings.get("checkpoint") if gen is not None else None
        if not ckpt:
            return None
        if ckpt not in self._training_stats:
            from molgen.analysis.reference import load_training_stats

            try:
                self._training_stats[ckpt] = load_training_stats(ckpt)
            except MolgenError as err:
                log.warning("training statistics of step %s not loaded: %s", gen.name, err)
                self._training_stats[ckpt] = None
        return self._training_stats[ckpt]

    def report_input(self) -> str | None:
        """The molecule step the report is about (the report step's ``input``; default: the last one)."""
        for s in self.steps_of("report"):
            if s.settings.get("input"):
                return s.settings["input"]
        return None


def load_run(run_dir: str | Path) -> Run:
    """Load a workflow run directory (``molgen run ... --out RUN_DIR``).

    Raises:
        MolgenError: the folder holds neither ``manifest.json`` nor ``workflow.yaml``.
    """
    root = Path(run_dir).expanduser().resolve()
    manifest = read_json(root / "manifest.json")
    wf_path = root / "workflow.yaml"
    workflow = yaml.safe_load(wf_path.read_text()) if wf_path.is_file() else None
    if manifest is None and workflow is None:
        raise MolgenError("not a run directory (no manifest.json or workflow.yaml)", root)
    return Run(root, manifest or {}, workflow or {})
