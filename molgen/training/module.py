"""The LightningModule: one denoiser, one generative process, EMA weights for sampling.

A training step: molecule graphs -> clean MolState -> t ~ process.sample_time -> noisy state ->
(optional self-conditioning pass) -> denoiser -> process.loss. The module knows nothing of
schedules; the process does.
"""

from __future__ import annotations

import logging
import math

import lightning as L
import torch
from torch.optim.swa_utils import AveragedModel

from molgen.chem.vocab import NUM_BOND_TYPES, Vocab
from molgen.models.base import build_model
from molgen.processes import build_process
from molgen.processes.state import MolState

log = logging.getLogger(__name__)


def build_components(cfg: dict, vocab: Vocab) -> tuple[torch.nn.Module, object]:
    """Denoiser and process from a resolved config dict (``model`` and ``process`` sections)."""
    mkw = {k: v for k, v in cfg["model"].items() if k != "name"}
    mkw.setdefault("self_condition", bool(cfg.get("train", {}).get("self_condition", False)))
    pkw = {k: v for k, v in cfg["process"].items() if k != "name"}
    # pocket models (data.context: pocket): pocket features per atom and a ligand–pocket radius graph
    pocket = cfg.get("data", {}).get("context", "none") == "pocket"
    pocket_radius = mkw.pop("pocket_radius", None)
    if pocket:
        from molgen.data.transforms import POCKET_NODE_ATTR_DIM

        mkw.setdefault("node_attr_dim", POCKET_NODE_ATTR_DIM)
    model = build_model(
        cfg["model"]["name"], num_types=vocab.num_types, num_charges=vocab.num_charges,
        num_bond_types=NUM_BOND_TYPES, **mkw,
    )
    if pocket:
        from molgen.sampling.conditioning import PocketRadiusDenoiser

        model = PocketRadiusDenoiser(model, pocket_radius)
    if pkw.get("valence", "off") not in ("off", False):  # YAML 1.1 reads ``off`` as false; the process maps it
        from molgen.processes.valence import valence_caps

        pkw["valence_caps"] = valence_caps(vocab.elements, vocab.charges)
        pkw["kekule"] = not vocab.explicit_hydrogens  # heavy-atom graphs are Kekulé (molgen.chem.convert)
    process = build_process(cfg["process"]["name"], num_types=vocab.num_types, num_charges=vocab.num_charges, **pkw)
    return model, process


