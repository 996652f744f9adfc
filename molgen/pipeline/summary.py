"""The table printed at the end of ``molgen run`` / ``molgen merge`` (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from molgen.pipeline.engine import RunResult

_STYLE = {"complete": "green", "cached": "green", "shard complete": "green", "failed": "bold red",
          "not run": "dim", "after merge": "yellow"}


def summary_table(result: RunResult) -> Table:
    """One row per step: status, chunks, molecules in/out, seconds and a note (metrics or the error)."""
    shard = f" (shard {result.shard[0]}/{result.shard[1]})" if result.shard else ""
    table = Table(title=f"{result.run_dir}{shard}: {result.status}", title_justify="left")
    for col, just in (("step", "left"), ("type", "left"), ("status", "left"), ("chunks", "right"),
                      ("new", "right"), ("in", "right"), ("out", "right"), ("seconds", "right"),
                      ("note", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for r in result.steps:
        style = _STYLE.get(r["status"], "")
        table.add_row(r["name"], r["type"], f"[{style}]{r['status']}[/]" if style else r["status"], r["chunks"],
                      str(r["computed"] or ""), "" if r["input"] is None else str(r["input"]),
                      "" if r["output"] is None else str(r["output"]), f"{r['seconds']:.1f}" if r["seconds"] else "",
                      r["note"] or "")
    return table


def print_summary(result: RunResult, console: Console | None = None) -> None:
    """Print the summary table, the run's warnings and where the final outputs are."""
    if console is None:
        console = Console()
        if not console.is_terminal:  # logs and CI: one row per line rather than 80 folded columns
            console = Console(width=160)
    console.print(summary_table(result))
    for w in result.warnings:
        console.print(f"[bold yellow]warning:[/] {w}", highlight=False)
    if result.final:
        console.print(f"final molecules: {result.final.get('sdf')}  table: {result.final.get('csv')}")
    elif result.shard and result.ok:
        console.print(f"shard done; when every shard has finished: molgen merge {result.run_dir}")
