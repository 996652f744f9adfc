"""The run report: ``report.json`` (the summary) and one self-contained ``report.html``.

The page opens with one table of what matters (:func:`build_overview`: how many molecules were
generated, valid, connected, unique, PoseBusters-valid and docked, with the thresholds used), then
the steps, each validate and dock step's tables and plots (every distribution drawn beside the
training set's statistics from the checkpoint and the ``reference:`` file's molecules, distances
in the legends; a plot without a reference says so), and the best molecules (valid, one fragment,
no radical, not hydrogen only; ranked by a stated key). Images are embedded
as base64 ``data:`` URIs, the style inline, no script and no external file or URL, so the page can
be mailed or archived alone. It is rebuilt from a finished run directory at any time with
:func:`write_run_report` (which the workflow's ``report`` step calls). A plot that cannot be drawn
becomes a line saying why; it never fails the report.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import time
from collections import OrderedDict
from pathlib import Path

import pandas as pd

from molgen.analysis.run import Run, load_run
from molgen.pipeline.rundir import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

#: Validation metrics shown in the summary, in this order.
VALIDATION_KEYS = ("n_input", "n_valid", "atom_stable_edm", "mol_stable_edm", "atom_stable", "mol_stable",
                   "valid", "valid_connected", "unique", "novel", "pb_valid")
DOCKING_KEYS = ("mode", "num_ligands", "num_ok", "num_failed", "best_kcal_mol")
#: Scalar distribution distances of ``metrics.json`` shown in the report.
DISTANCE_KEYS = {"n_atoms_tv": "atom counts, total variation", "atom_types_tv": "elements, total variation",
                 "ring_sizes_tv": "ring sizes, total variation",
                 "bond_types_tv": "heavy-atom bond types, total variation",
                 "bond_length_w1_mean": "bond lengths, W1 (Å)",
                 "bond_angle_w1_mean": "bond angles, W1 (degrees)", "torsion_w1": "torsions, W1 (degrees)"}
#: Columns of the best-molecules table, when present.
BEST_COLUMNS = ("id", "smiles", "qed", "sa", "strain_energy_kcal_mol", "vina_kcal_mol", "pb_valid")


# ----------------------------------------------------------------------------------------- overview
#: What each PoseBusters-equivalent check requires, from the validation config's thresholds.
_CHECK_THRESHOLDS = {
    "sanitization": lambda c: "RDKit sanitizes",
    "inchi_convertible": lambda c: "InChI without error",
    "all_atoms_connected": lambda c: "one fragment",
    "no_radicals": lambda c: "no unpaired electrons",
    "bond_lengths": lambda c: f"bond lengths within {c['bond_length_tol']:.0%} of the distance-geometry bounds",
    "bond_angles": lambda c: f"bond angles within {c['bond_angle_tol']:.0%}",
    "no_internal_clash": lambda c: f"no internal clash (tolerance {c['clash_tol']:.0%})",
    "aromatic_ring_flatness": lambda c: f"aromatic rings flat within {c['flatness_tol']:g} Å",
    "non_aromatic_ring_non_flatness": lambda c: f"saturated 6-rings at least {c['nonflat_tol']:g} Å from flat",
    "double_bond_flatness": lambda c: f"C=C systems flat within {c['flatness_tol']:g} Å",
    "internal_energy": lambda c: (f"UFF energy at most {c['energy_ratio_threshold']:g}x the mean of "
                                  f"{c['n_conformers']} ETKDG conformers"),
    "protein_max_distance": lambda c: f"within {c['protein_max_distance']:g} Å of the protein",
    "no_protein_clash": lambda c: f"protein distances at least {c['protein_clash_cutoff']:g}x the vdW sums",
    "no_volume_clash": lambda c: f"at most {c['volume_overlap_cutoff']:.1%} of the volume inside the protein",
}
#: Rows of the overview table, in order, and how the page names them.
OVERVIEW_ROWS = ("generated", "valid", "connected", "unique", "pb_valid", "docked")
OVERVIEW_LABELS = {"pb_valid": "PoseBusters-valid"}


def _validation_config(step) -> dict:
    from molgen.validation import ValidationConfig

    conf = dict(step.metrics.get("config") or {})
    if not conf:
        s = step.settings
        conf = ValidationConfig(bonds=s.get("bonds", "predicted"), hydrogens=s.get("hydrogens", "auto"),
                                **(s.get("thresholds") or {})).to_dict()
    return {**ValidationConfig().to_dict(), **conf}


def _pb_criterion(val, conf: dict) -> str:
    from molgen.validation.checks import CHECKS

    names = [n for n in (val.metrics.get("checks") or {}) if n in CHECKS and CHECKS[n].pb]
    if not names:
        return "no PoseBusters check was run"
    parts = [_CHECK_THRESHOLDS.get(n, lambda c, n=n: n)(conf) for n in names]
    return f"all {len(names)} PoseBusters checks pass: " + "; ".join(parts)


def _dock_criterion(dock) -> str:
    d, st = dock.metrics, dock.settings
    box = d.get("box")
    if box:
        where = f"box {box.get('size')} Å at {box.get('center')}"
    elif d.get("ref_ligand"):
        where = f"box around {Path(d['ref_ligand']).name} + {st.get('padding', 4.0):g} Å"
    else:
        where = "box from the step"
    text = (f"Vina {d.get('mode', st.get('mode'))} ({st.get('scoring', 'vina')}, exhaustiveness "
            f"{st.get('exhaustiveness', 8)}; {where}) into {Path(str(d.get('receptor', ''))).name}")
    if d.get("num_failed"):
        text += f"; {d['num_failed']} of {d.get('num_ligands')} failed"
    if d.get("best_kcal_mol") is not None:
        text += f"; best {d['best_kcal_mol']:.2f} kcal/mol"
    return text


def build_overview(run: Run) -> list[dict]:
    """The first table of the report: one row per stage (:data:`OVERVIEW_ROWS`) with ``molecules``
    (a count), ``fraction`` (of the generated molecules) and ``criterion`` (how it is decided, with
    the thresholds the run used: the validate step's recorded config, the dock step's settings).
    A stage the run did not have gets ``molecules`` None and says so."""
    target = run.report_input()
    gen, val, dock = (run.upstream(target, k) for k in ("generate", "validate", "dock"))
    rows: dict[str, dict] = {}
    n_gen = None
    if gen is not None:
        n_gen = (gen.entry.get("counts") or {}).get("output")
        st = gen.settings
        what = [st.get("mode") or "generated", Path(str(st.get("checkpoint"))).name if st.get("checkpoint") else None,
                f"{st['steps']} sampler steps" if st.get("steps") else None]
        rows["generated"] = {"molecules": n_gen, "criterion": ", ".join(w for w in what if w)}
    vt = val.table if val is not None and val.status == "complete" and val.has_table else None
    if n_gen is None and vt is not None:
        n_gen = len(vt)
        rows["generated"] = {"molecules": n_gen, "criterion": f"molecules validated by {val.name}"}
    rows.setdefault("generated", {"molecules": None, "criterion": "no generate step"})
    if vt is not None:
        conf = _validation_config(val)

        def count(col: str) -> int | None:
            return int(vt[col].astype("boolean").fillna(False).astype(bool).sum()) if col in vt else None

        valid = vt["valid"].astype("boolean").fillna(False).astype(bool) if "valid" in vt else None
        n_unique = (int(vt.loc[valid, "smiles"].dropna().nunique())
                    if valid is not None and "smiles" in vt else None)
        n_valid = count("valid")
        rows["valid"] = {"molecules": n_valid, "criterion": (
            f"RDKit sanitizes the molecule (bonds: {conf['bonds']}, hydrogens: {conf['hydrogens']})")}
        rows["connected"] = {"molecules": count("valid_connected"), "criterion": "valid and one fragment"}
        share = f"{n_unique / n_valid:.3f} of the valid" if n_unique is not None and n_valid else "none valid"
        rows["unique"] = {"molecules": n_unique,
                          "criterion": f"distinct canonical SMILES among the valid molecules ({share})"}
        rows["pb_valid"] = {"molecules": count("pb_valid"), "criterion": _pb_criterion(val, conf)}
    else:
        why = "no validate step" if val is None else f"validate step {val.name} is {val.status or 'not run'}"
        for k in ("valid", "connected", "unique", "pb_valid"):
            rows[k] = {"molecules": None, "criterion": why}
    if dock is not None and dock.status == "complete" and dock.metrics:
        rows["docked"] = {"molecules": dock.metrics.get("num_ok"), "criterion": _dock_criterion(dock)}
    else:
        rows["docked"] = {"molecules": None, "criterion": "no dock step" if dock is None
                          else f"dock step {dock.name} is {dock.status or 'not run'}"}
    out = []
    for k in OVERVIEW_ROWS:
        r = rows[k]
        m = r["molecules"]
        frac = None if m is None or not n_gen else m / n_gen
        out.append({"stage": k, "molecules": m, "fraction": frac, "criterion": r["criterion"]})
    return out


def _overview_html(rows: list[dict]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("", "molecules", "fraction of generated", "criterion and thresholds"))
    body = []
    for r in rows:
        m = "not run" if r["molecules"] is None else f"{r['molecules']:,}"
        frac = "" if r["fraction"] is None else f"{r['fraction']:.1%}"
        stage = OVERVIEW_LABELS.get(r["stage"], r["stage"])
        body.append(f"<tr><th>{html.escape(stage)}</th><td class=\"num\">{m}</td>"
                    f"<td class=\"num\">{frac}</td><td>{html.escape(r['criterion'])}</td></tr>")
    return (f'<table class="overview"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


# ------------------------------------------------------------------------------------------ summary
def build_summary(run: Run) -> dict:
    """The report's content (what ``report.json`` holds): steps, validation and docking summaries,
    final outputs and tool versions, read from the run directory only."""
    manifest = run.manifest
    steps, validation, docking = [], {}, {}
    for s in run.steps.values():
        counts, chunks = s.entry.get("counts") or {}, s.entry.get("chunks") or {}
        steps.append({"name": s.name, "type": s.type, "status": s.status, "chunks": chunks.get("total"),
                      "input": counts.get("input"), "output": counts.get("output"),
                      "seconds": s.entry.get("seconds"), "error": s.entry.get("error")})
        if s.type == "validate" and s.metrics:
            m, dist = s.metrics, s.metrics.get("distributions") or {}
            validation[s.name] = {"summary": {k: m.get(k) for k in VALIDATION_KEYS if k in m},
                                  "checks": m.get("checks", {}), "properties": m.get("properties", {}),
                                  "reasons": m.get("reasons", {}),
                                  "distributions": {k: dist.get(k) for k in DISTANCE_KEYS if k in dist}}
        elif s.type == "dock" and s.metrics:
            docking[s.name] = {k: s.metrics.get(k) for k in (*DOCKING_KEYS, "failures")}
    try:
        overview = build_overview(run)
    except Exception as err:  # noqa: BLE001 - the summary goes on without it
        log.warning("report: overview not built: %s", err)
        overview = []
    return {"name": run.name, "status": run.status, "run_dir": str(run.root),
            "generated": time.strftime("%Y-%m-%dT%H:%M:%S"), "seed": manifest.get("seed"),
            "overview": overview, "steps": steps,
            "validation": validation, "docking": docking, "final": manifest.get("final", {}),
            "warnings": list(manifest.get("warnings", [])),
            "tool_versions": manifest.get("tool_versions", {})}


# --------------------------------------------------------------------------------------------- HTML
def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.3f}"
    return html.escape(str(v))


def html_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A plain ``<table>`` of dicts (floats to 3 decimals, None/NaN empty, text escaped)."""
    columns = columns or (list(rows[0]) if rows else [])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv(d: dict, key: str = "metric", value: str = "value") -> str:
    return html_table([{key: k, value: v} for k, v in d.items()], [key, value])


