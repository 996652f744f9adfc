"""Pocket-conditioned generation and pose generation: data split, sampling cost, quality figures.

Data. :func:`write_split` splits the binding sites (protein files) of the Schrödinger FEP benchmark
(89 systems, 92 protein files) and the 12 PoseBusters crystal complexes: every crystal complex is
held out (they are the pose benchmark), and FEP targets (all systems of one protein together) are
held out in a seeded random order until ~20 % of all sites are. With ``--pb2-root`` and
``--openff-root`` the PoseBusters v2 complexes (252 sites, ligand bond orders from the chemical
component) and the OpenFF benchmark targets join the split by protein (:mod:`molgen.data.sites`):
the held-out FEP and crystal sites stay exactly as they were; an OpenFF target of a held-out protein
is held out; a PoseBusters v2 complex of a held-out protein is left out (``excluded.csv``).
``train.csv`` without the extra sources is what the shipped ``data/checkpoints/pocket_flow.ckpt``
was trained on.

Figures (``--out FILE.json``), each with the machine's load average; every part can be left out
with ``--skip`` (comma-separated: ``cost,sampling,generation,crystal_generation,poses``):

* ``cost``: edges and one denoiser forward (ms) for 100 ligands in one pocket, with the
  ligand–pocket radius graph the model uses (with and without the savings of
  :class:`~molgen.sampling.conditioning.PocketRadiusDenoiser`, timed alternately) and with the
  complete ligand–pocket graph;
* ``sampling``: wall time to sample 100 ligands in one held-out pocket (``--steps``; the first
  chosen FEP site; torch threads as ``OMP_NUM_THREADS`` sets them, recorded as ``torch_threads``),
  in the sampler's batches (``batches``: ligands per batch) and then, side by side, in one batch
  of 100 (``one_batch_seconds``);
* ``generation``: per held-out FEP site (one per held-out target; all of them unless ``--sites N``; from the
  ``--first-site K``-th on, 0-based, so a long run can be split and joined with ``--merge``),
  ``--num`` generated ligands vs up to ``--num`` of the site's own (held-out) ligands: RDKit validity,
  ``valid_connected``, ``pb_valid`` with the protein, QED, SA, and the Vina distributions (box around
  the site's first ligand + 6 Å): ``score`` and ``minimize`` of every RDKit-valid ligand, ``dock``
  (exhaustiveness 8) of the first ``--dock-num`` (quartiles, best and the values, in kcal/mol;
  ``vina_*`` keys summarise ``minimize``; ``vina_median_minus_reference`` is the generated minus the
  reference ``minimize`` median); placement, over all ``--num`` generated ligands (a ligand RDKit
  cannot read fails both cuts), against every heavy atom of the protein file and the heavy-atom
  centroid of the site's first ligand (which also defines the pocket): ``min_protein_dist_A_median``
  and ``frac_min_protein_dist_ge_2A`` (nearest protein heavy atom), ``centroid_to_ref_A_median`` and
  ``frac_centroid_within_4A``, and ``all_targets``, the fraction that is valid & connected, pb_valid,
  >= 2 Å from the protein and within 4 Å at once (per-ligand values in ``min_protein_dist_A`` and
  ``centroid_to_ref_A``); the same validity, QED, SA and Vina figures (``rdkit_bonds_*``) for the
  generated coordinates with bonds re-perceived by RDKit (validation ``bonds="rdkit"``), which
  separates placement and geometry from the predicted bonds;
* ``crystal_generation``: the same figures per crystal complex of ``test_crystal.csv`` (all of them
  unless ``--crystals N``), the crystal ligand the single reference ligand (``complex`` names it);
* ``poses``: per crystal complex, ``--poses`` poses of the crystal ligand generated in its pocket
  (pocket from the crystal ligand), ranked by Vina (``score`` of the raw poses, and ``minimize``);
  the top-ranked pose's symmetry-corrected heavy-atom RMSD to the crystal pose
  (``rdMolAlign.CalcRMS``, no alignment), beside Vina's own redocking (``dock`` mode,
  exhaustiveness 8, box around the crystal ligand + 4 Å);
* ``targets``: issue 16's targets from the parts that ran, each ``{value, threshold, op, pass}``
  (``pass`` is null where the issue gives no number; a value that could not be measured does not
  pass). For ``generation`` and ``crystal_generation`` separately, on the means over sites:
  ``valid_connected`` >= 0.70, ``pb_valid`` >= 0.50, ``qed`` >= 0.5 (mean QED of the valid
  ligands), ``frac_centroid_within_4A``, ``frac_min_protein_dist_ge_2A`` and ``all_targets``
  (reported, no threshold), and ``vina_minimize_median_minus_reference`` <= 1.0 kcal/mol (the median
  over sites of the per-site difference; ``sites`` of ``of`` had a Vina-scored generated ligand).
  ``poses``: the count of complexes whose top-ranked pose is within 2 Å, per ranking
  (``top1_within_2A_score``, ``top1_within_2A_minimize``), >= the count for Vina's redocking in the
  same run (``vina_redock_within_2A``; 6/12 when last measured). ``sampling``: 100 ligands in < 60 s.

Joining runs: ``--merge A.json B.json ... --out C.json`` joins benchmark JSONs of one checkpoint and the same
settings (apart from the sites and crystals chosen) into one: the per-site rows of each generation part in the
order given (a site in two files is an error), the means over sites and the targets computed again, and
``cost``, ``sampling`` and ``poses`` from the one file that has each (two files with the same one is an error).
Each site's sampling is seeded by ``--seed`` alone, so a site's row does not depend on which sites ran beside it.

Validation: ``--workers N`` validates in N processes; ``--embed-timeout S`` bounds each ETKDG ensemble of the
internal-energy check (a ligand whose ensemble does not embed in time fails it, so PB-valid is then a lower
bound); both are recorded under ``settings.validation``.

Sampling-time guidance (``--guidance``, settings with ``--guidance-option KEY=VALUE``, see
:mod:`molgen.sampling.guidance`) applies to ``sampling``, ``generation`` and ``crystal_generation``;
pose generation (:func:`molgen.sampling.pose.generate_poses`) takes no guidance, so poses are the
model's own. The settings are recorded under ``settings.guidance`` and ``settings.guidance_parts``.

Run from the repository root (the split once, then the benchmark)::

    mkdir -p /tmp/fep /tmp/pb
    tar xJf ../shared/data/fep_benchmark/schrodinger_fep_structure_inputs.tar.xz -C /tmp/fep
    tar xJf ../shared/data/posebusters/posebusters_examples.tar.xz -C /tmp/pb
    python -m benchmarks.pocket --split-only --fep-root /tmp/fep/schrodinger_fep_structure_inputs \
        --pb-root /tmp/pb/posebusters_examples --split-dir runs/pocket_split
    # with PoseBusters v2 and OpenFF (one split over all three sources):
    mkdir -p /tmp/pb2 /tmp/openff
    tar xJf ../shared/data/posebusters_v2/posebusters_v2_train.tar.xz -C /tmp/pb2
    tar xJf ../shared/data/openff_plb/openff_protein_ligand_benchmark.tar.xz -C /tmp/openff
    python -m benchmarks.pocket --split-only --fep-root /tmp/fep/schrodinger_fep_structure_inputs \
        --pb-root /tmp/pb/posebusters_examples --pb2-root /tmp/pb2 --openff-root /tmp/openff/plb/data \
        --split-dir runs/pocket_split_all
    python -m benchmarks.pocket --split-dir runs/pocket_split --checkpoint data/checkpoints/pocket_flow.ckpt \
        --out benchmarks/pocket.json
    # a sampler setting in place of the file's (repeatable; recorded under settings.process_options):
    python -m benchmarks.pocket --split-dir runs/pocket_split --option discrete_stochasticity=1 --out eta1.json
    # issue 16's targets for a new model (2 threads; no Vina docking of generated ligands, which the
    # targets do not use; add --guidance for sampling-time guidance):
    OMP_NUM_THREADS=2 python -m benchmarks.pocket --split-dir runs/pocket_split --checkpoint NEW.ckpt \
        --num 20 --steps 20 --poses 20 --dock-num 0 --skip cost --out runs/pocket_targets.json
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.sampler_settings import parse_setting

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("benchmarks.pocket")


def write_split(fep_root: Path, fep_index: Path, pb_root: Path, pb_index: Path, out_dir: Path,
                seed: int = 0, test_fraction: float = 0.2, pb2_root: Path | None = None,
                pb2_index: Path | None = None, openff_root: Path | None = None) -> dict:
    """Split the binding sites into training and held-out sets, by protein.

    Every crystal complex (PoseBusters examples) is held out (they are the pose benchmark); FEP
    targets (all systems of one protein together) are drawn in a seeded random order and held out
    while the held-out sites stay within ``test_fraction`` of the FEP and crystal sites. With
    ``pb2_root``/``openff_root``, PoseBusters v2 complexes and OpenFF targets join: an OpenFF target
    of a held-out protein is held out, a PoseBusters v2 complex of a held-out protein is left out of
    training (``excluded.csv``); see :mod:`molgen.data.sites`.

    Writes ``train.csv``, ``test.csv``, ``excluded.csv``, ``test_fep.csv``, ``test_crystal.csv``,
    ``pb2_failures.csv`` and ``split.json`` into ``out_dir``.
    """
    from molgen.data.sites import write_site_split

    return write_site_split(out_dir, fep_root.resolve(), fep_index, pb_root.resolve(), pb_index,
                            pb2_root.resolve() if pb2_root else None, pb2_index,
                            openff_root.resolve() if openff_root else None, seed, test_fraction, progress=True)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _median(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return round(statistics.median(xs), 3) if xs else None


def _mean(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return round(statistics.fmean(xs), 3) if xs else None


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def held_out_fep_sites(split_dir: Path) -> dict[str, list[dict]]:
    """The held-out FEP sites the benchmarks judge: one per target, the first protein file of the target in
    sorted order, mapped to its ``test_fep.csv`` rows (in target order of first appearance)."""
    split = json.loads((split_dir / "split.json").read_text())
    by_site: dict[str, list[dict]] = {}
    for r in _rows(split_dir / "test_fep.csv"):
        by_site.setdefault(r["protein"], []).append(r)
    site_of_target: dict[str, str] = {}
    for site in sorted(by_site):
        key = Path(site).relative_to(split["fep_root"]).as_posix()
        site_of_target.setdefault(split["site_target"].get(key, site), site)
    return {site: by_site[site] for site in site_of_target.values()}


def _site_ligands(rows: list[dict], limit: int):
    """RDKit molecules (with H) of the first ``limit`` rows."""
    from molgen.data.sdf import iter_sdf_mols
    from molgen.sampling.conditioning import with_hydrogens

    out = []
    files: dict[str, list] = {}
    for r in rows[:limit]:
        if r["ligand"] not in files:
            files[r["ligand"]] = [m for _, m in iter_sdf_mols(r["ligand"])]
        mol = files[r["ligand"]][int(r["record"] or 0)]
        if not isinstance(mol, str):
            out.append(with_hydrogens(mol))
    return out


def _median_size(gm) -> int:
    """Median ligand size (the model's atoms: heavy atoms only for a heavy-atom model) in training."""
    from molgen.data.stats import size_histogram

    hist = size_histogram(gm.stats)
    half, seen = sum(hist.values()) / 2, 0
    for n in sorted(hist):
        seen += hist[n]
        if seen >= half:
            return n
    raise ValueError("empty size histogram")


def measure_cost(gm, pocket, num: int = 100, size: int | None = None) -> dict:
    """Edges and forward time of the pocket denoiser for ``num`` ligands of ``size`` atoms (default: the
    training median) at t = 0.5."""
    import torch

    size = size or _median_size(gm)

    from molgen.processes.state import MolState
    from molgen.sampling.conditioning import PocketRadiusDenoiser

    template = MolState.template([size] * num, gm.vocab.num_types, gm.vocab.num_charges, context=pocket.context)
    state = gm.process.corrupt(gm.process.prior(template, torch.Generator().manual_seed(0)),
                               torch.full((num,), 0.5), torch.Generator().manual_seed(1))
    inp = gm.process.model_input(state, torch.full((num,), 0.5))
    out = {"num_ligands": num, "ligand_atoms": size, "pocket_atoms": int(pocket.context.num_nodes)}
    net = gm.model.net if isinstance(gm.model, PocketRadiusDenoiser) else gm.model
    radius = getattr(gm.model, "radius", None)
    # the radius graph with and without the wrapper's savings (pruned pocket atoms, paired edges): a warm-up,
    # then three forwards each, alternated; the complete graph once (tens of seconds on CPU)
    models = {"complete": PocketRadiusDenoiser(net, None).eval()}
    if radius is not None:
        models = {"radius": PocketRadiusDenoiser(net, radius, savings=True).eval(),
                  "radius_no_savings": PocketRadiusDenoiser(net, radius, savings=False).eval()} | models
    alternated = [name for name in models if name != "complete"]
    times: dict[str, list[float]] = {name: [] for name in models}

    def timed(name: str) -> None:
        t0 = time.perf_counter()
        models[name](inp)
        times[name].append(time.perf_counter() - t0)

    with torch.no_grad():
        for name in alternated:
            models[name](inp)
        for _ in range(3):
            for name in alternated:
                timed(name)
        timed("complete")
    for name, model in models.items():
        out[name] = {"radius_A": model.radius, "directed_edges": int(model.edge_mask(inp).sum()),
                     "savings": model.savings, "forward_ms": round(1000 * min(times[name]), 1)}
    return out


@contextlib.contextmanager
def pair_limits_lifted():
    """Sampler batches cut by ``batch_size`` alone, as before :func:`molgen.sampling.sizes.sampler_batches`
    also cut them by atom pairs (for the side-by-side figure of ``sampling``)."""
    from molgen.sampling import sizes

    kept = sizes.MAX_BATCH_PAIRS, sizes.MAX_BATCH_CONTEXT_PAIRS
    sizes.MAX_BATCH_PAIRS = sizes.MAX_BATCH_CONTEXT_PAIRS = sys.maxsize
    try:
        yield
    finally:
        sizes.MAX_BATCH_PAIRS, sizes.MAX_BATCH_CONTEXT_PAIRS = kept


def measure_sampling(gm, pocket, num: int, steps: int, seed: int = 0, guidance=None) -> tuple[dict, list]:
    """Wall time to sample ``num`` ligands in ``pocket`` with ``batch_size=num`` (``guidance``: settings or
    None), as the sampler batches them (cut by atom pairs) and, next, in one batch of ``num``
    (``one_batch_seconds``; the same sizes)."""
    from molgen.sampling.conditioning import generate_conditioned_graphs
    from molgen.sampling.sizes import sampler_batches

    def timed() -> tuple[float, list]:
        t0 = time.perf_counter()
        graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, num, steps, pocket=pocket,
                                             batch_size=num, seed=seed, self_condition=gm.self_condition,
                                             guidance=guidance)
        return time.perf_counter() - t0, graphs

    seconds, graphs = timed()
    with pair_limits_lifted():
        one_batch, _ = timed()
    batches = sampler_batches([g.num_nodes for g in graphs], num, int(pocket.context.num_nodes))
    return {"num": num, "steps": steps, "seconds": round(seconds, 2), "ligands_per_s": round(num / seconds, 3),
            "batches": [b - a for a, b in batches], "one_batch_seconds": round(one_batch, 2),
            "mean_atoms": round(statistics.fmean(g.num_nodes for g in graphs), 1), "load": _load()}, graphs


