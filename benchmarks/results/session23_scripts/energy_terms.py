"""Where the strain of generated whole ligands sits: MMFF94 energy split by term.

The first SITES crystal screen sites (default 6), 20 ligands each (20 steps, seed 0, the file's sampler
settings); every whole (valid & connected) ligand and every site's crystal ligand gets hydrogens with
coordinates (RDKit AddHs), then its MMFF94 energy term by term (each term alone switched on in
MMFFMolProperties): bond stretch, angle bend, stretch-bend, out-of-plane, torsion, van der Waals,
electrostatics; first as written, then after moving only the hydrogens (heavy atoms fixed), so that the
hydrogen placement does not count. Printed: the median of each term (kcal/mol) over the generated and
over the crystal ligands. Issue 16, twenty-third session.

    PYTHONPATH=. python benchmarks/results/session23_scripts/energy_terms.py CKPT OUT.json [SITES]
"""
import json
import statistics
import sys
from pathlib import Path

import torch
from rdkit import Chem
from rdkit.Chem.rdForceFieldHelpers import MMFFGetMoleculeForceField, MMFFGetMoleculeProperties

from benchmarks.pocket import graph_mols
from benchmarks.pocket_screen import sample_site, screen_sites
from molgen.training import load_model

TERMS = ("Bond", "Angle", "StretchBend", "Oop", "Torsion", "VdW", "Ele")


def terms(mol, h_only: bool) -> dict | None:
    m = Chem.AddHs(mol, addCoords=True)
    props = MMFFGetMoleculeProperties(m)
    if props is None:
        return None
    if h_only:
        ff = MMFFGetMoleculeForceField(m, props)
        for a in m.GetAtoms():
            if a.GetAtomicNum() > 1:
                ff.AddFixedPoint(a.GetIdx())
        ff.Minimize(maxIts=500)
    out = {}
    for term in TERMS:
        for other in TERMS:
            getattr(props, f"SetMMFF{other}Term")(other == term)
        out[term] = MMFFGetMoleculeForceField(m, props).CalcEnergy()
    for other in TERMS:
        getattr(props, f"SetMMFF{other}Term")(True)
    out["total"] = MMFFGetMoleculeForceField(m, props).CalcEnergy()
    return out


torch.set_num_threads(1)
ckpt, out_path = sys.argv[1], sys.argv[2]
n_sites = int(sys.argv[3]) if len(sys.argv) > 3 else 6
gm = load_model(ckpt)
sites = [s for s in screen_sites(Path("runs/data/complexes_all/split")) if s[1] == "crystal"][:n_sites]
gen, ref = {"as_written": [], "h_relaxed": []}, {"as_written": [], "h_relaxed": []}
for name, _, row in sites:
    crystal, _, graphs = sample_site(gm, row)
    for m in graph_mols(graphs, gm.vocab):
        if m is None or Chem.SanitizeMol(m, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
            continue
        if len(Chem.GetMolFrags(m)) != 1:
            continue
        for key, h_only in (("as_written", False), ("h_relaxed", True)):
            e = terms(m, h_only)
            if e:
                gen[key].append(e)
    c = Chem.RemoveHs(crystal)
    for key, h_only in (("as_written", False), ("h_relaxed", True)):
        e = terms(c, h_only)
        if e:
            ref[key].append(e)
    print(name, len(gen["as_written"]), flush=True)
summary = {}
for who, d in (("generated", gen), ("crystal", ref)):
    for key, rows in d.items():
        summary[f"{who}_{key}"] = {"n": len(rows), **{t: round(statistics.median(r[t] for r in rows), 1)
                                                     for t in (*TERMS, "total")}}
print(json.dumps(summary, indent=1))
Path(out_path).write_text(json.dumps({"checkpoint": ckpt, "sites": [s[0] for s in sites], "median_kcal_mol": summary,
                                      "generated": gen, "crystal": ref}, indent=1))
