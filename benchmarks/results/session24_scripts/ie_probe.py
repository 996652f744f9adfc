"""Why do whole ligands fail PoseBusters' internal-energy check, before and after the relax step: a ratio above 7,
or an ETKDG ensemble that did not embed within the 10-s limit the screens use? The same ligands validated again
with the validator's default limit (120 s) say which. First SITES of the 20 held-out screen sites, 20 ligands each, seed 0,
the file's own sampler; ligands relaxed as pocket_screen --relax relaxes them. Twenty-fourth session.

    SITES=6 PYTHONPATH=. python benchmarks/results/session24_scripts/ie_probe.py CKPT OUT.json
"""
import json
import os
import sys
import time
from pathlib import Path

import torch
from rdkit import RDLogger

from benchmarks.pocket import graph_mols, relax_sanitisable
from benchmarks.pocket_screen import sample_site, screen_sites
from molgen.docking.relax import protein_heavy_atoms
from molgen.training import load_model
from molgen.validation import validate_molecules

RDLogger.DisableLog("rdApp.*")
torch.set_num_threads(int(os.environ.get("THREADS", "1")))
ckpt, out = sys.argv[1], Path(sys.argv[2])
nsites = int(os.environ.get("SITES", "6"))
gm = load_model(ckpt)


def verdicts(table) -> list[dict]:
    rows = []
    for _, r in table.iterrows():
        reason = r["reason"] if isinstance(r["reason"], str) else ""
        rows.append({"pb_valid": bool(r["pb_valid"]), "internal_energy": bool(r.get("internal_energy")),
                     "energy_ratio": None if r.get("energy_ratio") != r.get("energy_ratio") else r.get("energy_ratio"),
                     "timed_out": "could not embed a conformer ensemble" in reason,
                     "failed": sorted(k for k in ("internal_energy", "no_protein_clash", "no_volume_clash",
                                                   "bond_lengths", "bond_angles", "no_internal_clash",
                                                   "double_bond_flatness", "aromatic_ring_flatness",
                                                   "strain_energy")
                                      if k in r and r[k] is not None and not bool(r[k]))})
    return rows


result = {"checkpoint": ckpt, "sites": [], "rows": []}
t0 = time.time()
for name, part, row in list(screen_sites(Path("runs/data/complexes_all/split")))[:nsites]:
    ref, pocket, graphs = sample_site(gm, row)
    mols = graph_mols(graphs, gm.vocab)
    t10 = validate_molecules(graphs, vocab=gm.vocab, protein=row["protein"], progress=False, embed_timeout_s=10).table
    whole = [m for m, ok in zip(mols, t10["valid_connected"]) if ok]
    relaxed, _ = relax_sanitisable(whole, protein_heavy_atoms(row["protein"]))
    site = {"site": name, "part": part, "generated": len(mols), "whole": len(whole), "relaxed": len(relaxed)}
    for tag, ms in (("sampled", graphs), ("relaxed", relaxed)):
        for limit in (10, 120):
            if tag == "sampled":  # as the screen validates them: the graphs, then their whole ligands
                t = t10 if limit == 10 else validate_molecules(graphs, vocab=gm.vocab, protein=row["protein"],
                                                               progress=False, embed_timeout_s=120).table
                t = t[t["valid_connected"].astype(bool)]
            else:
                t = validate_molecules(ms, protein=row["protein"], progress=False, embed_timeout_s=limit).table
            v = verdicts(t)
            site[f"{tag}_t{limit}"] = {"pb_valid": sum(x["pb_valid"] for x in v),
                                        "internal_energy_fail": sum(not x["internal_energy"] for x in v),
                                        "timed_out": sum(x["timed_out"] for x in v)}
            result["rows"] += [{"site": name, "set": tag, "limit": limit, **x} for x in v]
    result["sites"].append(site)
    print(json.dumps(site), flush=True)
tot = {}
for s in result["sites"]:
    for k, v in s.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                tot.setdefault(k, {}).setdefault(kk, 0)
                tot[k][kk] += vv
        elif isinstance(v, int):
            tot[k] = tot.get(k, 0) + v
result["total"], result["seconds"] = tot, round(time.time() - t0)
print(json.dumps(tot))
out.write_text(json.dumps(result, indent=1) + "\n")
