"""How well the sampler's pocket-size lookup predicts ligand sizes: training sites left out, held-out sites.

    python -m benchmarks.pocket_sizes --stats data/checkpoints/pocket_flow.ckpt \\
        --split-dir runs/data/complexes_all/split --out benchmarks/results/pocket_sizes.json

``--stats`` is a model file or a prepared cache's ``stats.json``; it needs the ``pocket_sites`` table
(:mod:`molgen.data.stats`). Two parts:

* ``leave_one_site_out``: for every training site, its ligands' sizes predicted from the *other* sites
  only, by the site lookup (:func:`molgen.sampling.conditioning.site_size_weights`) with each of
  ``--nearest`` and by the binned per-complex table the sampler used before (the nearest bins of 10
  heavy pocket atoms pooled until they hold 50 ligands, rebuilt from the same sites). The figure is
  the mean absolute difference between the predicted mean size and each ligand's size, averaged
  over a site's ligands, then over sites; ``bias`` the same without the absolute value. The site's
  pocket is its median heavy pocket atom count (per-ligand pocket counts are not in the table).
* ``held_out`` (with ``--split-dir``): per held-out site of :func:`benchmarks.pocket_screen.screen_sites`
  (pocket cut around the site's first ligand), the mean size each lookup predicts from all training
  sites against that ligand's heavy atoms; means per part (``fep``, ``crystal``).

No sampling: the predicted mean is the mixture's expectation, not a draw. Writes one JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from functools import partial
from pathlib import Path

BIN_WIDTH = 10


def _mean_of(weights: dict[int, float]) -> float:
    return sum(n * w for n, w in weights.items()) / sum(weights.values())


def binned_weights(sites: list[dict], heavy_atoms: float) -> dict[int, int]:
    """The binned per-complex lookup over ``sites``: every site's ligands in the bin of its median."""
    from molgen.sampling.conditioning import binned_size_weights

    bins: dict[int, dict[int, int]] = {}
    for site in sites:
        hist = bins.setdefault(int(site["pocket_heavy_median"]) // BIN_WIDTH * BIN_WIDTH, {})
        for n, c in site["ligand_hist"].items():
            hist[int(n)] = hist.get(int(n), 0) + int(c)
    return binned_size_weights(bins, heavy_atoms, BIN_WIDTH)


def lookups(nearest: list[int]):
    """``{name: f(sites, heavy_atoms) -> weights}`` for every lookup compared."""
    from molgen.sampling.conditioning import site_size_weights

    return {"binned_per_complex": binned_weights} | {
        f"nearest_{k}_sites": partial(site_size_weights, nearest=k) for k in nearest}


def leave_one_site_out(sites: list[dict], nearest: list[int]) -> dict:
    out = {}
    for name, f in lookups(nearest).items():
        errs, biases = [], []
        for k, site in enumerate(sites):
            pred = _mean_of(f(sites[:k] + sites[k + 1:], site["pocket_heavy_median"]))
            hist = {int(n): int(c) for n, c in site["ligand_hist"].items()}
            total = sum(hist.values())
            errs.append(sum(abs(pred - n) * c for n, c in hist.items()) / total)
            biases.append(sum((pred - n) * c for n, c in hist.items()) / total)
        out[name] = {"mae": round(statistics.fmean(errs), 3), "bias": round(statistics.fmean(biases), 3)}
    return {"sites": len(sites), "lookups": out}


def held_out(sites: list[dict], split_dir: Path, nearest: list[int]) -> dict:
    from benchmarks.pocket import _site_ligands
    from benchmarks.pocket_screen import screen_sites
    from molgen.chem.vocab import get_vocab
    from molgen.sampling.conditioning import load_pocket

    vocab = get_vocab("drug_heavy")
    fs = lookups(nearest)
    rows = []
    for name, part, row in screen_sites(split_dir):
        ref = _site_ligands([row], 1)[0]
        pocket = load_pocket(row["protein"], ref_ligand=ref, vocab=vocab)
        rows.append({"site": name, "part": part, "pocket_heavy_atoms": pocket.heavy_atoms,
                     "reference_heavy_atoms": ref.GetNumHeavyAtoms(),
                     **{k: round(_mean_of(f(sites, pocket.heavy_atoms)), 2) for k, f in fs.items()}})
    means = {}
    for part in ("fep", "crystal"):
        rr = [r for r in rows if r["part"] == part]
        if rr:
            means[part] = {"sites": len(rr), "reference": round(statistics.fmean(r["reference_heavy_atoms"] for r in rr), 2),
                           **{k: {"mean": round(statistics.fmean(r[k] for r in rr), 2),
                                  "mae": round(statistics.fmean(abs(r[k] - r["reference_heavy_atoms"]) for r in rr), 2)}
                              for k in fs}}
    return {"per_site": rows, "means": means}


def load_sites(path: Path) -> list[dict]:
    from molgen.errors import MolgenError

    if not path.is_file():
        raise MolgenError("no such file", path)
    if path.suffix == ".json":
        stats = json.loads(path.read_text())
    else:
        from molgen.training import load_model

        stats = load_model(path).stats
    sites = stats.get("pocket_sites", {}).get("sites")
    if not sites:
        raise MolgenError("no pocket_sites table in these statistics (prepare the complexes again)", path)
    return sites


def main(argv: list[str] | None = None) -> dict:
    from molgen.errors import MolgenError

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stats", type=Path, required=True, help="model file or stats.json with pocket_sites")
    ap.add_argument("--split-dir", type=Path, help="split of benchmarks.pocket: also the held-out sites")
    ap.add_argument("--nearest", default="5,10,20,40", help="site counts to compare, comma-separated")
    ap.add_argument("--out", type=Path, help="JSON to write")
    args = ap.parse_args(argv)
    try:
        nearest = [int(k) for k in args.nearest.split(",")]
        sites = load_sites(args.stats)
        result = {"stats": str(args.stats), "leave_one_site_out": leave_one_site_out(sites, nearest)}
        if args.split_dir is not None:
            if not (args.split_dir / "split.json").is_file():
                raise MolgenError("no split.json in the split folder", args.split_dir)
            result["held_out"] = held_out(sites, args.split_dir, nearest)
    except (MolgenError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(json.dumps({"leave_one_site_out": result["leave_one_site_out"],
                      "held_out": result.get("held_out", {}).get("means")}, indent=1))
    return result


if __name__ == "__main__":
    main()
