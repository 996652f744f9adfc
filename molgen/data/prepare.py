"""Shared bookkeeping for dataset preparation: counts kept and skipped (with reasons), summary.json.

Every reader (``qm9``, ``sdf``, ``moses``, ``complexes``) turns its records into molecule graphs and
reports each skipped record here with a short reason; the batch never stops for one bad record.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from molgen.io import write_json_atomic

log = logging.getLogger(__name__)


@dataclass
class PrepareReport:
    """Counts of one preparation run.

    Attributes:
        dataset: reader name (``qm9``, ``sdf``, ``moses``, ``complexes``).
        kept: records written to the cache.
        skipped: reason -> count.
        examples: reason -> first record id that had it (to find the record again).
        extra: reader-specific figures (splits, sources, ...), copied into summary.json.
    """

    dataset: str
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def keep(self, n: int = 1) -> None:
        self.kept += n

    def skip(self, reason: str, record: str | None = None) -> None:
        self.skipped[reason] += 1
        if record is not None and reason not in self.examples:
            self.examples[reason] = record
        log.debug("skipped %s: %s", record, reason)

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "kept": self.kept,
            "skipped": self.num_skipped,
            "skip_reasons": dict(self.skipped.most_common()),
            "skip_examples": self.examples,
            "seconds": round(time.perf_counter() - self.started, 2),
            **self.extra,
        }

    def write(self, out_dir: str | Path) -> dict:
        """Write ``out_dir/summary.json`` atomically and return its content."""
        summary = self.to_dict()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "summary.json", summary)
        return summary
