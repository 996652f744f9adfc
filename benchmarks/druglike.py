"""Drug-like quality of generated molecules, side by side with MOSES test molecules (issue 16).

    python -m benchmarks.druglike --checkpoint runs/drug_heavy_flow/model.ckpt --num 1000 --steps 20 \
        --reference-csv ../shared/data/moses/test.csv.gz --reference-num 1000 --reference-3d 100 \
        --novelty-csv ../shared/data/moses/train.csv.gz --workers 16 --out benchmarks/results/druglike.json

    python -m benchmarks.druglike --sdf generated.sdf --out druglike_sdf.json    # judge a file, no sampling

Three columns, each from the SDF or SMILES its molecules come in, judged by the same code:

* generated: ``--num`` molecules sampled from ``--checkpoint`` (``--steps``, ``--seed``), written to an SDF
  with :func:`molgen.sampling.writers.write_sdf` (a heavy-atom model's hydrogens come from RDKit there), and
  that file validated with :func:`molgen.validation.validate_sdf` and every ligand-only check it has (so
  ``pb_valid`` and the strain energy exist). Every molecule asked for is written and counted, none dropped.
  With ``--sdf FILE`` the file is judged as it is.
* reference: ``--reference-num`` SMILES drawn at random (``--reference-seed``) from ``--reference-csv``
  (MOSES format: a ``SMILES`` column, optionally gzipped). Only the figures that need no 3D (QED, SA, rings,
  heavy atoms), computed by :func:`molgen.validation.properties.properties` as validation computes them.
* reference 3D: the first ``--reference-3d`` of those drawn, embedded with the training data's own
  ETKDG+MMFF (:func:`molgen.data.moses.embed_smiles`, per-molecule seed as in ``molgen data prepare moses``),
  written to an SDF and validated as the generated file is: the pb_valid and strain a model that
  reproduced its training conformers would get (MMFF-relaxed, so their strain is near zero).

Per column: validity (of all molecules), uniqueness (distinct canonical SMILES over valid), novelty,
QED, SA, strain, heavy atoms and rings per molecule, rings per molecule by size (3, 4, 5, 6, 7, 8+), the
share of molecules with an aromatic ring and with a ring of <= 4 or >= 8 atoms (the rings generators get
wrong). Chemistry figures are over the valid molecules, on the largest fragment without hydrogens (as
:mod:`molgen.validation.properties` defines them; heavy atoms count every fragment). The total-variation
distances of atom counts (hydrogens included), element frequencies, ring sizes and bond types of the
generated molecules from the reference SMILES are those of :mod:`molgen.validation.distributions`.

Novelty (``--novelty-csv``, default the MOSES training set beside the checkout when it is there; ``none``
to skip) is a string match: the canonical non-isomeric SMILES of a molecule against the set of the file's
SMILES as written, which takes seconds for MOSES's 1.58 M rows where canonicalising them all would take
about half an hour of CPU. MOSES SMILES are RDKit-canonical without stereo; re-canonicalised with this
project's RDKit, 19,989 of the first 20,000 training SMILES come out the same (the 11 others differ in the
aromaticity of fused azoles or an explicit ``[H]``), so a molecule whose training twin is among that ~0.06%
is counted novel.

By size (``--sizes 16,20,24,28``, with ``--size-num`` molecules per size): validity and valid & connected
of molecules sampled with exactly that many atoms (RDKit sanitisation and fragments only, no other check),
beside the share of reference SMILES of that heavy-atom count. It says up to what size the model's chemistry
holds, which decides what a pocket model fine-tuned from it can be asked for.

Writes the JSON (machine, date, arguments, the model file's meta) and a Markdown table beside it (``.md``).
A missing checkpoint, SDF or CSV is one line naming the file, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
MOSES = REPO.parent / "shared" / "data" / "moses"
#: Ring-size bins of the histogram (the last one is 8 and more).
RING_BINS = ("3", "4", "5", "6", "7", "8+")
DISTANCES = ("n_atoms_tv", "atom_types_tv", "ring_sizes_tv", "bond_types_tv")
COLUMNS = ("generated", "reference", "reference_3d")
#: Table rows: key of :func:`molecule_stats` (or of the distances), label, format.
ROWS = (
    ("asked", "molecules asked for (reference: drawn; in 3D: to embed)", "d"),
    ("n", "molecules written and judged", "d"),
    ("valid", "valid (of all)", ".3f"),
    ("valid_connected", "valid & connected (of all)", ".3f"),
    ("pb_valid", "PoseBusters-valid, ligand checks (of all)", ".3f"),
    ("n_valid", "valid molecules (the figures below are over these)", "d"),
    ("unique", "unique (distinct SMILES / valid)", ".3f"),
    ("novel", "novel (distinct SMILES not in the training SMILES / distinct)", ".3f"),
    ("qed_mean", "QED mean", ".3f"),
    ("qed_median", "QED median", ".3f"),
    ("sa_mean", "SA score mean (1 easy, 10 hard)", ".2f"),
    ("strain_median", "strain energy median, kcal/mol", ".1f"),
    ("heavy_atoms_mean", "heavy atoms per molecule, mean", ".1f"),
    ("rings_mean", "rings per molecule, mean", ".2f"),
    *((f"rings_{b}", f"rings of {b} atoms per molecule", ".3f") for b in RING_BINS),
    ("aromatic_fraction", "with an aromatic ring", ".3f"),
    ("ring_le4_fraction", "with a ring of <= 4 atoms", ".3f"),
    ("ring_ge8_fraction", "with a ring of >= 8 atoms", ".3f"),
    ("ring_le4_or_ge8_fraction", "with a ring of <= 4 or >= 8 atoms", ".3f"),
    ("n_atoms_tv", "TV distance from the reference SMILES: atoms per molecule (with H)", ".3f"),
    ("atom_types_tv", "TV distance: element frequencies (with H)", ".3f"),
    ("ring_sizes_tv", "TV distance: ring sizes", ".3f"),
    ("bond_types_tv", "TV distance: heavy-atom bond types", ".3f"),
)


def _mean(values: pd.Series) -> float | None:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return None if v.empty else float(v.mean())


def _median(values: pd.Series) -> float | None:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return None if v.empty else float(v.median())


def _frac(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _has_aromatic_ring(smiles: str) -> bool:
    from rdkit import Chem
    from rdkit.Chem.rdMolDescriptors import CalcNumAromaticRings

    mol = Chem.MolFromSmiles(smiles)
    return mol is not None and CalcNumAromaticRings(mol) > 0


def _ring_list(text) -> list[int]:
    return [int(s) for s in text.split(",") if s] if isinstance(text, str) else []


def molecule_stats(table: pd.DataFrame, novelty: set[str] | None = None) -> dict:
    """The figures of one column from its per-molecule table.

    Args:
        table: one row per molecule judged, with the validation table's columns ``valid``,
            ``valid_connected``, ``smiles`` (canonical, largest fragment), ``qed``, ``sa``, ``n_rings``,
            ``ring_sizes`` (``"5,6,6"``), ``n_heavy_atoms`` and optionally ``pb_valid`` and
            ``strain_energy_kcal_mol`` (absent: those figures are None).
        novelty: training SMILES for ``novel`` (None: ``novel`` is None).

    Returns:
        The keys of :data:`ROWS` but the distances, plus ``ring_size_counts`` (rings per size bin).
    """
    n = len(table)
    valid = table[table["valid"].astype(bool)]
    distinct = {s for s in valid["smiles"] if isinstance(s, str) and s}
    rings = [_ring_list(t) for t in valid["ring_sizes"]]
    counts = Counter("8+" if r >= 8 else str(r) for rs in rings for r in rs)
    nv = len(valid)
    aromatic = sum(isinstance(smi, str) and _has_aromatic_ring(smi) for smi in valid["smiles"])
    strain = valid.get("strain_energy_kcal_mol")
    return {
        "n": n,
        "valid": _frac(nv, n),
        "valid_connected": _frac(int(table["valid_connected"].astype(bool).sum()), n),
        "pb_valid": _frac(int(table["pb_valid"].astype(bool).sum()), n) if "pb_valid" in table else None,
        "n_valid": nv,
        "unique": _frac(len(distinct), nv),
        "novel": None if novelty is None else _frac(len(distinct - novelty), len(distinct)),
        "qed_mean": _mean(valid["qed"]),
        "qed_median": _median(valid["qed"]),
        "sa_mean": _mean(valid["sa"]),
        "strain_median": None if strain is None else _median(strain),
        "heavy_atoms_mean": _mean(valid["n_heavy_atoms"]),
        "rings_mean": _mean(valid["n_rings"]),
        **{f"rings_{b}": _frac(counts.get(b, 0), nv) for b in RING_BINS},
        "aromatic_fraction": _frac(aromatic, nv),
        "ring_le4_fraction": _frac(sum(any(r <= 4 for r in rs) for rs in rings), nv),
        "ring_ge8_fraction": _frac(sum(any(r >= 8 for r in rs) for rs in rings), nv),
        "ring_le4_or_ge8_fraction": _frac(sum(any(r <= 4 or r >= 8 for r in rs) for rs in rings), nv),
        "ring_size_counts": {b: counts.get(b, 0) for b in RING_BINS},
    }


def smiles_table(smiles: list[str]) -> pd.DataFrame:
    """Per-molecule table of SMILES (no 3D), with the columns :func:`molecule_stats` reads; a SMILES RDKit
    cannot read is a row with ``valid`` false."""
    from rdkit import Chem, rdBase

    from molgen.validation.properties import canonical_smiles, properties

    rows = []
    with rdBase.BlockLogs():
        for s in smiles:
            mol = Chem.MolFromSmiles(s)
            if mol is None:
                rows.append({"input": s, "valid": False, "valid_connected": False})
                continue
            rows.append({"input": s, "valid": True, "valid_connected": len(Chem.GetMolFrags(mol)) == 1,
                         "smiles": canonical_smiles(mol), "n_heavy_atoms": mol.GetNumHeavyAtoms(),
                         **properties(mol)})
    return pd.DataFrame(rows).reindex(columns=["input", "valid", "valid_connected", "smiles", "n_heavy_atoms",
                                               "qed", "sa", "n_rings", "ring_sizes"])


def draw_reference(smiles: list[str], num: int, seed: int) -> list[str]:
    """``num`` SMILES drawn without replacement in a seeded random order (all of them, shuffled, when the
    file has fewer); the first K of the draw are a seeded random subset too (the 3D reference)."""
    order = np.random.default_rng(seed).permutation(len(smiles))[:num]
    return [smiles[i] for i in order]


def embed_reference(smiles: list[str], seed: int, sdf: Path) -> dict:
    """Embed SMILES as the training data is embedded and write them to ``sdf`` (those that embed).

    Returns:
        ``asked``, ``embedded``, ``failed`` (reason -> count) and ``force_field`` (method -> count).
    """
    from rdkit import Chem, rdBase

    from molgen.data.moses import embed_smiles, molecule_seed
    from molgen.errors import SkipRecord

    failed, methods = Counter(), Counter()
    sdf.parent.mkdir(parents=True, exist_ok=True)
    with rdBase.BlockLogs(), Chem.SDWriter(str(sdf)) as writer:
        for i, s in enumerate(smiles):
            try:
                mol, method, _ = embed_smiles(s, molecule_seed(s, seed))
            except SkipRecord as err:
                failed[err.reason] += 1
                continue
            mol.SetProp("_Name", f"reference:{i}")
            writer.write(mol)
            methods[method] += 1
    return {"asked": len(smiles), "embedded": sum(methods.values()), "failed": dict(failed),
            "force_field": dict(methods)}


def sample_sdf(gm, num: int, steps: int, batch_size: int, seed: int, device: str, sdf: Path) -> dict:
    """Sample ``num`` molecules and write all of them to ``sdf`` (:func:`benchmarks.sampling_quality.sample_to_sdf`;
    that module's ``measure`` validates with no check, so it gives no ``pb_valid``)."""
    from benchmarks.sampling_quality import sample_to_sdf

    out = sample_to_sdf(gm, num, steps, batch_size, seed, sdf, device)
    return {"num": num, "steps": steps, "seed": seed, "batch_size": batch_size, "device": device,
            "written": out["written"], "sampling_seconds": round(out["sampling_seconds"], 2),
            "molecules_per_s": round(out["molecules_per_s"], 2)}


def size_curve(gm, sizes: list[int], num: int, steps: int, seed: int, batch_size: int,
               reference_heavy: list[int]) -> list[dict]:
    """Per size: ``num`` molecules of exactly that many atoms, their ``valid`` and ``valid_connected``
    (sanitisation and fragments only), and the share of ``reference_heavy`` (heavy-atom counts) at that size."""
    from molgen.sampling.conditioning import generate_conditioned_graphs
    from molgen.validation import validate_molecules

    rows = []
    for size in sizes:
        t0 = time.perf_counter()
        graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, num, steps,
                                             batch_size=batch_size, seed=seed, num_atoms=size,
                                             self_condition=gm.self_condition)
        table = validate_molecules(graphs, vocab=gm.vocab, checks=(), progress=False).table
        rows.append({"atoms": size, "n": len(table), "valid": round(float(table["valid"].mean()), 3),
                     "valid_connected": round(float(table["valid_connected"].mean()), 3),
                     "reference_share": round(sum(h == size for h in reference_heavy) / max(1, len(reference_heavy)), 4),
                     "seconds": round(time.perf_counter() - t0, 1)})
        log.info("by size: %s", rows[-1])
    return rows


