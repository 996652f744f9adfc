"""The ``molgen`` command. Each subcommand parses its arguments and calls one library function.

User errors (:class:`molgen.errors.MolgenError`) print one line on stderr and exit 2, no traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from molgen.errors import MolgenError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="3D molecule generation, validation and docking.")
data_app = typer.Typer(no_args_is_help=True, help="Prepare datasets into cached tensors and inspect them.")
app.add_typer(data_app, name="data")


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("lightning.pytorch").propagate = False  # Lightning prints through its own handler


def _print_json(obj: dict) -> None:
    typer.echo(json.dumps(obj, indent=2))


@data_app.command("prepare")
def data_prepare(
    kind: str = typer.Argument(..., help="qm9 | sdf | moses | complexes"),
    inputs: list[Path] = typer.Argument(None, help="Input files (sdf: files or folders; moses: SMILES CSV; "
                                                    "complexes: index CSV; qm9: qm9pack CSV folder or QM9 archive)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output cache directory."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Keep at most this many molecules."),
    skip: int = typer.Option(0, "--skip", help="moses: leave out the first N SMILES rows (prepare a large "
                             "set slice by slice: --skip 10000 --limit 10000)."),
    vocab: str = typer.Option("drug", "--vocab", help="Element vocabulary: drug | drug_heavy for "
                              "sdf/moses/complexes; qm9 (default for qm9) | qm9_heavy for qm9."),
    cutoff: float = typer.Option(8.0, "--cutoff", help="complexes: pocket cutoff around the ligand, Å."),
    ca_only: bool = typer.Option(False, "--ca-only", help="complexes: pocket as Cα atoms only."),
    workers: int = typer.Option(0, "--workers", help="qm9/moses: worker processes (0 = all cores)."),
    seed: int = typer.Option(0, "--seed", help="Seed for splits and conformer embedding."),
    download: bool = typer.Option(False, "--download", help="qm9: download the official archive if no input."),
) -> None:
    """Prepare a dataset into DIR (cache + stats.json + summary.json); prints the summary."""
    from molgen.data import prepare_dataset

    summary = prepare_dataset(
        kind, inputs or [], out, limit=limit, skip=skip, vocab=vocab, cutoff=cutoff, ca_only=ca_only,
        workers=workers, seed=seed, download=download,
    )
    _print_json(summary)


@data_app.command("info")
def data_info(path: Path = typer.Argument(..., help="A prepared dataset directory.")) -> None:
    """Print a prepared dataset's summary and statistics."""
    from molgen.data import dataset_info

    _print_json(dataset_info(path))


@app.command("train")
def train_cmd(
    config: Optional[str] = typer.Argument(None, help="Training config YAML (configs/*.yaml); with --resume: none "
                                           "(the run's own config.yaml is used) and only overrides follow."),
    overrides: list[str] = typer.Argument(None, help="Dotted overrides, e.g. trainer.devices=2 data.batch_size=32."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this directory: "
                                          "molgen train --resume RUN [key=value ...]."),
) -> None:
    """Train a denoiser; writes the run directory (config, checkpoints, logs, model.ckpt)."""
    from molgen.config import load_config
    from molgen.training.train import train

    overrides = list(overrides or [])
    if resume is not None:
        if config is not None:
            if "=" not in config:
                raise MolgenError(f"--resume continues with {resume / 'config.yaml'}: give overrides "
                                  f"(key=value) only, not a config file ({config})")
            overrides.insert(0, config)
        cfg = load_config(resume / "config.yaml", overrides)
        cfg.out_dir = resume.resolve()
    elif config is None:
        raise MolgenError("give a training config (configs/*.yaml) or --resume RUN_DIR")
    else:
        cfg = load_config(config, overrides)
    run = train(cfg, resume=resume is not None)
    typer.echo(f"run directory: {run}")


def _parse_range(text: Optional[str]) -> Optional[tuple[int, int]]:
    if text is None:
        return None
    try:
        lo, hi = (int(x) for x in text.split(":"))
    except ValueError:
        raise MolgenError(f"--atoms-range must be LO:HI, got {text!r}") from None
    if not 1 <= lo <= hi:
        raise MolgenError(f"--atoms-range needs 1 <= LO <= HI, got {text!r}")
    return lo, hi


