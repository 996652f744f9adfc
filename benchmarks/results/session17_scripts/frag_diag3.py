"""Fragment growing in the 1S3V pocket with the free atoms' prior centred on the fragment instead of the pocket."""
import sys
from pathlib import Path

import torch

from molgen.processes import state as st
from molgen.sampling.conditioning import (
    fragment_from_smarts,
    generate_conditioned_graphs,
    load_pocket,
    read_first_mol,
)
from molgen.training import load_model

torch.set_num_threads(2)
gm = load_model(Path(sys.argv[1]))
d = Path("data/complexes/posebusters/1S3V")
ref = read_first_mol(d / "1s3v_ligand.sdf")
pk = load_pocket(d / "1s3v_protein_one_lig_removed.pdb", ref_ligand=ref, vocab=gm.vocab)
frag, _ = fragment_from_smarts(d / "1s3v_ligand.sdf", "c1cc(OC)c(OC)c(OC)c1", gm.vocab)
nf = frag.num_nodes
fcom = frag.pos.double().mean(0)
print(f"pocket CoM to fragment CoM {(pk.context.pos.double().mean(0) - fcom).norm():.2f} A")
orig = st.MolState.template.__func__
def template(cls, num_atoms, *a, **kw):
    kw["center"] = fcom[None].repeat(len(num_atoms), 1)
    return orig(cls, num_atoms, *a, **kw)
st.MolState.template = classmethod(template)
for rng in ((22, 32), (14, 18)):
    graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 20, 20, pocket=pk,
                                         fragment=frag, seed=1, self_condition=gm.self_condition, atoms_range=rng)
    att, dmins = 0, []
    for g in graphs:
        ei, bt = g.edge_index, g.bond_type
        att += any(int(t) > 0 and ((int(a) < nf) != (int(b) < nf)) for a, b, t in zip(ei[0], ei[1], bt))
        dmins.append(torch.cdist(g.pos[nf:], g.pos[:nf]).min().item())
    dmins.sort()
    print("pocket, fragment-centred", rng, "attached", att, f"of 20; nearest grown-fragment distance median {dmins[10]:.2f}", flush=True)
