"""Forward of the shipped pocket model on 100 prior ligands (33 atoms) in the first held-out FEP pocket at t=0.5:
bond head on all pairs (old) vs ligand pairs only (new), and the input split in chunks; alternated."""
import json
import sys
import time
from pathlib import Path

import torch

from benchmarks.pocket import _site_ligands, held_out_fep_sites
from molgen.models.egnn import EGNN
from molgen.processes.state import MolState
from molgen.sampling.conditioning import load_pocket
from molgen.training import load_model

torch.set_num_threads(int(sys.argv[1]))
gm = load_model(Path("data/checkpoints/pocket_flow.ckpt"))
by_site = held_out_fep_sites(Path("runs/data/complexes_all/split"))
first = by_site[next(iter(by_site))]
pocket = load_pocket(first[0]["protein"], ref_ligand=_site_ligands(first, 1)[0], vocab=gm.vocab)
new = EGNN.bond_logits
def old(self, h, x, e, pairs, pocket):
    return new(self, h, x, e, pairs, None)

def inp_for(num, size=33):
    template = MolState.template([size] * num, gm.vocab.num_types, gm.vocab.num_charges, context=pocket.context)
    state = gm.process.corrupt(gm.process.prior(template, torch.Generator().manual_seed(0)),
                               torch.full((num,), 0.5), torch.Generator().manual_seed(1))
    return gm.process.model_input(state, torch.full((num,), 0.5))

full = inp_for(100)
chunks = {c: [inp_for(c)] * (100 // c) for c in (50, 20, 10, 5)}
model = gm.model.eval()
ei = full.edge_index
keep = model.edge_mask(full)
pk = full.node_attr[:, 0] > 0.5
kept = ei[:, keep]
print("kept directed edges", int(keep.sum()), "touching pocket", int((pk[kept[0]] | pk[kept[1]]).sum()))
variants = {"old_bond_head_b100": (old, [full]), "new_b100": (new, [full])} | {
    f"new_b{c}": (new, v) for c, v in chunks.items()}
times = {k: [] for k in variants}
with torch.no_grad():
    EGNN.bond_logits = new
    ref = model(full).bond_logits
    EGNN.bond_logits = old
    o = model(full)
    sub_pairs = full.edge_index
    lig = ~(pk[sub_pairs[0]] | pk[sub_pairs[1]])
    print("max |diff| bond logits on ligand pairs", float((o.bond_logits - ref)[lig].abs().max()),
          "new on pocket pairs", float(ref[~lig].abs().max()))
    for rep in range(int(sys.argv[2])):
        for name, (fn, inps) in variants.items():
            EGNN.bond_logits = fn
            t0 = time.perf_counter()
            for i in inps:
                model(i)
            times[name].append(round(time.perf_counter() - t0, 3))
        print(rep, {k: v[-1] for k, v in times.items()}, flush=True)
print(json.dumps(times))
