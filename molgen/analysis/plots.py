"""Plots of runs, each a function returning a matplotlib :class:`~matplotlib.figure.Figure`.

Figures are made with ``Figure()`` directly, never through ``pyplot``: nothing opens a window or
touches global state, and saving renders with Agg, so they work headless (the report step, CI) and
display inline in notebooks alike. Empty inputs give a panel that says what is missing rather than
an exception. Energies and scores are in kcal/mol, lengths in Å, angles in degrees.
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from molgen.analysis.distances import histogram_values, jensen_shannon, wasserstein
from molgen.analysis.training import QUALITY_METRICS

GENERATED_COLOR = "#1f77b4"
REFERENCE_COLOR = "#ff7f0e"
TRAINING_COLOR = "#2ca02c"

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
#: Units of the distances in the legends.
_UNITS = {"strain_energy_kcal_mol": "kcal/mol", "n_atoms": "atoms", "n_heavy_atoms": "atoms",
          "vina_kcal_mol": "kcal/mol", "mw": "g/mol", "n_rings": "rings"}
_BOND_ORDERS = ("single", "double", "triple", "aromatic")
#: Bond-type symbol of :func:`molgen.validation.distributions.bond_key` -> bond order of the stats.
_BOND_CLASS = {"=": "double", "#": "triple", ":": "aromatic", "-": "single"}
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


def _ref_name(reference) -> str:
    """Legend label of a reference file (``reference`` for a bare DataFrame)."""
    name = getattr(reference, "name", None)  # a DataFrame with a "name" column gives a Series here
    return f"reference {name}" if isinstance(name, str) and name else "reference"


def _training(stats):
    """A :class:`~molgen.analysis.reference.TrainingStats` from one or a plain stats dict (or None)."""
    if stats is None or hasattr(stats, "stats"):
        return stats
    from molgen.analysis.reference import TrainingStats

    return TrainingStats("training statistics", stats)


def _bins(arrays: list[np.ndarray], discrete: bool, n: int = 30) -> np.ndarray:
    allv = np.concatenate([a for a in arrays if len(a)])
    lo, hi = float(allv.min()), float(allv.max())
    if discrete:
        return np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 1.5, max(1, math.ceil((hi - lo + 1) / 40)))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n + 1)


@dataclass
class Series:
    """One side of a distribution plot: values (a sample), or values weighted by counts (a histogram).

    Attributes:
        label: legend label (``generated``, ``training set``, ``reference ligands.sdf``).
        values: ``[n]`` the sample, or the histogram's values (bin centres, integers).
        weights: ``[n]`` counts of a histogram, or None for a sample.
        color: line or bar colour.
    """

    label: str
    values: np.ndarray
    weights: np.ndarray | None = None
    color: str = REFERENCE_COLOR

    @property
    def n(self) -> int:
        return round(float(np.sum(self.weights))) if self.weights is not None else len(self.values)

    def __bool__(self) -> bool:
        return self.n > 0


def _wrap(text: str, width: int = 46) -> str:
    return "\n".join(textwrap.wrap(text, width))


def _no_reference(ax, why: str) -> None:
    """A legend line saying there is no reference, and why (never an empty overlay)."""
    ax.plot([], [], " ", label=_wrap(f"no reference: {why}"))


def _distance_label(s: Series, d: float | None, kind: str, unit: str) -> str:
    text = f"{s.label} (n={s.n:,})"
    if d is None:
        return text
    return f"{text}, {kind} {d:.3g}{(' ' + unit) if unit else ''}"


def _overlay(ax, gen: Series, refs: list[Series], discrete: bool, unit: str, missing: str | None = None,
             bins: np.ndarray | None = None) -> dict[str, float | None]:
    """The generated histogram (filled) with each reference's (outlined) and the Wasserstein-1
    distance to it in the legend; ``missing`` says why there is no reference when ``refs`` is empty.

    Returns:
        ``{reference label: W1}``.
    """
    refs = [r for r in refs if r]
    arrays = [gen.values, *(r.values for r in refs)]
    out: dict[str, float | None] = {}
    if not any(len(a) for a in arrays):
        return out
    bins = _bins(arrays, discrete) if bins is None else bins
    if gen:
        ax.hist(gen.values, bins=bins, weights=gen.weights, density=True, color=GENERATED_COLOR, alpha=0.55,
                label=f"{gen.label} (n={gen.n:,})")
    for r in refs:
        d = wasserstein(gen.values, r.values, gen.weights, r.weights) if gen else None
        out[r.label] = d
        ax.hist(r.values, bins=bins, weights=r.weights, density=True, histtype="step", linewidth=1.6,
                color=r.color, label=_distance_label(r, d, "W1", unit))
    if not refs and missing:
        _no_reference(ax, missing)
    ax.set_ylabel("density")
    _legend(ax)
    return out


def _legend(ax) -> None:
    """The legend above the data: headroom on the y axis for its lines."""
    n = len(ax.get_legend_handles_labels()[1])
    lines = sum(label.count("\n") + 1 for label in ax.get_legend_handles_labels()[1])
    if n:
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * (1.12 + 0.13 * lines))
        ax.legend(fontsize=6.5, frameon=False, loc="upper left")


def _bars(ax, gen: Series, refs: list[tuple[Series, dict]], gen_counts: dict, categories: list,
          missing: str | None = None) -> dict[str, float | None]:
    """Grouped bars of frequencies per category: generated and each reference, with the
    Jensen–Shannon distance to each in the legend."""
    refs = [(r, c) for r, c in refs if sum(c.values())]
    width = 0.8 / (1 + len(refs))
    x = np.arange(len(categories))
    out: dict[str, float | None] = {}

    def freq(counts: dict) -> np.ndarray:
        total = sum(counts.values()) or 1
        return np.array([counts.get(k, 0) / total for k in categories], dtype=float)

    ax.bar(x - 0.4 + width / 2, freq(gen_counts), width, color=GENERATED_COLOR, alpha=0.8,
           label=f"{gen.label} (n={gen.n:,})")
    for i, (r, counts) in enumerate(refs, start=1):
        d = jensen_shannon(gen_counts, counts) if sum(gen_counts.values()) else None
        out[r.label] = d
        ax.bar(x - 0.4 + width * (i + 0.5), freq(counts), width, color=r.color, alpha=0.8,
               label=_distance_label(r, d, "JS", ""))
    if not refs and missing:
        _no_reference(ax, missing)
    ax.set_xticks(x, [str(k) for k in categories])
    _legend(ax)
    return out


def _missing_file_reason(reference, what: str) -> str:
    if reference is None:
        return f"the training statistics hold no {what} and no reference file was given"
    return f"{_ref_name(reference)} has no {what}"


def plot_property_distributions(table: pd.DataFrame, reference=None,
                                properties: tuple[str, ...] | None = None,
                                label: str = "generated", stats=None) -> Figure:
    """Histograms of per-molecule properties, generated against the references.

    Atoms per molecule are drawn against the training set (``stats``) and the reference file;
    QED, SA and strain energy against the reference file only (the training statistics hold none);
    a panel without a reference says so in its legend. Each legend gives the Wasserstein-1 distance
    of the generated distribution to each reference, in the property's unit.

    Args:
        table: a run's table (``run.final`` or a step's), one row per molecule; NaN values (e.g.
            QED of invalid molecules, Vina scores of failed dockings) are left out.
        reference: a :class:`~molgen.analysis.reference.ReferenceSet` or a DataFrame with the same
            columns (e.g. reference ligands' Vina scores), or None.
        properties: the columns to plot (default: those of :data:`DEFAULT_PROPERTIES` that either
            side has, QED, SA and atoms always; heavy atoms too for a model trained without H).
        label: legend label of ``table``.
        stats: the training statistics (a :class:`~molgen.analysis.reference.TrainingStats` or a
            stats dict), or None.
    """
    ref = _ref_table(reference)
    training = _training(stats)
    size_col = None if training is None else ("n_atoms" if training.has_hydrogens else "n_heavy_atoms")
    if properties is None:
        always = ("qed", "sa", "n_atoms", *((size_col,) if size_col else ()))
        properties = tuple(p for p in (*DEFAULT_PROPERTIES, *((size_col,) if size_col not in DEFAULT_PROPERTIES
                                                               and size_col else ()))
                           if p in always or (p in table) or (ref is not None and p in ref))
    fig, axes = _figure(len(properties))
    for ax, prop in zip(axes, properties):
        name = PROPERTY_LABELS.get(prop, prop)
        ax.set_xlabel(name)
        ax.set_title(name.split(" (")[0], fontsize=10)
        unit = _UNITS.get(prop, "")
        gen = Series(label, _values(table, prop), color=GENERATED_COLOR)
        refs = []
        if prop == size_col and training.sizes():
            v, w = histogram_values(training.sizes())
            refs.append(Series("training set", v, w, TRAINING_COLOR))
        if ref is not None and len(_values(ref, prop)):
            refs.append(Series(_ref_name(reference), _values(ref, prop)))
        if not gen and not refs:
            _note(ax, f"no {prop} values\n(no valid molecule has one)")
            continue
        if prop == "vina_kcal_mol":
            missing = "no reference ligands scored"
        elif prop in ("n_atoms", "n_heavy_atoms"):
            missing = ("no checkpoint statistics" + (" and no reference file" if reference is None else
                                                      f"; {_ref_name(reference)} has no {prop}"))
        else:
            missing = _missing_file_reason(reference, PROPERTY_LABELS.get(prop, prop).split(" (")[0])
        _overlay(ax, gen, refs, prop in _DISCRETE, unit, missing)
    fig.suptitle("Properties" + (" against the reference" if ref is not None or training is not None else ""),
                 fontsize=11)
    return fig


def _bond_class(key: str) -> str | None:
    for sym, cls in _BOND_CLASS.items():
        if sym in key:
            return cls
    return None


def _pooled_by_class(bond_lengths: dict) -> dict[str, np.ndarray]:
    out: dict[str, list] = {}
    for key, v in (bond_lengths or {}).items():
        cls = _bond_class(key)
        if cls is not None:
            out.setdefault(cls, []).extend(v)
    return {k: np.asarray(v, float) for k, v in out.items()}


def plot_geometry(features, reference=None, kind: str = "bond_lengths", top: int = 6) -> Figure:
    """Distributions of bond lengths or bond angles per type (``C-C``, ``C=O``, ``C-N-C``, ...),
    against a reference file's (an SDF with 3D coordinates), W1 distance in each legend; a panel
    without a reference says why (the training statistics hold bond lengths per bond order only,
    see :func:`plot_bond_orders`, and no angles).

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
    if reference is None:
        why = ("no reference SDF given; the training statistics hold lengths per bond order only"
               if kind == "bond_lengths" else "no reference SDF given; the training statistics hold no angles")
    elif not ref_d:
        why = f"{_ref_name(reference)} has no 3D structures"
    else:
        why = None
    fig, axes = _figure(len(types))
    label = _ref_name(reference) if hasattr(reference, "name") else "reference"
    for ax, key in zip(axes, types):
        gen = Series("generated", np.asarray(gen_d.get(key, []), float), color=GENERATED_COLOR)
        refv = np.asarray(ref_d.get(key, []), float)
        refs = [Series(label, refv)] if len(refv) else []
        _overlay(ax, gen, refs, False, unit, why or f"{label} has no {key} {what}s")
        ax.set_title(key, fontsize=10)
        ax.set_xlabel(f"{key} {what} ({unit})")
    fig.suptitle(f"{what.capitalize()}s per type" + (" against the reference" if ref_d else ""), fontsize=11)
    return fig


def plot_bond_orders(features, stats=None, reference=None) -> Figure:
    """Bond lengths per bond order (single, double, triple, aromatic) against the training set's
    (the checkpoint's statistics, binned at 0.05 Å) and a reference file's; W1 in each legend.

    Against the training set both sides are binned alike (the generated lengths on the statistics'
    bins), so its W1 is between the two histograms' bin centres. Panels: the bond orders that the
    generated set or the training set has.

    Args:
        features: pooled features of the generated molecules (``run.step("validate").features``).
        stats: the training statistics (a :class:`~molgen.analysis.reference.TrainingStats` or a
            stats dict), or None.
        reference: a :class:`~molgen.analysis.reference.ReferenceSet` (or ``FeatureSet``) or None.
    """
    training = _training(stats)
    ref = getattr(reference, "features", reference)
    gen = _pooled_by_class(getattr(features, "bond_lengths", {}))
    refd = _pooled_by_class(getattr(ref, "bond_lengths", {})) if ref is not None else {}
    train = {c: training.bond_lengths(c) for c in _BOND_ORDERS} if training is not None else {}
    classes = [c for c in _BOND_ORDERS if len(gen.get(c, ())) or train.get(c) is not None]
    if not classes:
        fig, axes = _figure(1)
        axes[0].set_xlabel("bond length (Å)")
        _note(axes[0], "no bond lengths: no valid molecule with 3D coordinates and no training statistics")
        fig.suptitle("Bond lengths per bond order", fontsize=11)
        return fig
    fig, axes = _figure(len(classes), ncols=4, size=(3.1, 2.7))
    for ax, cls in zip(axes, classes):
        g = gen.get(cls, np.array([]))
        th, r = train.get(cls), refd.get(cls, np.array([]))
        if th is not None:
            edges, counts = th
            inside = (g >= edges[0]) & (g < edges[-1])
            gc = np.histogram(g[inside], bins=edges)[0].astype(float)
            centres = 0.5 * (edges[:-1] + edges[1:])
            occupied = np.flatnonzero((counts + gc) > 0)
            bins = edges[occupied[0]:occupied[-1] + 2]
            d = wasserstein(centres, centres, gc, counts) if gc.sum() else None
            ax.hist(centres, bins=edges, weights=counts, density=True, histtype="step", linewidth=1.6,
                    color=TRAINING_COLOR, label=_distance_label(Series("training set", centres, counts),
                                                                d, "W1", "Å"))
            if gc.sum():
                ax.hist(centres, bins=edges, weights=gc, density=True, color=GENERATED_COLOR, alpha=0.55,
                        label=f"generated (n={int(gc.sum()):,})")
            if (~inside).any():
                ax.plot([], [], " ", label=f"{int((~inside).sum())} generated ≥ {edges[-1]:g} Å not shown")
        else:
            bins = _bins([g, r], False)
            if len(g):
                ax.hist(g, bins=bins, density=True, color=GENERATED_COLOR, alpha=0.55,
                        label=f"generated (n={len(g):,})")
        if len(r):
            d = wasserstein(g, r) if len(g) else None
            ax.hist(r, bins=bins, density=True, histtype="step", linewidth=1.6, color=REFERENCE_COLOR,
                    label=_distance_label(Series(_ref_name(reference), r), d, "W1", "Å"))
        if th is None and not len(r):
            _no_reference(ax, "no checkpoint statistics and no reference SDF with 3D structures")
        ax.set_xlim(bins[0] - 0.05, bins[-1] + 0.05)
        ax.set_ylabel("density")
        _legend(ax)
        ax.set_title(cls, fontsize=10)
        ax.set_xlabel(f"{cls} bond length (Å)")
    fig.suptitle("Bond lengths per bond order" + (" against the training set" if training is not None else ""),
                 fontsize=11)
    return fig


def plot_atom_types(features, stats=None, reference=None) -> Figure:
    """Element frequencies (fraction of atoms) of the generated molecules against the training set's
    and a reference file's; Jensen–Shannon distance in the legend. Hydrogens are left out on every
    side when the model was trained without them.

    Args:
        features: pooled features of the generated molecules (``run.step("validate").features``;
            atoms of every molecule that was read).
        stats: the training statistics (a :class:`~molgen.analysis.reference.TrainingStats` or a
            stats dict), or None.
        reference: a :class:`~molgen.analysis.reference.ReferenceSet` (or ``FeatureSet``) or None.
    """
    training = _training(stats)
    ref = getattr(reference, "features", reference)
    heavy = training is not None and not training.has_hydrogens

    def counts(c) -> dict:
        return {k: int(v) for k, v in dict(c or {}).items() if v and not (heavy and k == "H")}

    gen = counts(getattr(features, "atom_types", {}))
    train = counts(training.atom_types()) if training is not None else {}
    refc = counts(getattr(ref, "atom_types", {})) if ref is not None else {}
    order = list(training.elements) if training is not None else []
    categories = [k for k in order if k in gen or k in train or k in refc]
    categories += sorted(k for k in {*gen, *train, *refc} if k not in categories)
    fig, axes = _figure(1, size=(6.0, 3.0))
    ax = axes[0]
    ax.set_xlabel("element" + (" (heavy atoms)" if heavy else ""))
    ax.set_ylabel("fraction of atoms")
    ax.set_title("Atom types", fontsize=10)
    if not categories:
        _note(ax, "no atoms")
        return fig
    refs = []
    if train:
        refs.append((Series("training set", np.array([]), np.array([sum(train.values())]), TRAINING_COLOR), train))
    if refc:
        refs.append((Series(_ref_name(reference), np.array([]), np.array([sum(refc.values())])), refc))
    gs = Series("generated atoms", np.array([]), np.array([sum(gen.values())]), GENERATED_COLOR)
    _bars(ax, gs, refs, gen, categories, "no checkpoint statistics and no reference file")
    return fig


def plot_ring_sizes(features, reference=None, stats=None) -> Figure:
    """Ring sizes (fraction of the rings, SSSR) of the valid generated molecules against a reference
    file's; Jensen–Shannon distance in the legend. The training statistics hold no ring sizes, so
    without a reference file the panel says so.

    Args:
        features: pooled features of the generated molecules.
        reference: a :class:`~molgen.analysis.reference.ReferenceSet` (or ``FeatureSet``) or None.
        stats: accepted for symmetry with the other plots; it holds no ring sizes.
    """
    ref = getattr(reference, "features", reference)
    gen = {int(k): int(v) for k, v in dict(getattr(features, "ring_sizes", {}) or {}).items() if v}
    refc = {int(k): int(v) for k, v in dict(getattr(ref, "ring_sizes", {}) or {}).items() if v} if ref else {}
    fig, axes = _figure(1, size=(5.0, 3.0))
    ax = axes[0]
    ax.set_xlabel("ring size (atoms)")
    ax.set_ylabel("fraction of rings")
    ax.set_title("Ring sizes", fontsize=10)
    categories = sorted({*gen, *refc})
    if not categories:
        _note(ax, "no rings in the valid generated molecules" + (" or the reference" if ref else ""))
        return fig
    refs = [(Series(_ref_name(reference), np.array([]), np.array([sum(refc.values())])), refc)] if refc else []
    if reference is None:
        why = "the training statistics hold no ring sizes and no reference file was given"
    else:
        why = f"{_ref_name(reference)} has no rings"
    gs = Series("generated rings", np.array([]), np.array([sum(gen.values())]), GENERATED_COLOR)
    _bars(ax, gs, refs, gen, categories, why)
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
