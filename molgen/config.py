"""Training configuration: one pydantic schema, YAML loading, dotted ``key=value`` overrides.

Relative paths in a config file are resolved against the file's own folder, never the working
directory. Errors name the file and every problem with its dotted path, on one line.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from molgen.errors import MolgenError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class _Named(BaseModel):
    """A registry pick (``name``) plus the component's own keyword arguments."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())
    name: str

    def kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DataConfig(_Strict):
    """Where the prepared (cached) datasets are and how batches are formed.

    ``batch_size`` is graphs per device per step; the global batch is
    ``batch_size × devices × num_nodes × accumulate_grad_batches``. ``max_atoms`` caps the atoms of
    one batch (size-bucketed batches); None keeps a fixed graph count.
    """

    train: Path
    val: Path | None = None
    test: Path | None = None
    vocab: Literal["qm9", "qm9_heavy", "drug", "drug_heavy"] = "qm9"
    batch_size: int = Field(64, ge=1)
    max_atoms: int | None = Field(None, ge=1)
    num_workers: int = Field(0, ge=0)
    limit_train: int | None = Field(None, ge=1, description="use only the first N training graphs")
    limit_val: int | None = Field(None, ge=1)
    context: Literal["none", "pocket"] = "none"
    extra_train: list[Path] = Field(
        default_factory=list,
        description="more prepared caches mixed into training (same vocabulary; for a pocket model, "
        "ligands without a pocket: they teach chemistry beside the complexes)",
    )
    train_repeat: int = Field(1, ge=1, description="times an epoch lists the `train` graphs (their weight "
                              "against extra_train)")


class ModelConfig(_Named):
    name: str = "egnn"


class ProcessConfig(_Named):
    name: str = "flow"


class OptimConfig(_Strict):
    """AdamW with a linear warm-up, then a constant LR or a cosine decay to ``min_lr_ratio × lr``.

    The cosine runs over ``decay_steps``. Left empty, it is fixed once, when a run starts, to that
    run's ``train.max_steps`` and written into the run's config.yaml, so that a resumed run keeps its
    schedule whatever new ``max_steps`` it is given (past ``decay_steps`` the LR stays at the floor).
    A run meant to go on for as long as it improves takes ``constant`` (SemlaFlow: warm-up, then
    constant, with EMA weights for sampling). ``cooldown`` is warm-up, constant up to ``decay_start``,
    then a decay to the floor over ``decay_steps`` shaped 1 − √(fraction) (the warmup-stable-decay
    schedule; Hägele et al. 2024 found this shape the best cooldown, matching a cosine of the same
    length): a constant run is forked at any step and cooled for export while the main run goes on.
    """

    lr: float = Field(5e-4, gt=0)
    weight_decay: float = Field(1e-12, ge=0)
    warmup_steps: int = Field(500, ge=0)
    schedule: Literal["constant", "cosine", "cooldown"] = "cosine"
    decay_steps: int | None = Field(None, ge=1, description="cosine horizon in steps (default: the "
                                    "first max_steps of the run); cooldown: its length")
    decay_start: int | None = Field(None, ge=0, description="cooldown: the step its decay starts at")
    min_lr_ratio: float = Field(0.05, ge=0, le=1)
    grad_clip: float | None = Field(1.0, gt=0)
    ema_decay: float | None = Field(0.999, gt=0, lt=1)

    @model_validator(mode="after")
    def _cooldown_is_placed(self) -> OptimConfig:
        if self.schedule == "cooldown" and (self.decay_start is None or self.decay_steps is None):
            raise ValueError("schedule 'cooldown' needs optim.decay_start and optim.decay_steps")
        return self


class TrainConfig(_Strict):
    max_steps: int = Field(-1, ge=-1)
    max_epochs: int | None = Field(None, ge=1)
    max_time_s: float | None = Field(None, gt=0, description="stop after this many seconds of wall time "
                                     "(Lightning's max_time; the model is exported as at any end)")
    self_condition: bool = False
    compile: bool = False
    val_every_n_epochs: int = Field(1, ge=1)
    sample_every_n_epochs: int = Field(1, ge=1)
    val_num_samples: int = Field(64, ge=0)
    val_sample_steps: int = Field(20, ge=1)
    checkpoint_every_n_steps: int | None = Field(200, ge=1)
    init_from: Path | None = Field(None, description="a trained model file whose weights a new run starts "
                                   "from (molgen.training.warm_start; a pocket model from an unconditional prior)")