def _vina(protein, mols, box, mode: str, **kw) -> list[float]:
    """Vina ``mode`` of every molecule (NaN where it failed); ``protein``: a receptor file or a
    :class:`~molgen.docking.receptor.PreparedReceptor`."""
    from molgen.docking import dock_ligands

    res = dock_ligands(protein, mols, mode=mode, box=box, **kw)
    return [float(v) if s == "ok" else math.nan for v, s in zip(res.table["vina_kcal_mol"], res.table["status"])]


def _dist(xs: list[float]) -> dict:
    """Vina scores (kcal/mol): how many, quartiles (linear interpolation), best; and the values themselves."""
    import numpy as np

    ok = [x for x in xs if math.isfinite(x)]
    if not ok:
        return {"n": 0, "failed": len(xs)}
    p25, p50, p75 = (round(float(v), 3) for v in np.percentile(ok, [25, 50, 75]))
    return {"n": len(ok), "failed": len(xs) - len(ok), "best": round(min(ok), 3),
            "p25": p25, "median": p50, "p75": p75, "values": [round(x, 3) for x in xs]}


def vina_modes(protein, mols, box, dock_num: int, workers: int) -> dict:
    """``score`` and ``minimize`` of every molecule, ``dock`` (exhaustiveness 8) of the first ``dock_num``."""
    out = {mode: _dist(_vina(protein, mols, box, mode, workers=workers)) for mode in ("score", "minimize")}
    if dock_num:
        out["dock"] = _dist(_vina(protein, mols[:dock_num], box, "dock", workers=workers, exhaustiveness=8))
    return out


