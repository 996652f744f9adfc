"""Plots of runs, each a function returning a matplotlib :class:`~matplotlib.figure.Figure`.

Figures are made with ``Figure()`` directly, never through ``pyplot``: nothing opens a window or
touches global state, and saving renders with Agg, so they work headless (the report step, CI) and
display inline in notebooks alike. Empty inputs give a panel that says what is missing rather than
an exception. Energies and scores are in kcal/mol, lengths in Å, angles in degrees.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from molgen.analysis.training import QUALITY_METRICS

GENERATED_COLOR = "#1f77b4"
REFERENCE_COLOR = "#ff7f0e"

#: Axis labels of the per-molecule columns.
PROPERTY_LABELS = {
    "qed": "QED",
    "sa": "SA score (1 easy - 10 hard)",
    "strain_energy_kcal_mol": "strain energy (kcal/mol)",
    "n_atoms": "atoms per molecule (with H)",
    "n_heavy_atoms": "heavy atoms per molecule",
    "logp": "logP (Crippen)",
    "mw": "molecular weight (g/mol)",
    "n_rings": "rings per molecule",
    "vina_kcal_mol": "Vina score (kcal/mol)",
}
#: Properties plotted by default, when the table has them.
DEFAULT_PROPERTIES = ("qed", "sa", "strain_energy_kcal_mol", "n_atoms", "vina_kcal_mol")
_DISCRETE = {"n_atoms", "n_heavy_atoms", "n_rings"}
#: Validation summary fractions, in display order.
SUMMARY_FRACTIONS = QUALITY_METRICS


def _figure(n: int, ncols: int = 3, size: tuple[float, float] = (3.4, 2.7)) -> tuple[Figure, list]:
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=9,
            color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])


def _values(table: pd.DataFrame | None, column: str) -> np.ndarray:
    if table is None or column not in table:
        return np.array([], dtype=float)
    v = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return v[np.isfinite(v)]


def _ref_table(reference) -> pd.DataFrame | None:
    if reference is None:
        return None
    return reference if isinstance(reference, pd.DataFrame) else reference.table


def _bins(arrays: list[np.ndarray], discrete: bool, n: int = 30) -> np.ndarray:
    allv = np.concatenate([a for a in arrays if len(a)])
    lo, hi = float(allv.min()), float(allv.max())
    if discrete:
        return np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 1.5, max(1, math.ceil((hi - lo + 1) / 40)))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n + 1)


def _hist_pair(ax, gen: np.ndarray, ref: np.ndarray, discrete: bool, gen_label: str, ref_label: str) -> None:
    bins = _bins([gen, ref], discrete)
    if len(gen):
        ax.hist(gen, bins=bins, density=True, color=GENERATED_COLOR, alpha=0.55,
                label=f"{gen_label} (n={len(gen)})")
    if len(ref):
        ax.hist(ref, bins=bins, density=True, histtype="step", linewidth=1.6, color=REFERENCE_COLOR,
                label=f"{ref_label} (n={len(ref)})")
    ax.set_ylabel("density")
    ax.legend(fontsize=7, frameon=False)


def plot_property_distributions(table: pd.DataFrame, reference=None,
                                properties: tuple[str, ...] | None = None,
                                label: str = "generated") -> Figure:
    """Histograms of per-molecule properties, generated against reference.

    Args:
        table: a run's table (``run.final`` or a step's), one row per molecule; NaN values (e.g.
            QED of invalid molecules, Vina scores of failed dockings) are left out.
        reference: a :class:`~molgen.analysis.reference.ReferenceSet` or a DataFrame with the same
            columns (e.g. reference ligands' Vina scores), or None.
        properties: the columns to plot (default: those of :data:`DEFAULT_PROPERTIES` that either
            side has, QED, SA and atoms always).
        label: legend label of ``table``.
    """
    ref = _ref_table(reference)
    if properties is None:
        always = ("qed", "sa", "n_atoms")
        properties = tuple(p for p in DEFAULT_PROPERTIES
                           if p in always or (p in table) or (ref is not None and p in ref))
    fig, axes = _figure(len(properties))
    for ax, prop in zip(axes, properties):
        gen, refv = _values(table, prop), _values(ref, prop)
        ax.set_xlabel(PROPERTY_LABELS.get(prop, prop))
        ax.set_title(PROPERTY_LABELS.get(prop, prop).split(" (")[0], fontsize=10)
        if not len(gen) and not len(refv):
            _note(ax, f"no {prop} values\n(no valid molecule has one)")
            continue
        _hist_pair(ax, gen, refv, prop in _DISCRETE, label, "reference")
    fig.suptitle("Properties" + (" against the reference" if ref is not None else ""), fontsize=11)
    return fig


def plot_geometry(features, reference=None, kind: str = "bond_lengths", top: int = 6) -> Figure:
    """Distributions of bond lengths or bond angles per type (``C-C``, ``C=O``, ``C-N-C``, ...).

    Args:
        features: pooled features of the generated molecules (``run.step("validate").features``).
        reference: a :class:`~molgen.analysis.reference.ReferenceSet` (its features) or a
            ``FeatureSet``, or None.
        kind: ``bond_lengths`` (Å) or ``bond_angles`` (degrees).
        top: the most frequent types (in the generated set, else in the reference) to show.
    """
    if kind not in ("bond_lengths", "bond_angles"):
        raise ValueError(f"kind must be 'bond_lengths' or 'bond_angles', got {kind!r}")
    ref = getattr(reference, "features", reference)
    gen_d = dict(getattr(features, kind, {}) or {})
    ref_d = dict(getattr(ref, kind, {}) or {}) if ref is not None else {}
    counts = Counter({k: len(v) for k, v in (gen_d or ref_d).items()})
    types = [k for k, _ in counts.most_common(top)]
    unit = "Å" if kind == "bond_lengths" else "°"
    what = "bond length" if kind == "bond_lengths" else "bond angle"
    if not types:
        fig, axes = _figure(1)
        axes[0].set_xlabel(f"{what} ({unit})")
        _note(axes[0], f"no {what}s: no valid molecule with 3D coordinates")
        fig.suptitle(f"{what.capitalize()}s", fontsize=11)
        return fig
    fig, axes = _figure(len(types))
    for ax, key in zip(axes, types):
        gen, refv = np.asarray(gen_d.get(key, []), float), np.asarray(ref_d.get(key, []), float)
        _hist_pair(ax, gen, refv, False, "generated", "reference")
        ax.set_title(key, fontsize=10)
        ax.set_xlabel(f"{key} {what} ({unit})")
    fig.suptitle(f"{what.capitalize()}s per type" + (" against the reference" if ref_d else ""), fontsize=11)
    return fig


def plot_validation_summary(metrics: dict) -> Figure:
    """Bars of a validate step's summary fractions and of each check's pass rate (0-1).

    Args:
        metrics: the step's ``metrics.json`` (``run.metrics()``).
    """
    summary = [(k, metrics.get(k)) for k in SUMMARY_FRACTIONS if metrics.get(k) is not None]
    checks = list((metrics.get("checks") or {}).items())
    panels = [("Summary", summary), ("Checks: pass rate", checks)]
    panels = [p for p in panels if p[1]] or [("Summary", [])]
    heights = [max(2.0, 0.28 * len(items) + 0.9) for _, items in panels]
    fig = Figure(figsize=(6.8, sum(heights)), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=heights).ravel()
    for ax, (title, items) in zip(axes, panels):
        ax.set_title(title + (f" (n={metrics.get('n_input')})" if metrics.get("n_input") is not None else ""),
                     fontsize=10)
        ax.set_xlabel("fraction of molecules")
        if not items:
            _note(ax, "no metrics")
            continue
        names = [k for k, _ in items][::-1]
        vals = [float(v or 0.0) for _, v in items][::-1]
        bars = ax.barh(names, vals, color=GENERATED_COLOR)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in vals], padding=2, fontsize=7)
        ax.set_xlim(0, 1.12)
        ax.tick_params(axis="y", labelsize=8)
    return fig


def plot_vina_scores(table: pd.DataFrame, reference: pd.DataFrame | None = None,
                     color_by: str = "qed") -> Figure:
    """Vina scores of docked molecules against reference ligands, and score against ``color_by``.

    Args:
        table: a dock step's table (``vina_kcal_mol``; failed rows are NaN and left out).
        reference: reference ligands' scores (a DataFrame with ``vina_kcal_mol`` and ``name``, e.g.
            :func:`molgen.analysis.dock_reference_ligands`), drawn as labelled vertical lines.
        color_by: a second column plotted against the score (right panel; left out when absent).
    """
    gen = _values(table, "vina_kcal_mol")
    ref = reference if reference is not None and "vina_kcal_mol" in reference else None
    scatter = color_by in table and len(_values(table, color_by)) > 0
    fig, axes = _figure(2 if scatter else 1, ncols=2, size=(4.4, 3.0))
    ax = axes[0]
    ax.set_xlabel(PROPERTY_LABELS["vina_kcal_mol"])
    ax.set_title("Vina scores", fontsize=10)
    n_failed = int(table["vina_kcal_mol"].isna().sum()) if "vina_kcal_mol" in table else len(table)
    if len(gen):
        ax.hist(gen, bins=_bins([gen], False, 20), color=GENERATED_COLOR, alpha=0.6,
                label=f"docked (n={len(gen)}, {n_failed} failed)")
        ax.set_ylabel("molecules")
    else:
        _note(ax, f"no Vina scores ({n_failed} failed)")
        ax.set_xlabel(PROPERTY_LABELS["vina_kcal_mol"])
    if ref is not None:
        for i, (_, row) in enumerate(ref.dropna(subset=["vina_kcal_mol"]).iterrows()):
            ax.axvline(row["vina_kcal_mol"], color=REFERENCE_COLOR, linestyle="--", linewidth=1.3,
                       label="reference ligands" if i == 0 else None)
            ax.annotate(str(row.get("name", "")), (row["vina_kcal_mol"], 1),
                        xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right", fontsize=7,
                        color=REFERENCE_COLOR)
    if len(gen) or ref is not None:
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    if scatter:
        ax2 = axes[1]
        x = pd.to_numeric(table["vina_kcal_mol"], errors="coerce")
        y = pd.to_numeric(table[color_by], errors="coerce")
        ok = x.notna() & y.notna()
        ax2.scatter(x[ok], y[ok], s=18, color=GENERATED_COLOR, label="docked")
        if ref is not None and color_by in ref:
            rx = pd.to_numeric(ref["vina_kcal_mol"], errors="coerce")
            ry = pd.to_numeric(ref[color_by], errors="coerce")
            rok = rx.notna() & ry.notna()
            ax2.scatter(rx[rok], ry[rok], s=40, marker="D", facecolors="none", edgecolors=REFERENCE_COLOR,
                        linewidths=1.4, label="reference")
            ax2.legend(fontsize=7, frameon=False)
        ax2.set_xlabel(PROPERTY_LABELS["vina_kcal_mol"])
        ax2.set_ylabel(PROPERTY_LABELS.get(color_by, color_by))
        ax2.set_title(f"{PROPERTY_LABELS.get(color_by, color_by).split(' (')[0]} against score", fontsize=10)
    return fig


def _curve(ax, log: pd.DataFrame, column: str, **kw) -> bool:
    if column not in log:
        return False
    d = log[["step", column]].dropna()
    if d.empty:
        return False
    marker = "o" if len(d) < 30 else None
    ax.plot(d["step"], d[column], marker=marker, markersize=3, label=column, **kw)
    return True


def plot_training_curves(log: pd.DataFrame) -> Figure:
    """Training curves against the optimisation step: total loss (train and validation), the loss
    terms, the quality of molecules sampled during validation, and the learning rate.

    Args:
        log: :func:`molgen.analysis.load_training_log`.
    """
    cols = [c for c in log.columns if c not in ("step", "epoch")]
    panels = [
        ("Loss", [c for c in ("train/loss", "val/loss") if c in cols], "loss"),
        ("Loss terms", [c for c in cols if c.startswith(("train/loss_", "val/loss_"))], "loss"),
        ("Sampled molecules (validation)", [c for c in cols if c.startswith("val/sample_")], "fraction"),
        ("Learning rate", [c for c in cols if c.startswith("lr")], "learning rate"),
    ]
    panels = [p for p in panels if p[1]]
    if not panels:
        fig, axes = _figure(1)
        axes[0].set_xlabel("step")
        _note(axes[0], "no logged metrics")
        return fig
    fig, axes = _figure(len(panels), ncols=2, size=(5.0, 3.2))
    for ax, (title, columns, ylabel) in zip(axes, panels):
        for c in columns:
            _curve(ax, log, c, linestyle="--" if c.startswith("val/") and "sample" not in c else "-")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        if ylabel == "fraction":
            ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7, frameon=False)
    return fig


def plot_quality_vs_steps(quality: pd.DataFrame, metrics: tuple[str, ...] | None = None) -> Figure:
    """Sample quality (and sampling speed, when measured) against the number of sampler steps.

    Args:
        quality: :func:`molgen.analysis.load_quality` or :func:`molgen.analysis.quality_from_runs`.
        metrics: fraction columns to draw (default: those of :data:`QUALITY_METRICS` present).
    """
    metrics = metrics or tuple(m for m in QUALITY_METRICS if m in quality and quality[m].notna().any())
    speed = "molecules_per_s" in quality and quality["molecules_per_s"].notna().any()
    fig, axes = _figure(2 if speed else 1, ncols=2, size=(4.8, 3.3))
    ax = axes[0]
    steps = pd.to_numeric(quality["steps"], errors="coerce")
    for m in metrics:
        ax.plot(steps, quality[m], marker="o", markersize=4, label=m)
    ax.set_xlabel("sampler steps")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Quality against sampler steps", fontsize=10)
    if steps.max() / max(steps.min(), 1) >= 10:
        ax.set_xscale("log")
    if metrics:
        ax.legend(fontsize=7, frameon=False)
    else:
        _note(ax, "no quality metrics")
    if speed:
        ax2 = axes[1]
        ax2.plot(steps, quality["molecules_per_s"], marker="o", color="0.3")
        ax2.set_xlabel("sampler steps")
        ax2.set_ylabel("molecules / s")
        ax2.set_title("Sampling speed", fontsize=10)
        if ax.get_xscale() == "log":
            ax2.set_xscale("log")
    return fig


def figure_to_png(fig: Figure, dpi: int = 90) -> bytes:
    """The figure as PNG bytes (rendered with Agg)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