def ema_with_warmup(decay: float):
    """EMA update with the usual warm-up: the effective decay is min(decay, (1 + n) / (10 + n)) after
    n updates, so early (random) weights are forgotten quickly and short runs still get useful EMA
    weights; the plain 0.999 EMA would keep ~37 % of the weights of the first 1,000 steps."""

    @torch.no_grad()
    def update(ema_params: list, params: list, num_averaged) -> None:
        n = float(num_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        torch._foreach_lerp_(ema_params, params, 1.0 - d)

    return update


class MolgenModule(L.LightningModule):
    """Trains a denoiser under a generative process.

    Args:
        config: the resolved run config as a plain dict (stored in checkpoints).
        stats: dataset statistics (stats.json of the training split; stored in checkpoints).
        vocab: vocabulary as a dict (``Vocab.to_dict()``).
    """

    def __init__(self, config: dict, stats: dict, vocab: dict) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config, self.stats = config, stats
        self.vocab = Vocab.from_dict(vocab)
        self.model, self.process = build_components(config, self.vocab)
        decay = config["optim"].get("ema_decay")
        self.ema = (
            AveragedModel(self.model, multi_avg_fn=ema_with_warmup(decay), use_buffers=True)
            if decay else None
        )
        if self.ema is not None:
            self.ema.requires_grad_(False)  # averaged, never trained (DDP would flag them as unused)
        self.self_condition = bool(config["train"].get("self_condition", False))

    # --- training -------------------------------------------------------------------------------
    def _generator(self, stream: int) -> torch.Generator:
        """Noise for one step, seeded by (seed, step, rank, stream): a resumed run draws the same noise
        as an uninterrupted one, so resuming reproduces training exactly."""
        seed = int(self.config.get("seed", 0))
        key = ((seed * 1_000_003 + self.global_step) * 1009 + self.global_rank) * 7 + stream
        return torch.Generator(device=self.device).manual_seed(key % (2**63 - 1))

    def _losses(self, batch, model: torch.nn.Module, stream: int = 0) -> dict[str, torch.Tensor]:
        gen = self._generator(stream)
        clean = MolState.from_batch(batch)
        t = self.process.sample_time(clean.num_graphs, clean.pos.device, generator=gen)
        noisy = self.process.corrupt(clean, t, generator=gen)
        self_cond = None
        coin = torch.rand((), generator=gen, device=gen.device)
        if self.self_condition and coin < 0.5:
            with torch.no_grad():
                self_cond = model(self.process.model_input(noisy, t)).detach()
        out = model(self.process.model_input(noisy, t, self_cond))
        return self.process.loss(out, clean, noisy, t)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        losses = self._losses(batch, self.model)
        bs = int(batch.num_graphs)
        for k, v in losses.items():
            self.log(f"train/{k}", v, batch_size=bs, prog_bar=(k == "loss"), sync_dist=False)
        if not torch.isfinite(losses["loss"]):
            raise FloatingPointError(f"non-finite training loss at step {self.global_step}")
        return losses["loss"]

    def optimizer_step(self, *args, **kwargs) -> None:
        # EMA right after the weights change, before any batch-end callback saves a checkpoint
        super().optimizer_step(*args, **kwargs)
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def validation_step(self, batch, batch_idx: int) -> None:
        net = self.ema.module if self.ema is not None else self.model
        losses = self._losses(batch, net, stream=1 + batch_idx)
        bs = int(batch.num_graphs)
        for k, v in losses.items():
            self.log(f"val/{k}", v, batch_size=bs, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        tcfg = self.config["train"]
        n = int(tcfg.get("val_num_samples", 0))
        every = int(tcfg.get("sample_every_n_epochs", 1))
        if n <= 0 or self.trainer.sanity_checking or (self.current_epoch + 1) % every:
            return
        from molgen.sampling.generate import generate_graphs
        from molgen.training.metrics import quick_metrics

        graphs = generate_graphs(
            self.sampling_model(), self.process, self.vocab, self.stats, num=n,
            steps=int(tcfg.get("val_sample_steps", 20)), batch_size=n, seed=1234 + self.current_epoch,
            self_condition=self.self_condition, device=self.device,
        )
        for k, v in quick_metrics(graphs, self.vocab).items():
            self.log(f"val/sample_{k}", v, batch_size=n, rank_zero_only=True)

    def sampling_model(self) -> torch.nn.Module:
        """The weights used for sampling: EMA when enabled."""
        return self.ema.module if self.ema is not None else self.model

    # --- optimisation ---------------------------------------------------------------------------
    def configure_optimizers(self):
        o = self.config["optim"]
        opt = torch.optim.AdamW(self.model.parameters(), lr=o["lr"], weight_decay=o["weight_decay"], amsgrad=True)
        warmup = int(o.get("warmup_steps", 0))
        total = o.get("decay_steps")  # fixed when the run started (train.train), kept on resume
        if not total:
            total = self.trainer.estimated_stepping_batches if self.trainer is not None else 0
            total = int(total) if total and math.isfinite(total) else 0
        floor = float(o.get("min_lr_ratio", 0.05))
        schedule = o.get("schedule", "cosine")
        cosine = schedule == "cosine" and total > warmup
        start = int(o.get("decay_start") or 0)

        def factor(step: int) -> float:
            if warmup and step < warmup:
                return (step + 1) / warmup
            if schedule == "cooldown":  # constant, then 1 - sqrt(fraction) down to the floor
                frac = min(1.0, max(0.0, (step - start) / total))
                return floor + (1 - floor) * (1 - math.sqrt(frac))
            if not cosine:
                return 1.0
            frac = min(1.0, (step - warmup) / max(1, total - warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