@app.command("sample")
def sample_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Output SDF (a .json summary is written beside it)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="Model file; default: shipped QM9 model."),
    num: int = typer.Option(100, "--num", "-n", help="Molecules to generate."),
    steps: int = typer.Option(20, "--steps", help="Sampler steps."),
    batch_size: int = typer.Option(100, "--batch-size", help="Most molecules per batch (cut smaller by atom pairs)."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device"),
    num_atoms: Optional[int] = typer.Option(
        None, "--num-atoms", help="Exact atom count (heavy atoms for a heavy-atom model; default: dataset histogram)."
    ),
    atoms_range: Optional[str] = typer.Option(None, "--atoms-range", help="Uniform atom count in LO:HI."),
    sizes: str = typer.Option("pocket", "--sizes", help="With --protein and --ref-ligand and no --num-atoms / "
                              "--atoms-range: ligand sizes from the nearest training sites by pocket size "
                              "('pocket') or within 2 atoms of the reference ligand's ('reference')."),
    option: list[str] = typer.Option(None, "--option", help="Process sampler setting key=value, e.g. sampler=ddim."),
    # pocket and fragment conditioning (molgen.sampling.conditioning)
    protein: Optional[Path] = typer.Option(None, "--protein", help="Protein PDB/mmCIF: generate in its pocket, "
                                           "in its frame (pocket models)."),
    ref_ligand: Optional[Path] = typer.Option(None, "--ref-ligand", help="SDF: pocket = residues near it; also "
                                              "the molecule --fragment-smarts is matched on."),
    residues: Optional[str] = typer.Option(None, "--residues", help="Pocket residues, e.g. A:12,A:15."),
    box: Optional[str] = typer.Option(None, "--box", help="Pocket box cx,cy,cz,sx,sy,sz in Å."),
    pocket_cutoff: float = typer.Option(6.0, "--pocket-cutoff", help="Pocket = residues within this of "
                                        "--ref-ligand, Å."),
    fragment: Optional[Path] = typer.Option(None, "--fragment", help="SDF of atoms to keep fixed (inpainting)."),
    fragment_smarts: Optional[str] = typer.Option(None, "--fragment-smarts", help="Keep the atoms of "
                                                  "--ref-ligand matched by this SMARTS (and their hydrogens)."),
    guidance: bool = typer.Option(False, "--guidance", help="With --protein: guide the last steps out of the "
                                  "protein and into the pocket (molgen.sampling.guidance; default off)."),
    guidance_option: list[str] = typer.Option(None, "--guidance-option", help="Guidance setting key=value, e.g. "
                                              "start=0.5, clash_distance=3.0 (implies --guidance)."),
    prior_mix: Optional[float] = typer.Option(None, "--prior-mix", help="With --protein: weight in [0, 1] of the "
                                              "pocket on atom types, charges and bonds; the rest comes from the "
                                              "model on the ligand alone (molgen.sampling.prior_mix; default off)."),
) -> None:
    """Generate molecules with a trained model; writes OUT.sdf and OUT.json."""
    from molgen.config import parse_options
    from molgen.sampling.generate import generate

    opts = parse_options(option)
    conditioned = any(x is not None for x in (protein, ref_ligand, residues, box, fragment, fragment_smarts))
    guide: Optional[dict] = None
    if guidance or guidance_option:
        guide = parse_options(guidance_option)
        if not conditioned:
            raise MolgenError("--guidance needs a pocket: give --protein with --ref-ligand, --residues or --box")
    if prior_mix is not None and not conditioned:
        raise MolgenError("--prior-mix needs a pocket: give --protein with --ref-ligand, --residues or --box")
    if sizes != "pocket" and not conditioned:
        raise MolgenError("--sizes needs a pocket: give --protein with --ref-ligand")
    if conditioned:
        from molgen.sampling.conditioning import generate_conditioned

        summary = generate_conditioned(
            checkpoint, out, num, steps, protein=protein, ref_ligand=ref_ligand, residues=residues, box=box,
            pocket_cutoff=pocket_cutoff, fragment=fragment, fragment_smarts=fragment_smarts,
            batch_size=batch_size, seed=seed, device=device, num_atoms=num_atoms,
            atoms_range=_parse_range(atoms_range), process_options=opts, guidance=guide, prior_mix=prior_mix,
            sizes=sizes,
        )
        summary = {k: v for k, v in summary.items() if k != "num_atoms"}
    else:
        summary = generate(checkpoint, num, steps, out, batch_size, seed, device, num_atoms,
                           _parse_range(atoms_range), opts)
    _print_json(summary)