def _blocks(blocks: list[tuple[str, str]]) -> str:
    """Titled tables side by side (wrapping)."""
    inner = "".join(f"<div><h3>{html.escape(t)}</h3>{b}</div>" for t, b in blocks)
    return f'<div class="row">{inner}</div>'


def _data_uri(data: bytes | str, mime: str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _figure_html(fig, alt: str, caption: str = "") -> str:
    from molgen.analysis.plots import figure_to_png

    uri = _data_uri(figure_to_png(fig), "image/png")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img class="plot" alt="{html.escape(alt)}" src="{uri}">{cap}</figure>'


def _safe(what: str, make) -> str:
    """``make()``, or one line saying why ``what`` could not be drawn."""
    try:
        return make()
    except Exception as err:
        log.warning("report: %s not drawn: %s", what, err, exc_info=log.isEnabledFor(logging.DEBUG))
        reason = html.escape(" ".join(str(err).split())[:200])
        return f'<p class="error">{html.escape(what)}: not drawn ({reason})</p>'


def _reference_note(ref, training) -> str:
    parts = []
    if training is not None:
        n = training.num_graphs
        parts.append(f"Training set: the statistics in {Path(training.source).name}"
                     + (f" ({n:,} molecules)" if n else "") + ".")
    else:
        parts.append("No training statistics (no generate step with a readable checkpoint).")
    if ref is not None:
        parts.append(f"Reference: {ref.source} ({len(ref.table)} of {ref.n_total} molecules).")
    else:
        parts.append("No reference file (the validate step's reference: is not set).")
    return " ".join(parts)


def _validation_section(run: Run, name: str, reference_max: int) -> str:
    from molgen.analysis.plots import (
        plot_atom_types,
        plot_bond_orders,
        plot_geometry,
        plot_property_distributions,
        plot_ring_sizes,
        plot_validation_summary,
    )

    s = run.step(name)
    m = s.metrics
    out = [f'<h2 id="step-{html.escape(name)}">Validation: {html.escape(name)}</h2>']
    blocks = [("Metrics", _kv({k: m.get(k) for k in VALIDATION_KEYS if k in m}))]
    if m.get("checks"):
        blocks.append(("Checks (pass rate)", _kv(m["checks"], "check", "pass rate")))
    if m.get("properties"):
        blocks.append(("Properties (mean over valid molecules)", _kv(m["properties"], "property", "mean")))
    dist = m.get("distributions") or {}
    if dist:
        rows = {DISTANCE_KEYS[k]: dist.get(k) for k in DISTANCE_KEYS if k in dist}
        if isinstance(dist.get("geometry"), str):
            rows["geometry"] = dist["geometry"]
        blocks.append(("Distances to the reference", _kv(rows, "distribution", "distance")))
    if m.get("reasons"):
        blocks.append(("Failure reasons", _kv(m["reasons"], "reason", "molecules")))
    out.append(_blocks(blocks))
    out.append(_safe("validation summary plot", lambda: _figure_html(
        plot_validation_summary(m), "validation summary", "Fractions over all input molecules.")))
    ref = _safe_reference(run, name, reference_max)
    training = _safe_training_stats(run, name)
    table = s.table if s.has_table else pd.DataFrame()
    note = _reference_note(ref, training)
    out.append(_safe("property plot", lambda: _figure_html(
        plot_property_distributions(table, ref, stats=training), "property distributions",
        "QED, SA and strain: valid molecules; atoms: every molecule. W1: Wasserstein-1 distance. " + note)))
    out.append('<div class="row">')
    out.append(_safe("atom type plot", lambda: _figure_html(
        plot_atom_types(s.features, training, ref), "atom types",
        "Atoms of every molecule read. JS: Jensen-Shannon distance (0 same, 1 disjoint).")))
    out.append(_safe("ring size plot", lambda: _figure_html(
        plot_ring_sizes(s.features, ref, training), "ring sizes",
        "Rings (SSSR) of the valid molecules. JS: Jensen-Shannon distance.")))
    out.append("</div>")
    out.append(_safe("bond order plot", lambda: _figure_html(
        plot_bond_orders(s.features, training, ref), "bond lengths per bond order",
        "Valid molecules with 3D coordinates; the training set binned at 0.05 Å, the generated lengths "
        "on the same bins.")))
    for kind in ("bond_lengths", "bond_angles"):
        out.append(_safe(f"{kind} plot", lambda kind=kind: _figure_html(
            plot_geometry(s.features, ref, kind), kind.replace("_", " "),
            "Valid molecules with 3D coordinates; most frequent types.")))
    return "\n".join(out)


def _safe_reference(run: Run, name: str, reference_max: int):
    try:
        return run.reference(name, reference_max)
    except Exception as err:  # noqa: BLE001 - the report goes on without it
        log.warning("report: reference of %s not loaded: %s", name, err)
        return None


def _safe_training_stats(run: Run, name: str):
    try:
        return run.training_stats(name)
    except Exception as err:  # noqa: BLE001 - the report goes on without them
        log.warning("report: training statistics for %s not loaded: %s", name, err)
        return None


def _docking_section(run: Run, name: str) -> str:
    from molgen.analysis.plots import plot_vina_scores

    s = run.step(name)
    d = s.metrics
    out = [f'<h2 id="step-{html.escape(name)}">Docking: {html.escape(name)}</h2>']
    keys = {k: d.get(k) for k in DOCKING_KEYS}
    keys.update(receptor=d.get("receptor"), ref_ligand=d.get("ref_ligand"))
    blocks = [("Summary", _kv(keys, "key", "value"))]
    if d.get("failures"):
        blocks.append(("Failures", _kv(d["failures"], "reason", "molecules")))
    out.append(_blocks(blocks))
    if s.has_table:
        out.append(_safe("Vina plot", lambda: _figure_html(
            plot_vina_scores(s.table), "Vina scores", f"Best pose per molecule, mode {d.get('mode')}.")))
    return "\n".join(out)


def _step_section(run: Run, s, reference_max: int) -> str:
    if s.type == "validate":
        return _safe(f"validation section {s.name}", lambda: _validation_section(run, s.name, reference_max))
    return _safe(f"docking section {s.name}", lambda: _docking_section(run, s.name))


#: Molecules in the best-molecules grid.
BEST_N = 12


def _best_section(run: Run) -> str:
    from molgen.analysis.molecules import (
        BEST_CRITERIA,
        best_molecules,
        default_ranking,
        draw_best,
        eligible_molecules,
        ranking_statement,
    )

    step = run.report_input()
    table = run.table(step)
    if table.empty:
        return ""
    mols = run.molecules(step)
    eligible = eligible_molecules(table, mols)
    by = default_ranking(eligible)
    best = best_molecules(eligible, by, BEST_N, valid_only=False)
    where = html.escape(step or "final outputs")
    out = [f'<h2 id="best">Best molecules ({where}), {html.escape(ranking_statement(by))}</h2>']
    n_ok, n_all = len(eligible), len(table)
    if n_ok == 0:
        out.append(f'<p class="count">No molecule qualifies: none of the {n_all} is {BEST_CRITERIA}.</p>')
        return "\n".join(out)
    text = f"{n_ok} of {n_all} molecules qualify ({BEST_CRITERIA})"
    if by is not None and by in eligible:
        unranked = int(pd.to_numeric(eligible[by], errors="coerce").isna().sum())
        if unranked:
            text += f", {unranked} of them without a {by} value (not ranked)"
    if len(best) < BEST_N:
        text += f"; fewer than the grid's {BEST_N}: {len(best)} shown"
    else:
        text += f"; the best {BEST_N} shown"
    out.append(f'<p class="count">{html.escape(text)}.</p>')

    def grid() -> str:
        uri = _data_uri(draw_best(run, by, BEST_N, step), "image/svg+xml")
        return f'<figure><img class="grid" alt="best molecules" src="{uri}"></figure>'

    out.append(_safe("molecule grid", grid))
    cols = [c for c in BEST_COLUMNS if c in best]
    if len(best):
        out.append(html_table(best[cols].to_dict("records"), cols))
    return "\n".join(out)


#: Rendered sections by (run, step, outputs' fingerprint, finish time, file times): the engine writes
#: the report twice (the report step, then the final status), and the plots need not be drawn twice.
_SECTIONS: OrderedDict[tuple, str] = OrderedDict()
_SECTIONS_MAX = 16


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _step_key(run: Run, s, reference_max: int) -> tuple | None:
    if not s.entry.get("finished"):
        return None
    from molgen.pipeline.rundir import table_path

    return (str(run.root), s.name, s.entry.get("fingerprint"), s.entry["finished"], reference_max,
            _mtime(s.dir / "metrics.json"), _mtime(s.dir / "summary.json"),
            _mtime(table_path(s.dir / "table") or s.dir))


def _best_key(run: Run) -> tuple | None:
    name = run.report_input()
    if name is None:
        return (str(run.root), "best", _mtime(run.root / "final.sdf"), _mtime(run.root / "final.csv"))
    return _step_key(run, run.steps[name], 0) + ("best",) if name in run.steps else None


def _cached(key: tuple | None, make, use: bool) -> str:
    if use and key is not None and key in _SECTIONS:
        _SECTIONS.move_to_end(key)
        return _SECTIONS[key]
    text = make()
    if use and key is not None and 'class="error"' not in text:
        _SECTIONS[key] = text
        while len(_SECTIONS) > _SECTIONS_MAX:
            _SECTIONS.popitem(last=False)
    return text


_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:76em;color:#222}"
          "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;"
          "text-align:left;font-size:.9em}th{background:#f0f0f0}"
          "h2{border-bottom:2px solid #ddd;padding-top:.6em}"
          ".row{display:flex;flex-wrap:wrap;gap:0 2.5em;align-items:flex-start}figure{margin:.8em 0}"
          "img.plot{max-width:100%}img.grid{max-width:100%;border:1px solid #eee}"
          "figcaption{font-size:.85em;color:#555}.error{color:#a00}.status-complete{color:#070}"
          ".status-failed{color:#a00}nav a{margin-right:1em}td.num{text-align:right}"
          "table.overview{font-size:1.05em}table.overview tbody th{background:#f7f7f7}"
          ".count{font-size:.95em}")


