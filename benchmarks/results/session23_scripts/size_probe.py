"""Does ligand size drive protein clashes? Each held-out screen site sampled twice: sizes drawn as the
model does (from the nearest training sites) and every ligand at the reference ligand's heavy-atom count.

Per arm: whole (valid & connected) ligands, PB-valid, and the PoseBusters failures of the whole ones; for
the drawn-size arm also the whole ligands binned by size relative to the reference (smaller / equal / up to
+5 / more) with how many of them clash with the protein. 20 ligands per site, 20 steps, seed 0, the file's
sampler settings. Issue 16, twenty-third session.

    PYTHONPATH=. python benchmarks/results/session23_scripts/size_probe.py CKPT OUT.json [PART] [SITES]
"""
import json
import sys
from pathlib import Path

import torch

from benchmarks.pocket import _site_ligands
from benchmarks.pocket_screen import failed_checks, sample_site, screen_sites
from molgen.training import load_model
from molgen.validation import validate_molecules

torch.set_num_threads(1)
ckpt, out_path = sys.argv[1], sys.argv[2]
part = sys.argv[3] if len(sys.argv) > 3 else "crystal"
limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
gm = load_model(ckpt)
sites = [s for s in screen_sites(Path("runs/data/complexes_all/split")) if s[1] == part][:limit]
arms = {"drawn": {"rows": []}, "reference_size": {"rows": []}}
for name, _, row in sites:
    n_ref = _site_ligands([row], 1)[0].GetNumHeavyAtoms()
    for arm, kw in (("drawn", {}), ("reference_size", {"num_atoms": n_ref})):
        graphs = sample_site(gm, row, **kw)[2]
        t = validate_molecules(graphs, vocab=gm.vocab, protein=row["protein"], progress=False, workers=2,
                               embed_timeout_s=10).table
        rows = [{"site": name, "ref_heavy": n_ref, "heavy": int(r["n_heavy_atoms"]),
                 "whole": bool(r["valid_connected"]), "pb_valid": bool(r["pb_valid"]),
                 "protein_clash": not bool(r["no_protein_clash"])} for _, r in t.iterrows()]
        arms[arm]["rows"] += rows
        arms[arm].setdefault("failures", {})
        for k, v in failed_checks(t).items():
            arms[arm]["failures"][k] = arms[arm]["failures"].get(k, 0) + v
        print(name, arm, n_ref, sum(r["whole"] for r in rows), sum(r["pb_valid"] for r in rows),
              sum(r["whole"] and r["protein_clash"] for r in rows), flush=True)
summary = {}
for arm, d in arms.items():
    rows = d["rows"]
    whole = [r for r in rows if r["whole"]]
    summary[arm] = {"ligands": len(rows), "whole": len(whole), "pb_valid": sum(r["pb_valid"] for r in rows),
                    "whole_protein_clash": sum(r["protein_clash"] for r in whole),
                    "mean_heavy": round(sum(r["heavy"] for r in rows) / len(rows), 2),
                    "failures_of_whole": dict(sorted(d["failures"].items(), key=lambda kv: -kv[1]))}
bins = {}
for r in arms["drawn"]["rows"]:
    if not r["whole"]:
        continue
    dn = r["heavy"] - r["ref_heavy"]
    b = "smaller" if dn < 0 else "equal" if dn == 0 else "+1..+5" if dn <= 5 else "more than +5"
    c = bins.setdefault(b, {"whole": 0, "protein_clash": 0, "pb_valid": 0})
    c["whole"] += 1
    c["protein_clash"] += r["protein_clash"]
    c["pb_valid"] += r["pb_valid"]
summary["drawn_by_size_vs_reference"] = bins
print(json.dumps(summary, indent=1))
Path(out_path).write_text(json.dumps({"checkpoint": ckpt, "part": part, "sites": [s[0] for s in sites],
                                      "summary": summary, "arms": arms}, indent=1))