def _frac(flags) -> float | None:
    flags = list(flags)
    return round(sum(bool(f) for f in flags) / len(flags), 3) if flags else None


def heavy_centroid(mol):
    """Centroid of a molecule's heavy atoms: [3] float, Å."""
    pos = mol.GetConformer().GetPositions()
    return pos[[a.GetAtomicNum() > 1 for a in mol.GetAtoms()]].mean(0)


def ligand_figures(mols, protein_heavy, ref_centroid) -> list[dict]:
    """Per RDKit molecule (or None): nearest protein heavy-atom distance and centroid offset, Å.

    Args:
        mols: molecules with one conformer, or None (no figures: NaN, which fails every cut).
        protein_heavy: [P, 3] float, Å: the protein heavy atoms.
        ref_centroid: [3] float, Å: the reference ligand's heavy-atom centroid.
    """
    import numpy as np

    out = []
    for m in mols:
        heavy = None
        if m is not None and m.GetNumConformers():
            pos = m.GetConformer().GetPositions()
            heavy = pos[[a.GetAtomicNum() > 1 for a in m.GetAtoms()]]
        if heavy is None or not len(heavy):
            out.append({"min_protein_dist_A": math.nan, "centroid_to_ref_A": math.nan})
            continue
        d = np.linalg.norm(heavy[:, None] - protein_heavy[None], axis=-1).min()
        out.append({"min_protein_dist_A": float(d),
                    "centroid_to_ref_A": float(np.linalg.norm(heavy.mean(0) - ref_centroid))})
    return out