class TrainerConfig(_Strict):
    """Passed to ``lightning.Trainer``: devices per node, nodes, strategy (``auto``, ``ddp``...)."""

    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = Field(1, ge=1)
    strategy: str = "auto"
    precision: str = "32-true"
    accumulate_grad_batches: int = Field(1, ge=1)
    log_every_n_steps: int = Field(20, ge=1)
    logger: Literal["csv", "tensorboard", "both"] = "csv"
    cpu_threads: int | None = Field(None, ge=1, description="torch CPU threads of the training process "
                                    "(default: torch's, one per core); give as many as there are free cores")


class Config(_Strict):
    """A whole training run."""

    name: str = "run"
    seed: int = 0
    out_dir: Path = Path("runs/run")
    data: DataConfig
    model: ModelConfig = ModelConfig()
    process: ProcessConfig = ProcessConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    trainer: TrainerConfig = TrainerConfig()

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: ModelConfig) -> ModelConfig:
        from molgen.models.base import MODELS, build_model  # noqa: F401  (import registers)
        import molgen.models  # noqa: F401

        _check_name("model", v.name, MODELS)
        return v

    @field_validator("process")
    @classmethod
    def _known_process(cls, v: ProcessConfig) -> ProcessConfig:
        from molgen.processes import PROCESSES

        _check_name("process", v.name, PROCESSES)
        return v


def _check_name(kind: str, name: str, registry: dict) -> None:
    if name not in registry:
        hint = difflib.get_close_matches(name, list(registry), n=1)
        more = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ValueError(f"unknown {kind} {name!r}{more}; known: {', '.join(sorted(registry))}")


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], YAML-parsed value)."""
    if "=" not in item:
        raise MolgenError(f"override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise MolgenError(f"override {item!r} has an empty key")
    return key.split("."), yaml.safe_load(raw) if raw != "" else ""


def parse_options(items) -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` -> ``{"a": 1, "b.c": "x"}``: ``key=value`` settings (sampler ``--option``,
    ``--guidance-option``), values parsed as YAML scalars, dotted keys kept as one string; later wins."""
    return {".".join(keys): value for keys, value in (parse_override(item) for item in items or [])}


def set_dotted(node: dict, keys: list[str], value, item: str) -> None:
    """Set ``node[k0][k1]...[kn] = value``, creating sections; ``item`` names the override in errors."""
    for k in keys[:-1]:
        nxt = node.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise MolgenError(f"override {item!r}: {k!r} is not a section")
        node = nxt
    node[keys[-1]] = value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply dotted overrides to a raw config dict (in place, and returned)."""
    for item in overrides:
        keys, value = parse_override(item)
        set_dotted(raw, keys, value, item)
    return raw


def _resolve_paths(cfg: Config, base: Path) -> Config:
    def fix(p: Path | None) -> Path | None:
        if p is None:
            return None
        p = Path(p).expanduser()
        return p if p.is_absolute() else (base / p).resolve()

    cfg.data.train = fix(cfg.data.train)
    cfg.data.val = fix(cfg.data.val)
    cfg.data.test = fix(cfg.data.test)
    cfg.data.extra_train = [fix(p) for p in cfg.data.extra_train]
    cfg.out_dir = fix(cfg.out_dir)
    cfg.train.init_from = fix(cfg.train.init_from)
    return cfg


def format_validation_error(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def load_config(path: str | Path, overrides: list[str] | None = None, base_dir: Path | None = None) -> Config:
    """Load, override and validate a training config.

    Args:
        path: YAML file.
        overrides: dotted ``key=value`` strings applied before validation.
        base_dir: folder that relative paths are resolved against (default: the YAML's folder).

    Raises:
        MolgenError: missing file, YAML syntax error, or schema violations (all listed, one line).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise MolgenError("config file not found", p)
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise MolgenError(f"invalid YAML{where}: {getattr(err, 'problem', err)}", p) from None
    if not isinstance(raw, dict):
        raise MolgenError("config must be a mapping of sections", p)
    apply_overrides(raw, overrides or [])
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as err:
        raise MolgenError(f"invalid config: {format_validation_error(err)}", p) from None
    return _resolve_paths(cfg, (base_dir or p.parent).resolve())


def config_to_dict(cfg: Config) -> dict:
    """Plain, YAML/JSON-safe dict of a resolved config (paths as strings)."""
    return cfg.model_dump(mode="json")
