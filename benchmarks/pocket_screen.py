"""Held-out pocket screen: the generation figures of :mod:`benchmarks.pocket` without Vina or references.

    python -m benchmarks.pocket_screen --split-dir runs/data/complexes_all/split \\
        --checkpoint runs/a/model.ckpt --checkpoint runs/b/model.ckpt --num 20 --steps 20 --out screen.json

For comparing training arms (fine-tune against scratch, one setting against another) on the same held-out
sites in minutes rather than the hour of the full benchmark: per model, per site (one FEP site per held-out
target of ``test_fep.csv`` and every crystal complex of ``test_crystal.csv``, each pocket cut around the
site's first ligand as :func:`benchmarks.pocket.run_benchmark` cuts it), ``--num`` ligands generated with
seed ``--seed`` and validated against the protein (:func:`molgen.validation.validate_molecules`, every
check): ``valid``, ``valid_connected``, ``pb_valid``, the placement figures of
:func:`benchmarks.pocket.placement_figures`, the mean QED of the valid ligands and the mean heavy-atom
count, and ``pb_failures``: how many of the valid & connected ligands fail each PoseBusters check (what
keeps whole ligands from being PB-valid). Means over sites per part (``fep``, ``crystal``; ``pb_failures``
summed, beside ``valid_connected_n``). No Vina, no reference ligands, no poses: for those run
:mod:`benchmarks.pocket`.

``--option KEY=VALUE`` replaces a sampler setting of the model files (``discrete_temperature=0.7``),
``--guidance`` guides the sampling (:mod:`molgen.sampling.guidance`), as in :mod:`benchmarks.pocket`;
``--prior-mix W`` takes the chemistry partly from the model on the ligand alone (:mod:`molgen.sampling.prior_mix`).
``--relax`` also relaxes every valid & connected ligand in its pocket, as a workflow's ``relax`` step does
(MMFF94 with the protein heavy atoms as fixed repulsive points, :func:`molgen.docking.relax.relax_in_pocket`),
validates it again and reports ``relaxed_pb_valid`` (PB-valid after relaxing, over all ``--num`` generated
ligands, so it compares with ``pb_valid``), ``relaxed_frac_min_protein_dist_ge_2A`` and
``relax_rmsd_A_median`` (over the relaxed ligands) and ``relaxed_pb_failures``: the molecules stay the
model's; the relaxed ones are a separate column.
``--atoms-range LO:HI`` draws ligand sizes uniformly in [LO, HI] instead of from the model's pocket-size
histogram (the sampler's ``atoms_range``); ``--sizes reference`` within 2 atoms of each site's first ligand
(the sampler's ``sizes``). ``--parts fep`` or ``--parts crystal`` screens one part only.
``--workers N`` validates in N processes; ``--embed-timeout S`` bounds each ETKDG ensemble of the internal-energy
check (the validator's default is 120 s): once every ligand is valid (valence-constrained bonds), a few strained
ones can each spend minutes there, and a ligand whose ensemble does not embed in time fails that check, so
a shorter limit can only lower ``pb_valid``. Writes one JSON with the machine, the arguments, each model's
meta and its wall time. A missing checkpoint or split file is one line naming it, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.pocket import (
    _mean,
    _median,
    _rows,
    _site_ligands,
    graph_mols,
    heavy_centroid,
    held_out_fep_sites,
    ligand_figures,
    parse_guidance_options,
    placement_figures,
    relax_sanitisable,
    validation_settings,
)
from benchmarks.sampler_settings import parse_setting

log = logging.getLogger(__name__)

#: Per-site figures averaged over the sites of a part.
SUMMARY_KEYS = ("valid", "valid_connected", "pb_valid", "frac_centroid_within_4A", "frac_min_protein_dist_ge_2A",
                "all_targets", "qed", "heavy_atoms", "relaxed_pb_valid", "relaxed_frac_min_protein_dist_ge_2A",
                "relax_rmsd_A_median")


def screen_sites(split_dir: Path) -> list[tuple[str, str, dict]]:
    """``(name, part, first row)`` per held-out site: the FEP sites of
    :func:`benchmarks.pocket.held_out_fep_sites` (one per target), then every crystal complex."""
    split = json.loads((split_dir / "split.json").read_text())
    sites = []
    for site, rows in held_out_fep_sites(split_dir).items():
        key = Path(site).relative_to(split["fep_root"]).as_posix()
        sites.append((split["site_target"].get(key, site), "fep", rows[0]))
    sites += [(r.get("name") or Path(r["ligand"]).parent.name, "crystal", r)
              for r in _rows(split_dir / "test_crystal.csv")]
    return sites


def sample_site(gm, row: dict, num: int = 20, steps: int = 20, seed: int = 0, **sampler) -> tuple:
    """``(reference ligand, pocket, graphs)``: the site's first ligand (RDKit), the pocket cut around it as
    :func:`benchmarks.pocket.run_benchmark` cuts it, and ``num`` ligands generated there in one batch with
    ``seed``; ``sampler``: further keyword arguments of ``generate_conditioned_graphs`` (``atoms_range``,
    ``guidance``, ``prior_mix``, ``sizes``, ``num_atoms``). What every screen and probe samples."""
    from molgen.sampling.conditioning import generate_conditioned_graphs, load_pocket

    ref = _site_ligands([row], 1)[0]
    pocket = load_pocket(row["protein"], ref_ligand=ref, vocab=gm.vocab)
    graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, num, steps, pocket=pocket,
                                         batch_size=num, seed=seed, self_condition=gm.self_condition, **sampler)
    return ref, pocket, graphs


def screen_site(gm, row: dict, num: int, steps: int, seed: int, atoms_range: tuple[int, int] | None,
                guidance=None, prior_mix: float | None = None, relax: bool = False,
                validation: dict | None = None, sizes: str = "pocket") -> dict:
    """Generated-ligand figures in one pocket (see the module docstring)."""
    from molgen.validation import validate_molecules
    from molgen.validation.io import load_protein

    protein = row["protein"]
    ref, pocket, graphs = sample_site(gm, row, num, steps, seed, atoms_range=atoms_range, guidance=guidance,
                                      prior_mix=prior_mix, sizes=sizes)
    t = validate_molecules(graphs, vocab=gm.vocab, protein=protein, progress=False, **(validation or {})).table
    mols, protein_heavy = graph_mols(graphs, gm.vocab), load_protein(protein).pos
    figs = ligand_figures(mols, protein_heavy, heavy_centroid(ref))
    relaxed = {}
    if relax:
        whole = [m for m, ok in zip(mols, t["valid_connected"]) if ok]
        relaxed = relaxed_figures(whole, protein, protein_heavy, heavy_centroid(ref), num, validation)
    return {"protein": Path(protein).name, "pocket_atoms": int(pocket.context.num_nodes), "generated": num,
            "valid": round(float(t["valid"].mean()), 3),
            "valid_connected": round(float(t["valid_connected"].mean()), 3),
            "pb_valid": round(float(t["pb_valid"].mean()), 3),
            **placement_figures(t["valid_connected"], t["pb_valid"], figs),
            "qed": _mean(t.loc[t["valid"], "qed"]), "heavy_atoms": _mean(t["n_heavy_atoms"].astype(float)),
            "pb_failures": failed_checks(t), **relaxed}


def relaxed_figures(mols: list, protein: str | Path, protein_heavy, ref_centroid, num: int,
                    validation: dict | None = None) -> dict:
    """``mols`` (the valid & connected ligands of a site, of ``num`` generated) relaxed in the pocket and
    validated again (see the module docstring); a ligand that fails to relax counts as not PB-valid."""
    from molgen.validation import validate_molecules

    relaxed, rows = relax_sanitisable(mols, protein_heavy)  # valid & connected: every one sanitises
    out = {"relaxed_n": len(relaxed), "relax_failed": len(mols) - len(relaxed), "relaxed_pb_valid": 0.0,
           "relaxed_frac_min_protein_dist_ge_2A": None, "relax_rmsd_A_median": None, "relaxed_pb_failures": {}}
    if relaxed:
        t = validate_molecules(relaxed, protein=protein, progress=False, **(validation or {})).table
        dist = [f["min_protein_dist_A"] for f in ligand_figures(relaxed, protein_heavy, ref_centroid)]
        out.update(relaxed_pb_valid=round(float(t["pb_valid"].sum()) / num, 3),
                   relaxed_frac_min_protein_dist_ge_2A=round(sum(d >= 2.0 for d in dist) / len(dist), 3),
                   relax_rmsd_A_median=_median([r["relax_rmsd_A"] for r in rows if r["relax_status"] == "ok"]),
                   relaxed_pb_failures=failed_checks(t))
    return out


def failed_checks(table) -> dict[str, int]:
    """How many valid & connected ligands of a validation table fail each PoseBusters check (the table's
    check columns, True = passes; a check that could not run is False there, so it counts as failed)."""
    from molgen.validation import CHECKS

    whole = table[table["valid_connected"].astype(bool)]
    counts = {n: int((~whole[n].astype(bool)).sum()) for n in CHECKS if CHECKS[n].pb and n in whole}
    return dict(sorted(((n, c) for n, c in counts.items() if c), key=lambda kv: -kv[1]))


def _summed_counts(rows: list[dict], key: str) -> dict[str, int]:
    """The ``{check: count}`` tables under ``key`` of ``rows`` summed, largest first."""
    total: dict[str, int] = {}
    for r in rows:
        for name, n in r.get(key, {}).items():
            total[name] = total.get(name, 0) + n
    return dict(sorted(total.items(), key=lambda kv: -kv[1]))


def part_means(rows: list[dict]) -> dict:
    """Mean over sites of each :data:`SUMMARY_KEYS` figure (sites without the figure left out)."""
    out = {"sites": len(rows)}
    for key in SUMMARY_KEYS:
        values = [r[key] for r in rows if r.get(key) is not None]
        out[key] = round(sum(values) / len(values), 3) if values else None
    out["valid_connected_n"] = round(sum((r.get("valid_connected") or 0) * r.get("generated", 0) for r in rows))
    out["pb_failures"] = _summed_counts(rows, "pb_failures")
    if any("relaxed_pb_failures" in r for r in rows):
        out["relaxed_n"] = sum(r.get("relaxed_n", 0) for r in rows)
        out["relaxed_pb_failures"] = _summed_counts(rows, "relaxed_pb_failures")
    return out


def screen_model(checkpoint: Path, sites, num: int, steps: int, seed: int, atoms_range,
                 process_options: dict | None = None, guidance=None, prior_mix: float | None = None,
                 relax: bool = False, validation: dict | None = None, sizes: str = "pocket") -> dict:
    """Every site for one model file: per-site rows and the means per part. ``process_options`` replace
    the file's sampler settings (as ``molgen sample --option``); ``guidance``:
    :class:`~molgen.sampling.guidance.GuidanceSettings` or None; ``prior_mix``: as ``molgen sample
    --prior-mix``; ``relax``: also the relaxed-ligand figures; ``validation``: keyword arguments of
    ``validate_molecules`` (``workers``, ``embed_timeout_s``); ``sizes``: as ``molgen sample --sizes``."""
    from molgen.training import load_model

    gm = load_model(checkpoint, process_options=process_options or None)
    t0 = time.perf_counter()
    rows = []
    for name, part, row in sites:
        rows.append({"site": name, "part": part,
                     **screen_site(gm, row, num, steps, seed, atoms_range, guidance, prior_mix, relax, validation,
                                   sizes)})
        log.info("%s %s: %s", checkpoint.name, name, {k: rows[-1][k] for k in ("valid", "valid_connected", "pb_valid")})
    parts = sorted({r["part"] for r in rows})
    return {"checkpoint": str(checkpoint), "meta": gm.meta, "process": gm.config["process"],
            "guidance": guidance.summary() if guidance is not None else None, "prior_mix": prior_mix,
            "wall_s": round(time.perf_counter() - t0, 1),
            "mean_over_sites": {p: part_means([r for r in rows if r["part"] == p]) for p in parts}, "per_site": rows}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split-dir", type=Path, required=True, help="split of `benchmarks.pocket --split-only`")
    ap.add_argument("--checkpoint", type=Path, action="append", required=True, help="model file (repeat to compare)")
    ap.add_argument("--num", type=int, default=20, help="ligands per site")
    ap.add_argument("--steps", type=int, default=20, help="sampler steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--atoms-range", default=None, help="LO:HI: ligand sizes uniform in the range (as molgen sample)")
    ap.add_argument("--sizes", default="pocket", choices=("pocket", "reference"),
                    help="ligand sizes from the nearest training sites by pocket size, or within 2 atoms of the "
                         "site's first ligand (as molgen sample --sizes)")
    ap.add_argument("--crystals", type=int, default=None, help="only the first N crystal complexes")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="sampler setting replacing the model file's (repeatable), e.g. discrete_temperature=0.7")
    ap.add_argument("--guidance", action="store_true", help="guide sampling out of the protein and into the site")
    ap.add_argument("--guidance-option", action="append", default=[], metavar="KEY=VALUE",
                    help="guidance setting (repeatable), e.g. start=0.5; implies --guidance")
    ap.add_argument("--prior-mix", type=float, default=None, metavar="W",
                    help="weight of the pocket on the chemistry, the rest from the model on the ligand alone "
                         "(as molgen sample --prior-mix)")
    ap.add_argument("--relax", action="store_true",
                    help="also relax the valid & connected ligands in the pocket (MMFF) and validate them again")
    ap.add_argument("--parts", default="fep,crystal", help="which held-out sites: fep, crystal or both (comma-separated)")
    ap.add_argument("--workers", type=int, default=0, help="validation worker processes (0: in this process)")
    ap.add_argument("--embed-timeout", type=int, default=None, metavar="S",
                    help="time limit of each ETKDG ensemble of the internal-energy check, s (default: the "
                         "validator's); a ligand whose ensemble does not embed in time fails the check")
    ap.add_argument("--out", type=Path, required=True, help="results JSON")
    return ap


def main(argv: list[str] | None = None) -> dict:
    import torch

    from molgen.cli import _parse_range
    from molgen.errors import MolgenError, require_file

    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        for name in ("split.json", "test_fep.csv", "test_crystal.csv"):
            require_file(args.split_dir / name, "split file")
        for ck in args.checkpoint:
            require_file(ck, "checkpoint")
        atoms_range = _parse_range(args.atoms_range)
        options = parse_setting(",".join(args.option))
        guidance = parse_guidance_options(args.guidance, args.guidance_option)
        sites = screen_sites(args.split_dir)
        parts = {p.strip() for p in args.parts.split(",") if p.strip()}
        if not parts or parts - {"fep", "crystal"}:
            raise MolgenError(f"--parts takes fep, crystal or both, not {args.parts!r}")
        fep = [s for s in sites if s[1] == "fep" and "fep" in parts]
        crystal = [s for s in sites if s[1] == "crystal" and "crystal" in parts][:args.crystals]
        validation = validation_settings(args.workers, args.embed_timeout)
        result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                  "torch_threads": torch.get_num_threads(), "load_start": os.getloadavg(),
                  "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                  "models": [screen_model(ck, fep + crystal, args.num, args.steps, args.seed, atoms_range,
                                          options, guidance, args.prior_mix, args.relax, validation, args.sizes)
                             for ck in args.checkpoint]}
    except MolgenError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    result["load_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    for m in result["models"]:
        print(m["checkpoint"], json.dumps(m["mean_over_sites"]))
    return result


if __name__ == "__main__":
    main()
