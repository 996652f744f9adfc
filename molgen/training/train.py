"""``train()``: build the run directory, the data, the module and the Lightning Trainer, then fit.

Run directory (``cfg.out_dir``)::

    config.yaml            the resolved config (what ran)
    checkpoints/last.ckpt  every ``train.checkpoint_every_n_steps`` steps and at the end
    checkpoints/best.ckpt  lowest val/loss
    model.ckpt             exported EMA weights + config + stats (molgen.load_model)
    init_from.json         with ``train.init_from``: what the new run's weights were started from
    logs/                  CSV (and TensorBoard when installed) logs

Resume (``resume=True``): the run continues from ``checkpoints/last.ckpt`` with the same global
step, optimiser, LR schedule (a cosine's horizon is ``optim.decay_steps``, fixed when the run started,
so a larger ``train.max_steps`` on resume does not restart it), EMA and data order (the batch sampler skips the batches of the
current epoch that the killed run had already trained on). Under SLURM, Lightning's SLURM plugin
requeues a job that receives SIGUSR1 before its time limit (``#SBATCH --signal=SIGUSR1@90``), saving
an ``hpc_ckpt_*.ckpt`` in the run directory that the requeued job resumes from.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from molgen.config import Config, config_to_dict
from molgen.data.datamodule import MoleculeDataModule
from molgen.errors import MolgenError
from molgen.training.checkpoint import export_model
from molgen.training.module import MolgenModule

log = logging.getLogger(__name__)


class ResumeDataOrder(Callback):
    """On a mid-epoch resume, make the batch sampler skip what the killed run had already seen.

    The count comes from the checkpoint's global step and epoch (Lightning's own batch counters are
    off by one for checkpoints saved in ``on_train_batch_end``); it is set before the first batch
    of the resumed epoch is drawn.
    """

    def __init__(self, dm: MoleculeDataModule, accumulate: int = 1) -> None:
        self.dm, self.accumulate = dm, accumulate

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        per_epoch = max(1, len(self.dm.train_sampler))
        done = int(checkpoint.get("global_step", 0)) * self.accumulate - int(checkpoint.get("epoch", 0)) * per_epoch
        if 0 < done < per_epoch:
            self.dm.train_sampler.skip = done
            log.info("resuming mid-epoch: skipping the %d batches already trained on", done)


class ExportOnEnd(Callback):
    """Export the EMA weights to ``RUN/model.ckpt`` when fitting ends."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            export_model(pl_module, self.path, meta={"global_step": trainer.global_step, "epoch": trainer.current_epoch})


def _loggers(cfg: Config, run: Path) -> list:
    loggers = []
    if cfg.trainer.logger in ("csv", "both"):
        loggers.append(CSVLogger(run, name="logs", version=""))
    if cfg.trainer.logger in ("tensorboard", "both"):
        try:
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(run, name="tensorboard", version=""))
        except ModuleNotFoundError:
            log.warning("tensorboard is not installed; logging to CSV only")
            if not loggers:
                loggers.append(CSVLogger(run, name="logs", version=""))
    return loggers


def datamodule_from_config(cfg: Config) -> MoleculeDataModule:
    """The training data of a config, batched as ``train`` batches it (pocket configs get the transforms that
    turn complexes into ligand + pocket-context graphs); benchmarks use it to score a model on training batches.

    Raises:
        MolgenError: the prepared data's vocabulary is not ``data.vocab``.
    """
    d = cfg.data
    transforms = (None, None)
    if d.context == "pocket":  # complexes -> ligand + pocket-context graphs
        from molgen.chem.vocab import get_vocab
        from molgen.data.transforms import pocket_transforms

        transforms = pocket_transforms(get_vocab(d.vocab), cfg.seed)
    dm = MoleculeDataModule(d.train, d.val, d.batch_size, d.max_atoms, d.num_workers, cfg.seed,
                            d.limit_train, d.limit_val, *transforms, extra_train=d.extra_train,
                            train_repeat=d.train_repeat)
    if dm.vocab.name != d.vocab:
        raise MolgenError(f"data.vocab is {d.vocab!r} but the prepared data uses {dm.vocab.name!r}", d.train)
    return dm


