"""Training logs and sample quality against the number of sampler steps, as DataFrames.

* :func:`load_training_log`: a training run's ``logs/metrics.csv`` (Lightning's CSVLogger writes one
  row per logging call, so one step is spread over several rows) as one row per step.
* :func:`load_quality`: the JSON of ``benchmarks/sampling_quality.py`` (quality and speed per step
  count) as one row per step count; :func:`quality_from_runs` builds the same table from workflow
  runs that differ in ``steps.generate.steps``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from molgen.errors import MolgenError

#: Quality metrics shown against the number of sampler steps (fractions, 0-1).
QUALITY_METRICS = ("atom_stable_edm", "mol_stable_edm", "atom_stable", "mol_stable", "valid",
                   "valid_connected", "unique", "novel", "pb_valid")


def load_training_log(path: str | Path) -> pd.DataFrame:
    """A training run's metrics, one row per optimisation step.

    Args:
        path: the training run directory (``RUN/logs/metrics.csv``), its ``logs`` folder, or the CSV.

    Returns:
        Columns ``step``, ``epoch`` and every logged key (``train/loss``, ``val/loss``,
        ``val/sample_valid``, ``lr-AdamW``, ...); a key not logged at a step is NaN there.

    Raises:
        MolgenError: no metrics CSV found, or it has no ``step`` column.
    """
    p = Path(path).expanduser()
    for cand in (p, p / "metrics.csv", p / "logs" / "metrics.csv"):
        if cand.is_file():
            p = cand
            break
    else:
        raise MolgenError("no training log found (expected RUN/logs/metrics.csv)", path)
    # a resumed run keeps the log of each earlier segment as metrics.resumed-K.csv beside metrics.csv
    parts = sorted(p.parent.glob("metrics.resumed-*.csv"), key=lambda q: int(q.stem.rsplit("-", 1)[1])) + [p]
    raw = pd.concat([pd.read_csv(q) for q in parts], ignore_index=True)
    if "step" not in raw:
        raise MolgenError("not a Lightning CSV log (no 'step' column)", p)
    out = raw.groupby("step", sort=True).first().reset_index()  # first non-null value per column
    if "epoch" in out:
        out["epoch"] = out["epoch"].ffill()
    return out


def load_quality(source: str | Path | dict) -> pd.DataFrame:
    """The rows of a ``benchmarks/sampling_quality.py`` result, sorted by ``steps``.

    Args:
        source: the JSON file, or the loaded dict (``{"rows": [...]}``) or the list of rows.

    Raises:
        MolgenError: the file is missing or holds no rows with ``steps``.
    """
    data = source
    if isinstance(source, (str, Path)):
        try:
            data = json.loads(Path(source).read_text())
        except (OSError, ValueError) as err:
            raise MolgenError(f"cannot read the quality JSON ({err})", source) from None
    rows = data.get("rows", []) if isinstance(data, dict) else data
    table = pd.DataFrame(rows)
    if table.empty or "steps" not in table:
        where = source if isinstance(source, (str, Path)) else None
        raise MolgenError("no rows with 'steps' in the quality results", where)
    return table.sort_values("steps").reset_index(drop=True)


def quality_from_runs(runs) -> pd.DataFrame:
    """Quality against sampler steps from workflow runs (each a run directory or a loaded
    :class:`~molgen.analysis.Run` whose last generate step's ``steps`` differ): one row per run
    with ``steps``, ``num`` and the last validate step's :data:`QUALITY_METRICS`."""
    from molgen.analysis.run import Run, load_run

    rows = []
    for r in runs:
        run = r if isinstance(r, Run) else load_run(r)
        gen = run.step(kind="generate").settings
        m = run.metrics()
        rows.append({"run": run.name, "run_dir": str(run.root), "steps": gen.get("steps"),
                     "num": gen.get("num"), **{k: m.get(k) for k in QUALITY_METRICS}})
    return pd.DataFrame(rows).sort_values("steps").reset_index(drop=True)
