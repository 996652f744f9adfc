"""The report step: a run's summary as ``report.json`` and a plain ``report.html``.

It reads only what the run wrote (``manifest.json``, each validate step's ``metrics.json``, each dock
step's ``summary.json``), so it can be rebuilt from a finished run directory at any time:
``write_report(RUN_DIR)``. (The analysis package replaces the HTML with a rich one.)
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from molgen.pipeline.rundir import read_json, write_json_atomic, write_text_atomic

#: Validation metrics shown in the summary, in this order.
VALIDATION_KEYS = ("n_input", "n_valid", "atom_stable_edm", "mol_stable_edm", "atom_stable", "mol_stable", "valid",
                   "valid_connected", "unique", "novel", "pb_valid")
DOCKING_KEYS = ("mode", "num_ligands", "num_ok", "num_failed", "best_kcal_mol")


def build_report(run_dir: str | Path) -> dict:
    """The report's content (what ``report.json`` holds)."""
    root = Path(run_dir)
    manifest = read_json(root / "manifest.json") or {}
    steps, validation, docking = [], {}, {}
    for name, entry in (manifest.get("steps") or {}).items():
        counts, chunks = entry.get("counts") or {}, entry.get("chunks") or {}
        steps.append({"name": name, "type": entry.get("type"), "status": entry.get("status"),
                      "chunks": chunks.get("total"), "input": counts.get("input"), "output": counts.get("output"),
                      "seconds": entry.get("seconds"), "error": entry.get("error")})
        if entry.get("type") == "validate":
            metrics = read_json(root / "steps" / name / "metrics.json")
            if metrics:
                validation[name] = {"summary": {k: metrics.get(k) for k in VALIDATION_KEYS if k in metrics},
                                    "checks": metrics.get("checks", {}), "properties": metrics.get("properties", {}),
                                    "reasons": metrics.get("reasons", {})}
        elif entry.get("type") == "dock":
            summary = read_json(root / "steps" / name / "summary.json")
            if summary:
                docking[name] = {k: summary.get(k) for k in (*DOCKING_KEYS, "failures")}
    return {"name": manifest.get("name"), "status": manifest.get("status"), "run_dir": str(root.resolve()),
            "generated": time.strftime("%Y-%m-%dT%H:%M:%S"), "seed": manifest.get("seed"), "steps": steps,
            "validation": validation, "docking": docking, "final": manifest.get("final", {}),
            "tool_versions": manifest.get("tool_versions", {})}


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}"
    return html.escape(str(v))


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict) -> str:
    """A self-contained HTML page of the report (no scripts, no external files)."""
    parts = [f"<h1>{_fmt(report.get('name'))}</h1>",
             (f"<p>status: <b>{_fmt(report.get('status'))}</b> &middot; seed {_fmt(report.get('seed'))} "
              f"&middot; {_fmt(report.get('run_dir'))} &middot; {_fmt(report.get('generated'))}</p>"),
             "<h2>Steps</h2>",
             _table(report["steps"], ["name", "type", "status", "chunks", "input", "output", "seconds", "error"])]
    for name, v in report["validation"].items():
        parts.append(f"<h2>Validation: {html.escape(name)}</h2>")
        parts.append(_table([{"metric": k, "value": x} for k, x in v["summary"].items()], ["metric", "value"]))
        if v["checks"]:
            parts.append("<h3>Checks (pass rate)</h3>")
            parts.append(_table([{"check": k, "pass": x} for k, x in v["checks"].items()], ["check", "pass"]))
        if v["properties"]:
            parts.append("<h3>Properties (mean over valid molecules)</h3>")
            parts.append(_table([{"property": k, "mean": x} for k, x in v["properties"].items()],
                                ["property", "mean"]))
    for name, v in report["docking"].items():
        parts.append(f"<h2>Docking: {html.escape(name)}</h2>")
        parts.append(_table([{"key": k, "value": v.get(k)} for k in DOCKING_KEYS], ["key", "value"]))
    if report.get("final"):
        parts.append("<h2>Final outputs</h2>")
        parts.append(_table([{"file": k, "path": p} for k, p in report["final"].items()], ["file", "path"]))
    style = ("body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:.5em 0}"
             "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}th{background:#f3f3f3}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{_fmt(report.get('name'))} - molgen run"
            f"</title><style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_report(run_dir: str | Path) -> Path:
    """Write ``RUN_DIR/report.json`` and ``RUN_DIR/report.html``; returns the HTML path."""
    root = Path(run_dir)
    report = build_report(root)
    write_json_atomic(root / "report.json", report)
    return write_text_atomic(root / "report.html", render_html(report))
