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


def _print_json(obj: dict) -> None:
    typer.echo(json.dumps(obj, indent=2))


@data_app.command("prepare")
def data_prepare(
    kind: str = typer.Argument(..., help="qm9 | sdf | moses | complexes"),
    inputs: list[Path] = typer.Argument(None, help="Input files (sdf: files or folders; moses: SMILES CSV; "
                                                    "complexes: index CSV; qm9: qm9pack CSV folder or QM9 archive)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output cache directory."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Keep at most this many molecules."),
    vocab: str = typer.Option("drug", "--vocab", help="Element vocabulary for sdf/moses/complexes."),
    cutoff: float = typer.Option(8.0, "--cutoff", help="complexes: pocket cutoff around the ligand, Å."),
    ca_only: bool = typer.Option(False, "--ca-only", help="complexes: pocket as Cα atoms only."),
    workers: int = typer.Option(0, "--workers", help="moses: processes for 3D embedding (0 = all cores)."),
    seed: int = typer.Option(0, "--seed", help="Seed for splits and conformer embedding."),
    download: bool = typer.Option(False, "--download", help="qm9: download the official archive if no input."),
) -> None:
    """Prepare a dataset into DIR (cache + stats.json + summary.json); prints the summary."""
    from molgen.data import prepare_dataset

    summary = prepare_dataset(
        kind, inputs or [], out, limit=limit, vocab=vocab, cutoff=cutoff, ca_only=ca_only,
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
    config: Path = typer.Argument(..., help="Training config YAML (configs/*.yaml)."),
    overrides: list[str] = typer.Argument(None, help="Dotted overrides, e.g. trainer.devices=2 data.batch_size=32."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this directory."),
) -> None:
    """Train a denoiser; writes the run directory (config, checkpoints, logs, model.ckpt)."""
    from molgen.config import load_config
    from molgen.training.train import train

    if resume is not None:
        cfg_path = resume / "config.yaml"
        cfg = load_config(cfg_path, overrides or [])
        cfg.out_dir = resume.resolve()
    else:
        cfg = load_config(config, overrides or [])
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
    batch_size: int = typer.Option(100, "--batch-size", help="Molecules per batch."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device"),
    num_atoms: Optional[int] = typer.Option(None, "--num-atoms", help="Exact atom count (default: dataset histogram)."),
    atoms_range: Optional[str] = typer.Option(None, "--atoms-range", help="Uniform atom count in LO:HI."),
    option: list[str] = typer.Option(None, "--option", help="Process sampler setting key=value, e.g. sampler=ddim."),
) -> None:
    """Generate molecules with a trained model; writes OUT.sdf and OUT.json."""
    from molgen.config import parse_override
    from molgen.sampling.generate import generate

    opts = {}
    for item in option or []:
        keys, value = parse_override(item)
        opts[".".join(keys)] = value
    summary = generate(checkpoint, num, steps, out, batch_size, seed, device, num_atoms,
                       _parse_range(atoms_range), opts)
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