def train(cfg: Config, resume: bool = False, extra_callbacks: list | None = None) -> Path:
    """Train a model as configured; returns the run directory.

    Args:
        cfg: validated config (``molgen.config.load_config``).
        resume: continue from ``cfg.out_dir/checkpoints/last.ckpt``.
        extra_callbacks: more Lightning callbacks (tests use this to stop or record).
    """
    run = Path(cfg.out_dir)
    ckpt_dir = run / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if resume and not last.is_file():
        raise MolgenError("nothing to resume: no checkpoints/last.ckpt", run)
    d = cfg.data
    for p in (d.train, d.val, *d.extra_train):  # checked before the run directory is touched
        if p is not None and not (Path(p) / "index.json").is_file():
            raise MolgenError("not a prepared dataset (run `molgen data prepare` first)", p)
    if not resume and cfg.optim.schedule == "cosine" and cfg.optim.decay_steps is None and cfg.train.max_steps > 0:
        # the LR schedule is decided once per run: a resume with a new max_steps keeps this horizon
        cfg.optim.decay_steps = cfg.train.max_steps
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.trainer.cpu_threads:
        torch.set_num_threads(cfg.trainer.cpu_threads)

    dm = datamodule_from_config(cfg)
    try:  # the model and process check their own settings (e.g. an unknown loss weight)
        module = MolgenModule(config_to_dict(cfg), dm.stats, dm.vocab.to_dict())
    except ValueError as err:
        raise MolgenError(f"bad model or process setting: {err}") from None
    info = None
    if cfg.train.init_from is not None and not resume:  # a resumed run has its own weights
        from molgen.training.warm_start import warm_start

        info = warm_start(module.model, cfg.train.init_from, module.ema)

    run.mkdir(parents=True, exist_ok=True)  # every input checked: now the run directory
    old_log = run / "logs" / "metrics.csv"
    if resume and old_log.is_file():  # Lightning's CSV logger would overwrite the earlier segment
        k = len(list(old_log.parent.glob("metrics.resumed-*.csv")))
        old_log.rename(old_log.with_name(f"metrics.resumed-{k}.csv"))
    (run / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    if info is not None:
        (run / "init_from.json").write_text(json.dumps(info, indent=2) + "\n")
    if cfg.train.compile:
        module.model = torch.compile(module.model)

    callbacks = [
        # no version counter: a resumed run (also one copied to another folder) overwrites last.ckpt,
        # which is what `--resume` reads; Lightning would otherwise write last-v1.ckpt beside a stale one
        ModelCheckpoint(dirpath=ckpt_dir, filename="step{step}", save_last=True, save_top_k=0,
                        every_n_train_steps=cfg.train.checkpoint_every_n_steps, auto_insert_metric_name=False,
                        enable_version_counter=False),
        ResumeDataOrder(dm, cfg.trainer.accumulate_grad_batches),
        ExportOnEnd(run / "model.ckpt"),
        LearningRateMonitor(logging_interval="step"),
    ]
    if d.val is not None:
        callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/loss", mode="min",
                                         save_top_k=1, auto_insert_metric_name=False))
    t = cfg.trainer
    trainer = L.Trainer(
        default_root_dir=run,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=t.precision,
        accumulate_grad_batches=t.accumulate_grad_batches,
        gradient_clip_val=cfg.optim.grad_clip,
        max_steps=cfg.train.max_steps,
        max_time=timedelta(seconds=cfg.train.max_time_s) if cfg.train.max_time_s else None,
        max_epochs=cfg.train.max_epochs if cfg.train.max_epochs else (-1 if cfg.train.max_steps > 0 else None),
        check_val_every_n_epoch=cfg.train.val_every_n_epochs,
        log_every_n_steps=t.log_every_n_steps,
        logger=_loggers(cfg, run),
        callbacks=callbacks + list(extra_callbacks or []),
        use_distributed_sampler=False,  # our batch sampler shards across ranks itself
        enable_progress_bar=True,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=False,
    )
    trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resume else None, weights_only=True)
    return run