@app.command("validate")
def validate(
    sdf: Path = typer.Argument(..., help="SDF file of generated molecules (.sdf or .sdf.gz)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: validation.parquet, validated.sdf, metrics.json."),
    reference: Optional[str] = typer.Option(None, "--reference", help="qm9 | SMILES file | SDF file, for novelty "
                                            "and distributions (qm9 = train_smiles.txt of --qm9-dir or $MOLGEN_QM9_DIR)."),
    qm9_dir: Optional[Path] = typer.Option(None, "--qm9-dir", help="Prepared QM9 folder for --reference qm9."),
    protein: Optional[Path] = typer.Option(None, "--protein", help="Receptor PDB: adds the protein checks."),
    bonds: str = typer.Option("predicted", "--bonds", help="predicted | edm | rdkit: where the bonds come from."),
    hydrogens: str = typer.Option("auto", "--hydrogens", help="auto | keep | add: missing hydrogens."),
    vocab: Optional[str] = typer.Option(None, "--vocab", help="Allowed elements: drug | qm9 (default: the "
                                        "vocabulary of the model that wrote the SDF, else drug)."),
    workers: int = typer.Option(0, "--workers", help="Worker processes (0 = in this process)."),
) -> None:
    """Validate generated molecules; prints the summary metrics (the same as OUT/metrics.json)."""
    from molgen.chem.vocab import get_vocab
    from molgen.validation import validate_sdf
    from molgen.validation.io import sdf_vocab

    if bonds not in ("predicted", "edm", "rdkit"):
        raise MolgenError(f"--bonds must be predicted, edm or rdkit, not {bonds!r}")
    if hydrogens not in ("auto", "keep", "add"):
        raise MolgenError(f"--hydrogens must be auto, keep or add, not {hydrogens!r}")
    if vocab is None:
        voc, source = sdf_vocab(sdf)
        logging.getLogger("molgen.validation").info("vocabulary %s, from %s", voc.name, source)
    else:
        try:
            voc = get_vocab(vocab)
        except ValueError as err:
            raise MolgenError(str(err)) from None
    result = validate_sdf(sdf, out, vocab=voc, reference=reference, protein=protein, workers=workers,
                          qm9_dir=qm9_dir, bonds=bonds, hydrogens=hydrogens)
    keys = ("n_input", "n_failed_to_read", "atom_stable_edm", "mol_stable_edm", "atom_stable", "mol_stable",
            "valid", "valid_connected", "unique", "novel", "pb_valid", "outputs")
    _print_json({"vocab": voc.name, **{k: result.metrics.get(k) for k in keys}})


@app.command("dock")
def dock_cmd(
    receptor: Path = typer.Option(..., "--receptor", "-r", help="Receptor PDB (hydrogens added if missing) or PDBQT."),
    ligands: Path = typer.Option(..., "--ligands", "-l", help="Ligand SDF with 3D coordinates."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: docking.csv, poses.sdf, receptor.pdbqt, "
                                                     "summary.json."),
    mode: str = typer.Option("score", "--mode", "-m", help="score (in place) | minimize (local) | dock (global)."),
    box_center: Optional[str] = typer.Option(None, "--box-center", help="Box centre x,y,z in Å (with --box-size)."),
    box_size: Optional[str] = typer.Option(None, "--box-size", help="Box edge lengths x,y,z in Å."),
    ref_ligand: Optional[Path] = typer.Option(None, "--ref-ligand", help="SDF whose first molecule the box wraps "
                                                                        "(default: all input ligands)."),
    padding: float = typer.Option(4.0, "--padding", help="Margin around the reference ligand, Å."),
    exhaustiveness: int = typer.Option(8, "--exhaustiveness", help="dock: Monte Carlo runs per ligand."),
    num_poses: int = typer.Option(9, "--num-poses", help="dock: poses kept per ligand."),
    workers: int = typer.Option(0, "--workers", help="Worker processes, each computing the maps once (0 = in this "
                                                     "process)."),
    seed: int = typer.Option(1, "--seed", help="Vina random seed (0 = random)."),
    cpu: int = typer.Option(1, "--cpu", help="Vina threads per ligand when --workers 0 (0 = all cores)."),
    scoring: str = typer.Option("vina", "--scoring", help="vina | vinardo."),
    receptor_prep: str = typer.Option("auto", "--receptor-prep", help="auto | meeko | openbabel."),
) -> None:
    """Score, minimise or dock ligands with AutoDock Vina; prints the summary (OUT/summary.json)."""
    from molgen.docking import parse_box_options, run_docking

    box = parse_box_options(box_center, box_size)
    summary = run_docking(receptor, ligands, out, mode, box, ref_ligand=ref_ligand, padding=padding,
                          exhaustiveness=exhaustiveness, num_poses=num_poses, workers=workers, seed=seed,
                          cpu=cpu, scoring=scoring, receptor_method=receptor_prep)
    _print_json({k: summary[k] for k in ("mode", "num_ligands", "num_ok", "num_failed", "best_kcal_mol",
                                         "failures", "timings_s", "files")})