def render_html(run: Run, summary: dict | None = None, reference_max: int = 1000, cache: bool = False) -> str:
    """The report page of a run (see the module docstring).

    Args:
        run: the loaded run.
        summary: :func:`build_summary` (computed when not given).
        reference_max: molecules of each validate step's reference used for the plots.
        cache: reuse the sections rendered earlier in this process for unchanged step outputs.
    """
    summary = summary or build_summary(run)
    status = _fmt(summary.get("status"))
    parts = [f"<h1>{_fmt(summary.get('name'))}</h1>",
             (f'<p>status: <b class="status-{status}">{status}</b> &middot; seed {_fmt(summary.get("seed"))} '
              f"&middot; {_fmt(summary.get('run_dir'))} &middot; report of "
              f"{_fmt(summary.get('generated'))}</p>")]
    if summary.get("warnings"):  # an empty final.sdf, a filter that kept nothing, recomputed chunks
        parts.append('<ul class="warnings">' + "".join(f'<li class="error">warning: {html.escape(w)}</li>'
                                                       for w in summary["warnings"]) + "</ul>")
    if summary.get("overview"):
        parts.append('<h2 id="overview">At a glance</h2>' + _overview_html(summary["overview"]))
    sections = [s for s in run.steps.values() if s.type in ("validate", "dock") and s.status == "complete"]
    nav = ['<a href="#steps">Steps</a>', *(f'<a href="#step-{html.escape(s.name)}">{html.escape(s.name)}</a>'
                                           for s in sections), '<a href="#best">Best molecules</a>']
    parts.append("<nav>" + "".join(nav) + "</nav>")
    parts.append('<h2 id="steps">Steps</h2>')
    parts.append(html_table(summary["steps"], ["name", "type", "status", "chunks", "input", "output",
                                               "seconds", "error"]))
    for s in sections:
        if s.metrics:
            parts.append(_cached(_step_key(run, s, reference_max),
                                 lambda s=s: _step_section(run, s, reference_max), cache))
    parts.append(_cached(_best_key(run), lambda: _safe("best molecules", lambda: _best_section(run)), cache))
    if summary.get("final"):
        parts.append("<h2>Final outputs</h2>" + _kv(summary["final"], "file", "path"))
    if summary.get("tool_versions"):
        parts.append("<h2>Tool versions</h2>" + _kv(summary["tool_versions"], "package", "version"))
    head = (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{_fmt(summary.get("name"))}'
            f" - molgen run</title><style>{_STYLE}</style></head><body>\n")
    return head + "\n".join(parts) + "\n</body></html>\n"


def write_html_report(run: Run | str | Path, out: str | Path | None = None,
                      reference_max: int = 1000) -> Path:
    """Write the self-contained HTML report of a run; returns its path (default ``RUN/report.html``)."""
    run = run if isinstance(run, Run) else load_run(run)
    out = Path(out) if out is not None else run.root / "report.html"
    return write_text_atomic(out, render_html(run, reference_max=reference_max))


def write_run_report(run_dir: str | Path) -> Path:
    """Write ``RUN_DIR/report.json`` and ``RUN_DIR/report.html``; returns the HTML path."""
    run = load_run(run_dir)
    summary = build_summary(run)
    write_json_atomic(run.root / "report.json", summary)
    return write_text_atomic(run.root / "report.html", render_html(run, summary, cache=True))
