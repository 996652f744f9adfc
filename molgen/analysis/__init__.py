"""Analysis of runs: run directories -> DataFrames and RDKit molecules, plots, the HTML report.

Used by the notebooks (``notebooks/``) and by the workflow's ``report`` step; it reads what the CLI
wrote and recomputes nothing of the pipeline (the one exception, :func:`dock_reference_ligands`,
scores reference ligands with a dock step's own receptor and settings for comparison).

Example::

    from molgen.analysis import load_run, plot_property_distributions, draw_best
    run = load_run("runs/quickstart")
    run.final, run.metrics()                                  # DataFrame, metrics.json
    plot_property_distributions(run.final, run.reference())   # matplotlib Figure
    draw_best(run, by="qed")                                  # SVG grid of the best molecules

Plots return :class:`matplotlib.figure.Figure` objects made without ``pyplot`` (headless, Agg).
"""

from molgen.analysis.distances import jensen_shannon, wasserstein
from molgen.analysis.docking import dock_reference_ligands
from molgen.analysis.molecules import SVG, best_molecules, draw_best, molecule_grid, view_3d
from molgen.analysis.plots import (
    figure_to_png,
    plot_atom_types,
    plot_bond_orders,
    plot_geometry,
    plot_property_distributions,
    plot_quality_vs_steps,
    plot_ring_sizes,
    plot_training_curves,
    plot_validation_summary,
    plot_vina_scores,
)
from molgen.analysis.reference import ReferenceSet, TrainingStats, load_reference_set, load_training_stats
from molgen.analysis.report import build_summary, write_html_report, write_run_report
from molgen.analysis.run import Run, Step, load_run, read_molecules
from molgen.analysis.training import load_quality, load_training_log, quality_from_runs

__all__ = [
    "SVG", "ReferenceSet", "Run", "Step", "TrainingStats", "best_molecules", "build_summary",
    "dock_reference_ligands", "draw_best", "figure_to_png", "jensen_shannon", "load_quality",
    "load_reference_set", "load_run", "load_training_log", "load_training_stats", "molecule_grid",
    "plot_atom_types", "plot_bond_orders", "plot_geometry", "plot_property_distributions",
    "plot_quality_vs_steps", "plot_ring_sizes", "plot_training_curves", "plot_validation_summary",
    "plot_vina_scores", "quality_from_runs", "read_molecules", "view_3d", "wasserstein",
    "write_html_report", "write_run_report",
]