@app.command("run")
def run_cmd(
    workflow: Path = typer.Argument(..., help="Workflow YAML (workflows/*.yaml), or a run directory."),
    overrides: list[str] = typer.Argument(None, help="Dotted overrides: seed=1 steps.generate.num=1000 "
                                                     "(steps by name)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default: out_dir of the file)."),
    shard: Optional[str] = typer.Option(None, "--shard", help="I/N: compute only the chunks k with k mod N = I "
                                        "(default: SLURM_ARRAY_TASK_ID/COUNT); then `molgen merge RUN_DIR`."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local | dask (default: the file's executor)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run directory even if its settings "
                                                        "changed (changed steps are recomputed)."),
) -> None:
    """Run a workflow: steps in order, complete work skipped; RUN_DIR/final.sdf and final.csv."""
    from molgen.pipeline import RunFailed, load_workflow, parse_shard, run_workflow
    from molgen.pipeline.summary import print_summary

    if executor not in (None, "local", "dask"):
        raise MolgenError(f"--executor must be local or dask, not {executor!r}")
    path = workflow
    if workflow.is_dir() and (workflow / "workflow.yaml").is_file():  # a run directory: its resolved workflow
        path, out = workflow / "workflow.yaml", out or workflow
    wf = load_workflow(path, overrides or [], out_dir=None if out is None else out.resolve())
    result = run_workflow(wf, parse_shard(shard), executor, scheduler, resume)
    print_summary(result)
    if result.error:
        raise RunFailed(f"{result.error} (see {result.run_dir / 'manifest.json'})")


@app.command("merge")
def merge_cmd(run_dir: Path = typer.Argument(..., help="Run directory written by `molgen run --shard I/N`.")) -> None:
    """Combine the shards of a run: check every chunk is there, write final.sdf/final.csv and the report."""
    from molgen.pipeline import RunFailed, merge_run
    from molgen.pipeline.summary import print_summary

    result = merge_run(run_dir)
    print_summary(result)
    if result.error:
        raise RunFailed(f"{result.error} (see {result.run_dir / 'manifest.json'})")


@app.command("pose")
def pose_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="Model file (a pocket model for poses)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output SDF, best pose first (a .json summary beside it)."),
    ligand: Optional[Path] = typer.Option(None, "--ligand", "-l", help="The molecule as SDF (first record)."),
    smiles: Optional[str] = typer.Option(None, "--smiles", help="The molecule as SMILES."),
    protein: Optional[Path] = typer.Option(None, "--protein", help="Protein PDB/mmCIF: binding poses in its pocket "
                                           "(without it: conformers)."),
    ref_ligand: Optional[Path] = typer.Option(None, "--ref-ligand", help="SDF: pocket = residues near it (and "
                                              "the Vina box); poses get rmsd_to_ref_A."),
    residues: Optional[str] = typer.Option(None, "--residues", help="Pocket residues, e.g. A:12,A:15."),
    box: Optional[str] = typer.Option(None, "--box", help="Pocket (and Vina) box cx,cy,cz,sx,sy,sz in Å."),
    pocket_cutoff: float = typer.Option(6.0, "--pocket-cutoff", help="Pocket = residues within this of "
                                        "--ref-ligand, Å."),
    num: int = typer.Option(10, "--num", "-n", help="Poses to generate."),
    steps: int = typer.Option(20, "--steps", help="Sampler steps."),
    rank: Optional[str] = typer.Option(None, "--rank", help="none | score | minimize (Vina); default minimize "
                                       "with --protein, else none."),
    view: str = typer.Option("progressive", "--view", help="progressive | revealed: how the network sees the "
                             "fixed atom and bond types."),
    batch_size: int = typer.Option(50, "--batch-size", help="Most poses per batch (cut smaller by atom pairs)."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device"),
) -> None:
    """Generate poses (in a pocket) or conformers of one molecule: only coordinates change."""
    from molgen.sampling.pose import pose_command

    summary = pose_command(checkpoint, out, ligand=ligand, smiles=smiles, protein=protein, ref_ligand=ref_ligand,
                           residues=residues, box=box, pocket_cutoff=pocket_cutoff, num=num, steps=steps,
                           rank=rank, view=view, batch_size=batch_size, seed=seed, device=device)
    _print_json(summary)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the Typer app, turning MolgenError into one line and exit 2."""
    try:
        app(args=argv, standalone_mode=False)
    except MolgenError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    except (typer.Exit, SystemExit) as err:  # --help and friends
        code = getattr(err, "exit_code", getattr(err, "code", 0))
        sys.exit(code or 0)
    except Exception as err:  # click usage errors carry their own exit code
        import click

        if isinstance(err, click.ClickException):
            err.show()
            sys.exit(err.exit_code)
        if isinstance(err, click.exceptions.Abort):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