def placement_figures(valid_connected, pb_valid, figs: list[dict]) -> dict:
    """Where the ligands are, over all of them (one flag and one :func:`ligand_figures` row each).

    ``min_protein_dist_A_median`` and ``frac_min_protein_dist_ge_2A`` (nearest protein heavy atom),
    ``centroid_to_ref_A_median`` and ``frac_centroid_within_4A`` (heavy-atom centroid to the reference
    ligand's), and ``all_targets``: valid & connected, pb_valid, >= 2 Å and within 4 Å at once. A
    ligand without figures (NaN) fails both cuts; medians are over the ligands that have figures.
    """
    dist = [f["min_protein_dist_A"] for f in figs]
    cent = [f["centroid_to_ref_A"] for f in figs]
    vc, pb = list(valid_connected), list(pb_valid)
    if not len(vc) == len(pb) == len(figs):
        raise ValueError(f"one flag per ligand: {len(vc)} valid_connected, {len(pb)} pb_valid, {len(figs)} figures")
    return {
        "min_protein_dist_A_median": _median(dist), "frac_min_protein_dist_ge_2A": _frac(d >= 2.0 for d in dist),
        "centroid_to_ref_A_median": _median(cent), "frac_centroid_within_4A": _frac(c <= 4.0 for c in cent),
        "all_targets": _frac(bool(v) and bool(b) and d >= 2.0 and c <= 4.0 for v, b, d, c in zip(vc, pb, dist, cent)),
    }


def relax_sanitisable(mols, protein_heavy) -> tuple[list, list[dict]]:
    """Every molecule RDKit can sanitise (a copy; None and the rest are passed over) relaxed in the pocket
    (:func:`molgen.docking.relax.relax_in_pocket`, default settings): (the relaxed molecules, one row per
    molecule tried, with ``relax_status`` and ``relax_rmsd_A``)."""
    from rdkit import Chem

    from molgen.docking.relax import RelaxSettings, relax_in_pocket

    relaxed, rows = [], []
    for m in mols:
        if m is None:
            continue
        mol = Chem.Mol(m)
        try:
            Chem.SanitizeMol(mol)
        except Exception:  # noqa: BLE001, S112 - only molecules RDKit accepts are relaxed
            continue
        new, row = relax_in_pocket(mol, protein_heavy, RelaxSettings())
        rows.append(row)
        if new is not None:
            relaxed.append(new)
    return relaxed, rows


def graph_mols(graphs, vocab) -> list:
    """Every generated graph as an RDKit molecule, unsanitised (None where RDKit cannot read the record)."""
    from rdkit import Chem

    from molgen.sampling.writers import graph_to_molblock

    out = []
    for g in graphs:
        block, _ = graph_to_molblock(g, vocab)
        out.append(Chem.MolFromMolBlock(block, sanitize=False, removeHs=False))
    return out


