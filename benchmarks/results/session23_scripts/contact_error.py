"""Coordinate, local-geometry and contact error of a pocket model's clean prediction on training batches.

The same batches of configs/pocket_finetune_flow.yaml's training data (seed 0, same noise for every file)
are noised to t = 0.5, 0.7, 0.9, 0.97; printed per t: loss_pos (Å², all graphs of the batches) and, over the
graphs that hold a pocket, the local-geometry term (molgen.processes.base.local_distance_loss) and the contact term
(molgen.processes.base.contact_loss: free ligand atoms closer to a pocket atom than min(data distance,
3 Å), squared, per free atom), and the fraction of free ligand atoms of those graphs whose prediction
lies > 0.5 Å closer to some pocket atom than that floor. Issue 16, twenty-third session.

    PYTHONPATH=. python benchmarks/results/session23_scripts/contact_error.py CKPT [BATCHES] [DATA]

DATA (optional): a prepared complexes folder in place of the config's training set, e.g. the held-out
complexes (``molgen data prepare complexes runs/data/complexes_all/split/test.csv --vocab drug_heavy
--cutoff 6 --out runs/data/complexes_all/test``); the MOSES ligands are then left out.
"""
import sys

import torch

from molgen.config import load_config
from molgen.processes.base import CONTACT_DISTANCE, contact_loss, free_context_pairs, local_distance_loss
from molgen.processes.state import MolState
from molgen.training import load_model
from molgen.training.train import datamodule_from_config

torch.set_num_threads(1)
torch.manual_seed(0)
n_batches = int(sys.argv[2]) if len(sys.argv) > 2 else 6
extra = [f"data.train={sys.argv[3]}", "data.extra_train=[]", "data.train_repeat=1"] if len(sys.argv) > 3 else []
cfg = load_config("configs/pocket_finetune_flow.yaml", extra)
dm = datamodule_from_config(cfg)
dm.setup("fit")
gm = load_model(sys.argv[1])
proc, net = gm.process, gm.model.eval()
batches = []
for b in dm.train_dataloader():
    if bool(b.context.any()):
        batches.append(b)
    if len(batches) == n_batches:
        break
for tv in (0.5, 0.7, 0.9, 0.97):
    pos, geo, con, bad, free_n = [], [], [], 0, 0
    g = torch.Generator().manual_seed(1)
    for b in batches:
        clean = MolState.from_batch(b)
        t = torch.full((clean.num_graphs,), tv)
        noisy = proc.corrupt(clean, t, g)
        with torch.no_grad():
            out = net(proc.model_input(noisy, t))
        x_hat = proc.project(out.pos, clean)
        pocket_graphs = torch.bincount(clean.batch[clean.context], minlength=clean.num_graphs) > 0
        pos.append(float(proc.loss(out, clean, noisy, t)["loss_pos"]))
        geo.append(float(local_distance_loss(x_hat, clean, pocket_graphs)))
        con.append(float(contact_loss(x_hat, clean, pocket_graphs)))
        i, j = free_context_pairs(clean)
        floor = (clean.pos[i] - clean.pos[j]).norm(dim=-1).clamp(max=CONTACT_DISTANCE)
        d_hat = (x_hat[i] - clean.pos[j]).norm(dim=-1)
        atoms = torch.zeros(clean.pos.shape[0], dtype=torch.bool)
        atoms[i[d_hat < floor - 0.5]] = True
        bad += int(atoms.sum())
        free_n += int((~clean.fixed & pocket_graphs[clean.batch]).sum())
    k = len(batches)
    print(f"t {tv}: loss_pos {sum(pos) / k:.4f} A^2, local geometry {sum(geo) / k:.4f} A^2, "
          f"contact {sum(con) / k:.4f} A^2, atoms > 0.5 A inside the floor {bad}/{free_n} = {bad / free_n:.3f}",
          flush=True)