def judge_sdf(sdf: Path, vocab, reference, workers: int):
    """Validate an SDF with every ligand-only check (so ``pb_valid`` and strain); ``reference`` (a loaded
    :class:`~molgen.validation.reference.Reference` or None) gives the distances."""
    from molgen.validation import validate_sdf

    return validate_sdf(sdf, vocab=vocab, reference=reference, workers=workers, progress=True)


def load_novelty(spec: str | None) -> tuple[set[str] | None, dict | None]:
    """The training SMILES of ``--novelty-csv`` as a set of the file's strings (see the module docstring),
    and what it was; ``(None, None)`` for ``none``."""
    from molgen.data.moses import read_smiles_csv

    if spec is None or spec.lower() == "none":
        return None, None
    t0 = time.perf_counter()
    smiles, _ = read_smiles_csv(spec)
    path = Path(spec).expanduser().resolve()
    smiles = set(smiles)
    info = {"source": str(path), "n_smiles": len(smiles), "seconds": round(time.perf_counter() - t0, 1),
            "match": "canonical SMILES of a molecule against the file's SMILES as written"}
    log.info("novelty: %d SMILES from %s in %.0f s", len(smiles), path, info["seconds"])
    return smiles, info


def _json_value(value):
    """numpy scalars (from a checkpoint's meta or pandas) as Python numbers."""
    return value.item() if isinstance(value, np.generic) else str(value)