def generation_site(gm, protein: str, ref_mols, num: int, steps: int, seed: int, tmp: Path,
                    dock_num: int = 4, workers: int = 2, guidance=None, name: str | None = None,
                    validation: dict | None = None) -> dict:
    """Generated vs reference ligands in one held-out pocket.

    The first reference ligand defines the pocket, the Vina box and the reference centroid of the
    placement figures (:func:`placement_figures`, over all ``num`` generated ligands, against every
    heavy atom of ``protein``). ``guidance``: :class:`~molgen.sampling.guidance.GuidanceSettings` or
    None (off); ``validation``: keyword arguments of ``validate_molecules`` (``workers``,
    ``embed_timeout_s``) for all three validations.
    """
    from rdkit import Chem

    from molgen.docking import box_from_mols
    from molgen.docking.receptor import prepare_receptor
    from molgen.sampling.conditioning import generate_conditioned_graphs, load_pocket
    from molgen.sampling.writers import write_sdf
    from molgen.validation import validate_molecules
    from molgen.validation.io import load_protein

    pocket = load_pocket(protein, ref_ligand=ref_mols[0], vocab=gm.vocab)
    graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, num, steps, pocket=pocket,
                                         batch_size=num, seed=seed, self_condition=gm.self_condition,
                                         guidance=guidance)
    sdf = tmp / f"gen_{Path(protein).stem}.sdf"
    write_sdf(graphs, gm.vocab, sdf)
    gen = [m for m in Chem.SDMolSupplier(str(sdf), sanitize=True, removeHs=False)]
    vkw = validation or {}
    val = validate_molecules(graphs, vocab=gm.vocab, protein=protein, progress=False, **vkw)
    ref_val = validate_molecules(ref_mols, protein=protein, progress=False, **vkw)
    box = box_from_mols(ref_mols[:1], padding=6.0)
    # one preparation for the site's seven Vina runs (Meeko: 1.2-7.1 s per held-out receptor, quiet 2-core VM)
    receptor = prepare_receptor(protein, tmp / f"receptor_{Path(protein).stem}.pdbqt")
    valid_gen = [m for m in gen if m is not None]
    gen_modes = vina_modes(receptor, valid_gen, box, dock_num, workers) if valid_gen else {}
    ref_modes = vina_modes(receptor, ref_mols, box, dock_num, workers)
    gen_vina = gen_modes.get("minimize", {}).get("values", [])
    ok = [v for v in gen_vina if math.isfinite(v)]
    ref_med = ref_modes["minimize"].get("median")
    # the same coordinates with bonds re-perceived by RDKit (DetermineBonds): how good is the placement
    # and geometry, apart from the predicted bonds?
    val_rd = validate_molecules(graphs, vocab=gm.vocab, protein=protein, progress=False, bonds="rdkit", **vkw)
    rd_mols = [Chem.MolFromMolBlock(b, removeHs=False) for b, v in zip(val_rd.molblocks, val_rd.table["valid"])
               if v and b]
    rd_mols = [m for m in rd_mols if m is not None]
    rd_vina = _vina(receptor, rd_mols, box, "minimize") if rd_mols else []
    rd_ok = [v for v in rd_vina if math.isfinite(v)]
    t, rt, tr = val.table, ref_val.table, val_rd.table
    if len(t) != num:
        raise RuntimeError(f"{Path(protein).name}: {len(t)} validation rows for {num} generated ligands")
    figs = ligand_figures(graph_mols(graphs, gm.vocab), load_protein(protein).pos, heavy_centroid(ref_mols[0]))
    gen_med = _median(gen_vina)
    return {
        **({"complex": name} if name else {}),
        "protein": Path(protein).name, "pocket_atoms": int(pocket.context.num_nodes),
        "generated": num, "reference": len(ref_mols),
        "valid": round(float(t["valid"].mean()), 3), "valid_connected": round(float(t["valid_connected"].mean()), 3),
        "pb_valid": round(float(t["pb_valid"].mean()), 3), "reference_pb_valid": round(float(rt["pb_valid"].mean()), 3),
        **placement_figures(t["valid_connected"], t["pb_valid"], figs),
        "min_protein_dist_A": [round(f["min_protein_dist_A"], 3) for f in figs],
        "centroid_to_ref_A": [round(f["centroid_to_ref_A"], 3) for f in figs],
        "qed": _mean(t.loc[t["valid"], "qed"]), "reference_qed": _mean(rt["qed"]),
        "sa": _mean(t.loc[t["valid"], "sa"]), "reference_sa": _mean(rt["sa"]),
        "mean_heavy_atoms": _mean(t["n_heavy_atoms"].astype(float)), "reference_mean_heavy_atoms":
            _mean(rt["n_heavy_atoms"].astype(float)),
        "vina_scored": len(ok), "vina_median": gen_med, "vina_best": round(min(ok), 3) if ok else None,
        "reference_vina_median": ref_med,
        "vina_median_minus_reference": (round(gen_med - ref_med, 3)
                                        if gen_med is not None and ref_med is not None else None),
        "vina_score_median": gen_modes.get("score", {}).get("median"),
        "reference_vina_score_median": ref_modes["score"].get("median"),
        "vina_dock_median": gen_modes.get("dock", {}).get("median"),
        "reference_vina_dock_median": ref_modes.get("dock", {}).get("median"),
        "vina": {"generated": gen_modes, "reference": ref_modes},
        "frac_generated_better_than_reference_median": (round(sum(v < ref_med for v in ok) / num, 3)
                                                        if ok and ref_med is not None else 0.0),
        "rdkit_bonds_valid": round(float(tr["valid"].mean()), 3),
        "rdkit_bonds_valid_connected": round(float(tr["valid_connected"].mean()), 3),
        "rdkit_bonds_pb_valid": round(float(tr["pb_valid"].mean()), 3),
        "rdkit_bonds_qed": _mean(tr.loc[tr["valid"], "qed"]), "rdkit_bonds_sa": _mean(tr.loc[tr["valid"], "sa"]),
        "rdkit_bonds_vina_scored": len(rd_ok), "rdkit_bonds_vina_median": _median(rd_vina),
        "rdkit_bonds_vina_best": round(min(rd_ok), 3) if rd_ok else None,
    }


def pose_site(gm, protein: str, ligand: str, num: int, steps: int, seed: int, view: str, tmp: Path) -> dict:
    """Top-ranked generated pose vs Vina redocking for one crystal complex (receptor prepared into ``tmp``)."""
    from molgen.docking import box_from_mols, dock_ligands
    from molgen.docking.receptor import prepare_receptor
    from molgen.sampling.conditioning import load_pocket, read_first_mol, with_hydrogens
    from molgen.sampling.pose import generate_poses, heavy_rmsd, rank_poses

    crystal = with_hydrogens(read_first_mol(ligand))
    pocket = load_pocket(protein, ref_ligand=crystal, vocab=gm.vocab)
    t0 = time.perf_counter()
    poses = generate_poses(gm.model, gm.process, gm.vocab, crystal, num, steps, pocket=pocket,
                           node_attr_dim=gm.model.net.node_attr_dim, batch_size=num, seed=seed,
                           self_condition=gm.self_condition, view=view)
    gen_s = time.perf_counter() - t0
    raw_rmsd = [heavy_rmsd(p, crystal) for p in poses]
    box = box_from_mols([crystal], padding=4.0)
    # one preparation for both rankings and the redock
    receptor = prepare_receptor(protein, tmp / f"receptor_{Path(protein).stem}.pdbqt")
    out = {"complex": Path(ligand).parent.name, "heavy_atoms": crystal.GetNumHeavyAtoms(),
           "generate_s": round(gen_s, 2), "best_of_n_rmsd": _min(raw_rmsd), "median_rmsd": _median(raw_rmsd),
           "stereo_ok": sum(p.GetProp("stereo_ok") == "1" for p in poses)}
    for mode in ("score", "minimize"):
        try:
            ranked, rows = rank_poses(poses, receptor, mode, box=box)
            top = ranked[0] if rows[0]["status"] == "ok" else None
            out[f"top1_rmsd_{mode}"] = None if top is None else round(heavy_rmsd(top, crystal), 3)
            out[f"top1_vina_{mode}"] = None if top is None else round(float(rows[0]["vina_kcal_mol"]), 3)
            out[f"vina_ok_{mode}"] = sum(r["status"] == "ok" for r in rows)
        except Exception as err:  # noqa: BLE001 - one complex's failure is a field, not a crash
            out[f"top1_rmsd_{mode}"] = None
            out[f"error_{mode}"] = f"{type(err).__name__}: {str(err)[:200]}"
    t0 = time.perf_counter()
    res = dock_ligands(receptor, [crystal], mode="dock", box=box, exhaustiveness=8, seed=1)
    out["vina_dock_s"] = round(time.perf_counter() - t0, 2)
    ok = res.table["status"].iloc[0] == "ok"
    out["vina_dock_top1_rmsd"] = round(heavy_rmsd(res.poses[0][0], crystal), 3) if ok else None
    out["vina_dock_top1_kcal_mol"] = round(float(res.table["vina_kcal_mol"].iloc[0]), 3) if ok else None
    return out


