"""Sampling-time guidance (molgen.sampling.guidance) measured both ways on held-out crystal pockets.

For each crystal complex of ``data/complexes/posebusters`` (held out from the shipped pocket model's
training, see ``benchmarks/pocket.py``), ``--num`` ligands are sampled in the pocket cut around the
crystal ligand (6 Å, as in training) with ``--steps`` steps and the same seed, with guidance off and
on (``GuidanceSettings`` defaults unless ``--guidance-option key=value``), and validated with the
protein (molgen validate's checks, ``pb_valid`` includes the protein checks). Per pocket and mode:

* ``valid``, ``valid_connected``, ``pb_valid``: fractions of the generated ligands;
* ``min_protein_dist_A``: per ligand, the nearest ligand–protein heavy-atom distance (every heavy
  atom of the protein file, not only the pocket), median and the fraction at least 2 Å;
* ``centroid_to_ref_A``: per ligand, the distance of its heavy-atom centroid to the crystal
  ligand's, median and the fraction within 4 Å;
* ``all_targets``: valid & connected, pb_valid, >= 2 Å from the protein and centroid within 4 Å;
* ``seconds``: sampling wall time (torch threads as set by ``OMP_NUM_THREADS``).

Optionally (``--relax``) the guided ligands that sanitise are relaxed by ``molgen.docking.relax``
(MMFF with the protein as fixed repulsive points), with the same figures after relaxation.

Run from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.pocket_guidance --num 16 --steps 20 \
        --complexes 1S3V,1G9V_RQ3,7ZTL_BCN --out benchmarks/results/pocket_guidance.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path

from benchmarks.pocket import (
    _frac,
    _median,
    graph_mols,
    heavy_centroid,
    ligand_figures,
    placement_figures,
    relax_sanitisable,
)

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("benchmarks.pocket_guidance")


def _complexes(names: list[str] | None) -> list[tuple[str, Path, Path]]:
    import csv

    root = REPO / "data" / "complexes"
    with open(root / "index.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["protein"].startswith("posebusters/")]
    out = [(r["name"], root / r["protein"], root / r["ligand"]) for r in rows]
    if names:
        out = [c for c in out if c[0] in names]
        missing = set(names) - {c[0] for c in out}
        if missing:
            raise SystemExit(f"unknown complexes {sorted(missing)}; known: {[r['name'] for r in rows]}")
    return out


def summarise(table, figs: list[dict], seconds: float | None) -> dict:
    """The figures of one pocket and mode (see the module docstring)."""
    dist = [f["min_protein_dist_A"] for f in figs]
    cent = [f["centroid_to_ref_A"] for f in figs]
    vc, pb = list(table["valid_connected"]), list(table["pb_valid"])
    return {
        "n": len(figs), "valid": _frac(table["valid"]), "valid_connected": _frac(vc), "pb_valid": _frac(pb),
        **placement_figures(vc, pb, figs),
        "min_protein_dist_A": [round(d, 3) for d in dist], "centroid_to_ref_A": [round(c, 3) for c in cent],
        **({"seconds": round(seconds, 2)} if seconds is not None else {}),
    }


def run_site(gm, name: str, protein: Path, ligand: Path, num: int, steps: int, seed: int, settings,
             relax: bool) -> dict:
    import numpy as np

    from molgen.sampling.conditioning import generate_conditioned_graphs, load_pocket, read_first_mol
    from molgen.validation import validate_molecules
    from molgen.validation.io import load_protein

    ref = read_first_mol(ligand, "reference ligand")
    ref_centroid = heavy_centroid(ref)
    prot = load_protein(protein)
    protein_heavy = prot.pos
    pocket = load_pocket(protein, ref_ligand=ref, vocab=gm.vocab)
    out = {"complex": name, "pocket_atoms": int(pocket.context.num_nodes),
           "pocket_centre_to_ref_centroid_A": round(float(np.linalg.norm(pocket.center.numpy() - ref_centroid)), 3)}
    for mode, guidance in (("off", None), ("on", settings)):
        t0 = time.perf_counter()
        graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, num, steps, pocket=pocket,
                                             batch_size=num, seed=seed, self_condition=gm.self_condition,
                                             guidance=guidance)
        seconds = time.perf_counter() - t0
        val = validate_molecules(graphs, vocab=gm.vocab, protein=protein, progress=False)
        mols = graph_mols(graphs, gm.vocab)
        out[mode] = summarise(val.table, ligand_figures(mols, protein_heavy, ref_centroid), seconds)
        log.info("%s guidance %s: %s", name, mode, {k: v for k, v in out[mode].items() if not isinstance(v, list)})
        if mode == "on" and relax:
            out["on_relaxed"] = relax_figures(mols, protein, protein_heavy, ref_centroid)
            log.info("%s relaxed: %s", name, {k: v for k, v in out["on_relaxed"].items() if not isinstance(v, list)})
    return out


def relax_figures(mols, protein: Path, protein_heavy, ref_centroid) -> dict:
    """Relax the ligands that sanitise (MMFF in the protein's field) and measure them again."""
    from molgen.validation import validate_molecules

    relaxed, rows = relax_sanitisable(mols, protein_heavy)
    if not relaxed:
        return {"n": 0}
    val = validate_molecules(relaxed, protein=protein, progress=False)
    fig = summarise(val.table, ligand_figures(relaxed, protein_heavy, ref_centroid), None)
    fig["relax_ok"] = sum(r["relax_status"] == "ok" for r in rows)
    fig["relax_rmsd_A_median"] = _median([r["relax_rmsd_A"] for r in rows])
    return fig


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=REPO / "data/checkpoints/pocket_flow.ckpt")
    p.add_argument("--num", type=int, default=16, help="Ligands per pocket and mode.")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--complexes", default="1S3V,1G9V_RQ3,7ZTL_BCN", help="Comma-separated names (index.csv).")
    p.add_argument("--guidance-option", action="append", default=[], help="Guidance setting key=value.")
    p.add_argument("--relax", action="store_true", help="Also relax the guided ligands (MMFF in the pocket).")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import torch
    from rdkit import RDLogger

    from molgen.config import parse_options
    from molgen.sampling.guidance import parse_guidance
    from molgen.training import load_model

    RDLogger.DisableLog("rdApp.*")
    settings = parse_guidance(parse_options(args.guidance_option))
    gm = load_model(args.checkpoint)
    rows = [run_site(gm, n, prot, lig, args.num, args.steps, args.seed, settings, args.relax)
            for n, prot, lig in _complexes([c for c in args.complexes.split(",") if c])]
    keys = [k for k, v in rows[0]["off"].items() if not isinstance(v, list)]
    means = {mode: {k: round(statistics.fmean(r[mode][k] for r in rows if r.get(mode, {}).get(k) is not None), 3)
                    for k in keys if any(r.get(mode, {}).get(k) is not None for r in rows)}
             for mode in ("off", "on", "on_relaxed") if any(mode in r for r in rows)}
    result = {"checkpoint": str(args.checkpoint), "settings": {"num": args.num, "steps": args.steps,
              "seed": args.seed, "guidance": settings.model_dump()}, "torch_threads": torch.get_num_threads(),
              "load": [round(x, 2) for x in os.getloadavg()], "per_complex": rows, "mean_over_complexes": means}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(means, indent=2))


if __name__ == "__main__":
    main()
