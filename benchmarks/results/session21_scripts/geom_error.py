"""Coordinate and local-geometry error of a pocket model's clean prediction on training batches at fixed t.

The same 3 batches of configs/pocket_finetune_flow.yaml's training data (seed 0, same noise for every file) are
noised to t = 0.5, 0.7, 0.9, 0.97; printed per t: loss_pos (Å², mean squared coordinate error of x̂, per graph then
over graphs) and the local-geometry term (squared error of the predicted bond lengths and 1-3 distances, Å²,
molgen.processes.base.local_distance_loss). Issue 16, twenty-first session.

    PYTHONPATH=. python benchmarks/results/session21_scripts/geom_error.py CKPT
"""
import sys

import torch

from molgen.config import load_config
from molgen.processes.base import local_distance_loss
from molgen.processes.state import MolState
from molgen.training import load_model
from molgen.training.train import datamodule_from_config

torch.set_num_threads(1)
torch.manual_seed(0)
cfg = load_config("configs/pocket_finetune_flow.yaml")
dm = datamodule_from_config(cfg)  # seed 0 and num_workers 0, as the config says
dm.setup("fit")
gm = load_model(sys.argv[1])
proc, net = gm.process, gm.model.eval()
it = iter(dm.train_dataloader())
for tv in (0.5, 0.7, 0.9, 0.97):
    pos, geo = [], []
    for _ in range(3):
        clean = MolState.from_batch(next(it))
        t = torch.full((clean.num_graphs,), tv)
        noisy = proc.corrupt(clean, t)
        with torch.no_grad():
            out = net(proc.model_input(noisy, t))
        pos.append(float(proc.loss(out, clean, noisy, t)["loss_pos"]))
        geo.append(float(local_distance_loss(proc.project(out.pos, clean), clean, t >= 0.5)))
    print(f"t {tv}: loss_pos {sum(pos) / 3:.4f} A^2, local geometry {sum(geo) / 3:.4f} A^2", flush=True)