def _min(xs):
    xs = [x for x in xs if math.isfinite(x)]
    return round(min(xs), 3) if xs else None


def site_means(rows: list[dict]) -> dict:
    """Mean of every numeric figure over the sites that have it (a site without valid ligands has no QED)."""
    keys = dict.fromkeys(k for r in rows for k, v in r.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool)
                         and k not in ("generated", "reference"))
    return {k: _mean([r.get(k) for r in rows]) for k in keys}


def _frac_below(rows: list[dict], key: str, cut: float = 2.0) -> float | None:
    vals = [r.get(key) for r in rows]
    return round(sum(v is not None and v < cut for v in vals) / len(rows), 3) if rows else None


#: The benchmark's parts, in the order they run (``--skip`` takes any of them).
PARTS = ("cost", "sampling", "generation", "crystal_generation", "poses")
#: Issue 16's thresholds on the mean over sites (None: reported, no threshold given).
GENERATION_TARGETS = (("valid_connected", 0.70, ">="), ("pb_valid", 0.50, ">="),
                      ("frac_centroid_within_4A", None, None), ("frac_min_protein_dist_ge_2A", None, None),
                      ("all_targets", None, None), ("qed", 0.5, ">="))
VINA_MARGIN = 1.0  # kcal/mol: generated Vina minimize median at most this above the reference ligands'
SAMPLING_SECONDS = 60.0  # 100 ligands in one pocket


def target(value, threshold, op: str | None) -> dict:
    """One target: the measured value, its threshold and whether it is met (None: no threshold).

    ``op`` is ``>=``, ``<=`` or ``<``. A value that could not be measured (None) does not meet a
    threshold.
    """
    if threshold is None:
        return {"value": value, "threshold": None, "op": None, "pass": None}
    if op not in (">=", "<=", "<"):
        raise ValueError(f"unknown comparison {op!r}")
    ok = value is not None and (value >= threshold if op == ">=" else value <= threshold if op == "<="
                                else value < threshold)
    return {"value": value, "threshold": threshold, "op": op, "pass": bool(ok)}


def generation_targets(part: dict) -> dict:
    """Issue 16's generation targets of one generation part (``{per_site, mean_over_sites}``).

    Fractions and QED are the means over sites; the Vina figure is the median over sites of the
    per-site difference between the generated and the reference ligands' Vina ``minimize`` medians
    (kcal/mol; a site without a scored generated ligand has none: ``sites`` of ``of`` say how many had one).
    """
    means, rows = part["mean_over_sites"], part["per_site"]
    out = {key: target(means.get(key), thr, op) for key, thr, op in GENERATION_TARGETS}
    diffs = [r.get("vina_median_minus_reference") for r in rows]
    diffs = [d for d in diffs if d is not None]
    out["vina_minimize_median_minus_reference"] = {**target(_median(diffs), VINA_MARGIN, "<="),
                                                   "sites": len(diffs), "of": len(rows)}
    return out


def pose_targets(rows: list[dict]) -> dict:
    """Top-ranked generated pose within 2 Å at least as often as Vina's redocking, per ranking (counts)."""
    def count(key: str) -> int:
        return sum(r.get(key) is not None and r[key] < 2.0 for r in rows)

    vina = count("vina_dock_top1_rmsd")
    return {f"top1_within_2A_{mode}": {**target(count(f"top1_rmsd_{mode}"), vina, ">="), "of": len(rows)}
            for mode in ("score", "minimize")} | {"vina_redock_within_2A": vina}


def targets_block(result: dict) -> dict:
    """Issue 16's targets from the parts of ``result`` that ran (see the module docstring)."""
    out = {}
    for part in ("generation", "crystal_generation"):
        if part in result:
            out[part] = generation_targets(result[part])
    if "poses" in result:
        out["poses"] = pose_targets(result["poses"]["per_complex"])
    if "sampling" in result:
        s = result["sampling"]
        out["sampling"] = {f"seconds_{s['num']}_ligands": target(s["seconds"], SAMPLING_SECONDS, "<"),
                           "torch_threads": result.get("torch_threads")}
    return out