def _fmt(value, spec: str) -> str:
    if value is None:
        return ""
    return f"{value:,}" if spec == "d" else format(value, spec)


def markdown(result: dict) -> str:
    """The table, generated against the reference columns, with a line saying where each comes from."""
    g, r, r3 = (result[c] for c in COLUMNS)
    if result.get("checkpoint"):
        s = result["sampling"]
        what = (f"`{result['checkpoint']}` (step {result['trained'].get('global_step')}), {s['num']:,} "
                f"molecules asked, {s['steps']} steps, seed {s['seed']}, written to `{result['sdf']}`")
    else:
        what = f"the molecules of `{result['sdf']}`"
    ref = result["reference_source"]
    emb = result["reference_embedding"]
    nov = result.get("novelty")
    novelty = (f"Novelty against `{nov['source']}` ({nov['n_smiles']:,} SMILES, string match)." if nov
               else "No novelty set.")
    head = (f"Generated: {what}. Reference: {r['n']:,} SMILES drawn at random (seed {ref['seed']}) from "
            f"`{ref['source']}` ({ref['n_total']:,} rows); the first {emb['asked']:,} of them embedded with "
            f"ETKDG+MMFF as the training data is ({emb['embedded']:,} embedded) and validated like the "
            f"generated file. {novelty}")
    header = (f"| statistic | generated (n={g['n']:,}) | MOSES test SMILES (n={r['n']:,}) "
              f"| MOSES test in 3D (n={r3['n']:,}) |")
    lines = [head, "", header, "|---|---|---|---|"]
    for key, label, spec in ROWS:
        lines.append(f"| {label} | " + " | ".join(_fmt(result[c].get(key), spec) for c in COLUMNS) + " |")
    if result.get("by_size"):
        lines += ["", "By size (molecules sampled with exactly that many atoms; sanitisation and fragments only):", "",
                  "| atoms | n | valid | valid & connected | share of reference SMILES |", "|---|---|---|---|---|"]
        lines += [f"| {r['atoms']} | {r['n']} | {r['valid']:.3f} | {r['valid_connected']:.3f} | "
                  f"{r['reference_share']:.3f} |" for r in result["by_size"]]
    lines += ["", f"Command: `{result['command']}`"]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, command: str) -> dict:
    """The benchmark (see the module docstring); ``command`` is recorded in the output."""
    import rdkit
    import torch

    from molgen.data.moses import read_smiles_csv
    from molgen.errors import require_file
    from molgen.validation.reference import load_reference

    # every input is checked before minutes of sampling are spent
    ref_path = require_file(args.reference_csv, "reference SMILES CSV")
    if args.sdf is not None:
        require_file(args.sdf, "SDF file")
    if args.novelty_csv is not None and args.novelty_csv.lower() != "none":
        require_file(args.novelty_csv, "novelty SMILES CSV")
    gm = None
    if args.checkpoint is not None:
        from benchmarks.sampler_settings import parse_setting
        from molgen.training.checkpoint import load_model

        torch.set_num_threads(args.threads)
        opts = parse_setting(",".join(args.option))
        gm = load_model(args.checkpoint, device=args.device, process_options=opts or None)

    work = args.save_sdf or Path(tempfile.mkdtemp(prefix="molgen_druglike_"))
    work.mkdir(parents=True, exist_ok=True)
    all_ref, _ = read_smiles_csv(ref_path)
    drawn = draw_reference(all_ref, args.reference_num, args.reference_seed)
    if not drawn:
        from molgen.errors import MolgenError

        raise MolgenError("no SMILES rows", ref_path)
    drawn_file = work / "reference_sample.smi"
    drawn_file.write_text("".join(f"{s}\n" for s in drawn))
    reference = load_reference(drawn_file)  # the distances' reference: these SMILES with RDKit's hydrogens
    novelty, novelty_info = load_novelty(args.novelty_csv)

    result: dict = {"command": command, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                    "torch": torch.__version__, "rdkit": rdkit.__version__}
    if gm is not None:
        from molgen.validation.io import validation_vocab

        sdf = work / "generated.sdf"
        result.update(checkpoint=str(args.checkpoint), trained=gm.meta, vocab=gm.vocab.name,
                      process=gm.config["process"], model=gm.config["model"], threads=args.threads)
        result["sampling"] = sample_sdf(gm, args.num, args.steps, args.batch_size, args.seed, args.device,
                                        sdf)
        vocab = validation_vocab(gm.vocab)
    else:
        from molgen.validation.io import sdf_vocab

        sdf = Path(args.sdf)
        vocab = sdf_vocab(sdf)[0]
    result["sdf"] = str(sdf)
    gen = judge_sdf(sdf, vocab, reference, args.workers)
    result["generated"] = {"asked": result.get("sampling", {}).get("num"),
                           **molecule_stats(gen.table, novelty),
                           **{k: gen.metrics.get("distributions", {}).get(k) for k in DISTANCES},
                           "checks": gen.metrics.get("checks"), "reasons": gen.metrics.get("reasons")}

    ref_table = smiles_table(drawn)
    result["reference"] = {"asked": len(drawn), **molecule_stats(ref_table, novelty)}
    result["reference_source"] = {"source": str(ref_path), "n_total": len(all_ref),
                                  "seed": args.reference_seed, "sample": str(drawn_file)}
    ref_sdf = work / "reference_3d.sdf"
    emb = embed_reference(drawn[: args.reference_3d], args.reference_seed, ref_sdf)
    result["reference_embedding"] = {**emb, "sdf": str(ref_sdf), "seed": args.reference_seed}
    if emb["embedded"]:
        ref3d = judge_sdf(ref_sdf, None, None, args.workers)
        result["reference_3d"] = {"asked": emb["asked"], **molecule_stats(ref3d.table, novelty),
                                  "checks": ref3d.metrics.get("checks"),
                                  "reasons": ref3d.metrics.get("reasons")}
    else:
        result["reference_3d"] = {"asked": emb["asked"], "n": 0}
    result["novelty"] = novelty_info
    if gm is not None and args.sizes:
        heavy = [int(n) for n in ref_table["n_heavy_atoms"].dropna()]
        result["by_size"] = size_curve(gm, args.sizes, args.size_num, args.steps, args.seed,
                                       args.batch_size, heavy)
    result["rows"] = [{"statistic": key, "label": label, **{c: result[c].get(key) for c in COLUMNS}}
                      for key, label, _ in ROWS]
    result["columns"] = {"generated": f"generated (n={result['generated']['n']})",
                         "reference": f"MOSES test SMILES (n={result['reference']['n']})",
                         "reference_3d": f"MOSES test in 3D, ETKDG+MMFF (n={result['reference_3d']['n']})"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=_json_value) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    return result


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.druglike", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="model file to sample from")
    src.add_argument("--sdf", type=Path, help="judge the molecules of this SDF instead (no sampling)")
    ap.add_argument("--num", type=int, default=1000, help="molecules to sample")
    ap.add_argument("--steps", type=int, default=20, help="sampler steps")
    ap.add_argument("--batch-size", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0, help="sampling seed")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for sampling")
    ap.add_argument("--device", default="cpu", help="sampling device (cpu, cuda)")
    ap.add_argument("--option", action="append", default=[], help="process override key=value for sampling")
    ap.add_argument("--sizes", type=lambda text: [int(x) for x in text.split(",") if x.strip()], default=[],
                    help="comma-separated atom counts for the by-size part (e.g. 16,20,24,28; default: none)")
    ap.add_argument("--size-num", type=int, default=100, help="molecules sampled per size in the by-size part")
    ap.add_argument("--workers", type=int, default=0, help="validation worker processes (0: in this process)")
    ap.add_argument("--reference-csv", type=Path, default=MOSES / "test.csv.gz",
                    help="reference SMILES CSV, MOSES format (default: MOSES test beside the checkout)")
    ap.add_argument("--reference-num", type=int, default=1000, help="reference SMILES drawn")
    ap.add_argument("--reference-3d", type=int, default=100, help="of those, how many are embedded in 3D")
    ap.add_argument("--reference-seed", type=int, default=0, help="seed of the draw and of the embedding")
    ap.add_argument("--novelty-csv", default=None,
                    help="training SMILES CSV for novelty (default: MOSES train beside the checkout if "
                         "there; 'none' to skip)")
    ap.add_argument("--save-sdf", type=Path, default=None,
                    help="folder for the SDF files and the reference sample (default: a temporary folder)")
    ap.add_argument("--out", type=Path, required=True, help="results JSON (the .md table goes beside it)")
    return ap


def main(argv: list[str] | None = None) -> dict:
    from molgen.errors import MolgenError

    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    if args.novelty_csv is None and (MOSES / "train.csv.gz").is_file():
        args.novelty_csv = str(MOSES / "train.csv.gz")
    for name in ("num", "steps", "batch_size", "reference_num"):
        if getattr(args, name) < 1:
            parser().error(f"--{name.replace('_', '-')} must be at least 1")
    if args.reference_3d < 0:
        parser().error("--reference-3d must be at least 0")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = run(args, shlex.join(["python", "-m", "benchmarks.druglike", *argv]))
    except MolgenError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    print(f"results: {args.out} (+ {args.out.with_suffix('.md').name})")
    return result


if __name__ == "__main__":
    main()