def run_benchmark(checkpoint: Path, split_dir: Path, num: int, poses: int, steps: int, sites: int | None,
                  seed: int, view: str, skip: set[str], crystals: int | None = None, dock_num: int = 4,
                  process_options: dict | None = None, guidance=None, validation: dict | None = None,
                  first_site: int = 0) -> dict:
    """Every part not in ``skip`` (:data:`PARTS`) and the ``targets`` block; see the module docstring.

    ``sites``: N held-out FEP sites (one per target) from the ``first_site``-th on (0-based), None for all
    from there; ``crystals``: the first N
    crystal complexes (crystal generation and poses), None for all; ``guidance``:
    :class:`~molgen.sampling.guidance.GuidanceSettings` for sampling and both generation parts, or None;
    ``validation``: keyword arguments of ``validate_molecules`` (``workers``, ``embed_timeout_s``).
    """
    import torch

    from molgen.sampling.conditioning import load_pocket
    from molgen.training import load_model

    unknown = set(skip) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts to skip {sorted(unknown)}; known: {', '.join(PARTS)}")

    gm = load_model(checkpoint, process_options=process_options or None)
    split = json.loads((split_dir / "split.json").read_text())
    by_site = held_out_fep_sites(split_dir)
    if not 0 <= first_site < len(by_site):
        raise ValueError(f"first_site {first_site} out of range: there are {len(by_site)} held-out FEP sites")
    chosen = list(by_site)[first_site:][:sites]
    crystal_rows = ([] if {"crystal_generation", "poses"} <= skip
                    else _rows(split_dir / "test_crystal.csv")[:crystals])
    result = {"checkpoint": str(checkpoint), "meta": gm.meta, "split": {k: split[k] for k in (
        "seed", "test_fraction", "sites", "held_out_sites", "test_targets", "train_ligands", "test_fep_ligands")},
        "torch_threads": torch.get_num_threads(), "load_start": _load(), "settings": {
            "num": num, "poses": poses, "steps": steps, "sites": len(chosen), "first_site": first_site,
            "crystals": len(crystal_rows),
            "seed": seed, "view": view, "dock_num": dock_num, "process_options": process_options or {},
            "validation": validation or {},
            "guidance": None if guidance is None else guidance.summary(),
            # generate_poses takes no guidance: poses are the model's own
            "guidance_parts": [] if guidance is None else [
                part for part in ("sampling", "generation", "crystal_generation") if part not in skip],
            "skip": sorted(skip)}}
    if not {"cost", "sampling"} <= skip:  # both measured in the first chosen FEP site's pocket
        first = by_site[chosen[0]]
        pocket = load_pocket(first[0]["protein"], ref_ligand=_site_ligands(first, 1)[0], vocab=gm.vocab)
    if "cost" not in skip:
        result["cost"] = {"site": Path(first[0]["protein"]).name, **measure_cost(gm, pocket)}
        log.info("cost: %s", result["cost"])
    if "sampling" not in skip:
        result["sampling"], _ = measure_sampling(gm, pocket, 100, steps, seed, guidance)
        result["sampling"]["site"] = Path(first[0]["protein"]).name
        log.info("sampling: %s", result["sampling"])
    if "generation" not in skip:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for site in chosen:
                refs = _site_ligands(by_site[site], num)
                rows.append(generation_site(gm, site, refs, num, steps, seed, Path(tmp), dock_num,
                                            guidance=guidance, validation=validation))
                log.info("generation: %s", _scalars(rows[-1]))
        result["generation"] = {"per_site": rows, "mean_over_sites": site_means(rows)}
    if "crystal_generation" not in skip:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for r in crystal_rows:
                refs = _site_ligands([r], 1)
                rows.append(generation_site(gm, r["protein"], refs, num, steps, seed, Path(tmp), dock_num,
                                            guidance=guidance, name=r.get("name") or Path(r["ligand"]).parent.name,
                                            validation=validation))
                log.info("crystal generation: %s", _scalars(rows[-1]))
        result["crystal_generation"] = {"per_site": rows, "mean_over_sites": site_means(rows)}
    if "poses" not in skip:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for r in crystal_rows:
                rows.append(pose_site(gm, r["protein"], r["ligand"], poses, steps, seed, view, Path(tmp)))
                log.info("pose: %s", rows[-1])
        result["poses"] = {"per_complex": rows, "n": len(rows), "summary": {
            "top1_rmsd_lt2_score": _frac_below(rows, "top1_rmsd_score"),
            "top1_rmsd_lt2_minimize": _frac_below(rows, "top1_rmsd_minimize"),
            "best_of_n_rmsd_lt2": _frac_below(rows, "best_of_n_rmsd"),
            "vina_dock_top1_rmsd_lt2": _frac_below(rows, "vina_dock_top1_rmsd"),
            "median_top1_rmsd_minimize": _median([r.get("top1_rmsd_minimize") for r in rows]),
            "median_vina_dock_top1_rmsd": _median([r.get("vina_dock_top1_rmsd") for r in rows]),
        }}
    result["targets"] = targets_block(result)
    result["load_end"] = _load()
    return result


#: Settings that may differ between the benchmark JSONs ``merge_results`` joins.
MERGE_FREE_SETTINGS = ("sites", "first_site", "crystals", "skip", "guidance_parts")


def merge_results(results: list[dict]) -> dict:
    """Join benchmark results of one checkpoint and the same settings (see the module docstring).

    Raises:
        ValueError: different checkpoints or settings, a site or complex in two results, or a part
            other than the generation parts in two results.
    """
    if not results:
        raise ValueError("nothing to merge")
    first = results[0]

    def fixed(r):
        return {k: v for k, v in r["settings"].items() if k not in MERGE_FREE_SETTINGS}

    for r in results[1:]:
        if r["checkpoint"] != first["checkpoint"] or r.get("meta") != first.get("meta"):
            raise ValueError(f"different checkpoints: {first['checkpoint']} and {r['checkpoint']}")
        if fixed(r) != fixed(first):
            diff = sorted(k for k in fixed(r).keys() | fixed(first).keys() if fixed(r).get(k) != fixed(first).get(k))
            raise ValueError(f"different settings: {', '.join(diff)}")
    out = {k: first[k] for k in ("checkpoint", "meta", "split", "torch_threads") if k in first}
    out["settings"] = fixed(first) | {"merged_from": len(results)}
    for part in ("generation", "crystal_generation"):
        if not any(part in r for r in results):
            continue
        rows = [row for r in results for row in r.get(part, {}).get("per_site", [])]
        names = [row.get("complex") or row["protein"] for row in rows]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"{part}: {', '.join(map(str, twice))} in more than one result")
        out[part] = {"per_site": rows, "mean_over_sites": site_means(rows)}
    for part in ("cost", "sampling", "poses"):
        have = [r[part] for r in results if part in r]
        if len(have) > 1:
            raise ValueError(f"{part} is in {len(have)} results; it can come from one only")
        if have:
            out[part] = have[0]
    out["settings"]["sites"] = len(out.get("generation", {}).get("per_site", []))
    out["settings"]["crystals"] = len(out.get("crystal_generation", {}).get("per_site", []))
    out["settings"]["skip"] = [p for p in PARTS if p not in out]
    out["targets"] = targets_block(out)
    return out


def _scalars(row: dict) -> dict:
    return {k: v for k, v in row.items() if not isinstance(v, (list, dict))}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split-dir", type=Path, help="Where the split CSVs / split.json are (or go); needed except with --merge.")
    p.add_argument("--split-only", action="store_true", help="Write the split and stop.")
    p.add_argument("--fep-root", type=Path, help="Extracted schrodinger_fep_structure_inputs (for --split-only).")
    p.add_argument("--fep-index", type=Path, default=REPO.parent / "shared/data/fep_benchmark/fep_ligands_index.csv")
    p.add_argument("--pb-root", type=Path, help="Extracted posebusters_examples (for --split-only).")
    p.add_argument("--pb-index", type=Path,
                   default=REPO.parent / "shared/data/posebusters/posebusters_examples_index.csv")
    p.add_argument("--pb2-root", type=Path, help="Extracted posebusters_v2_train (for --split-only; optional).")
    p.add_argument("--pb2-index", type=Path, default=REPO.parent / "shared/data/posebusters_v2/index.csv")
    p.add_argument("--openff-root", type=Path, help="Extracted OpenFF benchmark's plb/data (--split-only; optional).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", type=Path, default=REPO / "data/checkpoints/pocket_flow.ckpt")
    p.add_argument("--out", type=Path, help="Benchmark JSON.")
    p.add_argument("--num", type=int, default=20, help="Generated (and reference) ligands per held-out site.")
    p.add_argument("--poses", type=int, default=20, help="Poses per crystal complex.")
    p.add_argument("--steps", type=int, default=20, help="Sampler steps.")
    p.add_argument("--sites", type=int, default=None,
                   help="Use only the first N held-out FEP sites (one per held-out target; default: all).")
    p.add_argument("--first-site", type=int, default=0, metavar="K",
                   help="Start at the K-th held-out FEP site (0-based); with --sites N, sites K..K+N-1.")
    p.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                   help="Join these benchmark JSONs (one checkpoint, the same settings) into --out and stop.")
    p.add_argument("--view", default="progressive", help="Pose view: progressive | revealed.")
    p.add_argument("--crystals", type=int, default=None, help="Use only the first N crystal complexes.")
    p.add_argument("--dock-num", type=int, default=4, help="Generated and reference ligands redocked per site.")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="Sampler setting replacing the model file's (repeatable), e.g. discrete_stochasticity=1.")
    p.add_argument("--guidance", action="store_true",
                   help="Guide sampling out of the protein and into the site (molgen.sampling.guidance) in the "
                        "sampling and both generation parts (not poses).")
    p.add_argument("--guidance-option", action="append", default=[], metavar="KEY=VALUE",
                   help="Guidance setting (repeatable), e.g. start=0.5 or clash_distance=3.0; implies --guidance.")
    p.add_argument("--skip", default="", help=f"Comma-separated parts to skip: {','.join(PARTS)}.")
    p.add_argument("--workers", type=int, default=0, help="Validation worker processes (0: in this process).")
    p.add_argument("--embed-timeout", type=int, default=None, metavar="S",
                   help="Time limit of each ETKDG ensemble of the internal-energy check, s (default: the "
                        "validator's); a ligand whose ensemble does not embed in time fails the check.")
    args = p.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(PARTS):
        p.error(f"--skip: unknown part(s) {','.join(sorted(skip - set(PARTS)))}; known: {','.join(PARTS)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.split_dir is None and not args.merge:
        p.error("--split-dir is required")
    if args.split_only:
        if args.fep_root is None or args.pb_root is None:
            p.error("--split-only needs --fep-root and --pb-root")
        split = write_split(args.fep_root, args.fep_index, args.pb_root, args.pb_index, args.split_dir, args.seed,
                            pb2_root=args.pb2_root, pb2_index=args.pb2_index, openff_root=args.openff_root)
        print(json.dumps({k: v for k, v in split.items() if k not in ("test_fep_sites", "site_target", "sites_split")},
                         indent=2))
        return
    if args.out is None:
        p.error("--out is required")
    if args.merge:
        try:
            result = merge_results([json.loads(path.read_text()) for path in args.merge])
        except (OSError, ValueError, KeyError) as err:
            print(f"error: --merge: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["targets"], indent=2))
        return
    from molgen.errors import MolgenError

    try:
        guidance = parse_guidance_options(args.guidance, args.guidance_option)
    except MolgenError as err:
        p.error(f"--guidance-option: {err}")
    try:
        result = run_benchmark(args.checkpoint, args.split_dir, args.num, args.poses, args.steps, args.sites,
                               args.seed, args.view, skip, args.crystals, args.dock_num,
                               parse_setting(",".join(args.option)), guidance=guidance,
                               validation=validation_settings(args.workers, args.embed_timeout),
                               first_site=args.first_site)
    except (MolgenError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result.get(k) for k in ("cost", "sampling")} | {
        "generation": result.get("generation", {}).get("mean_over_sites"),
        "crystal_generation": result.get("crystal_generation", {}).get("mean_over_sites"),
        "poses": result.get("poses", {}).get("summary"), "targets": result.get("targets")}, indent=2))


def validation_settings(workers: int, embed_timeout: int | None) -> dict:
    """``--workers`` / ``--embed-timeout`` -> keyword arguments of ``validate_molecules``."""
    return {"workers": workers, **({} if embed_timeout is None else {"embed_timeout_s": embed_timeout})}


def parse_guidance_options(on: bool, options: list[str]):
    """``--guidance`` / ``--guidance-option KEY=VALUE`` (values as YAML scalars) -> settings, or None (off).

    Raises:
        MolgenError: an unknown key or a value out of range.
    """
    from molgen.config import parse_options
    from molgen.sampling.guidance import parse_guidance

    if not on and not options:
        return None
    return parse_guidance(parse_options(options), source=None)


if __name__ == "__main__":
    main()
