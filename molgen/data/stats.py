"""Dataset statistics: what training and sampling read from ``stats.json``.

Keys of the dict returned by :func:`compute_stats` (and stored in ``CACHE/stats.json``); they are a
contract, so add keys rather than change them. JSON object keys are strings: integer keys are
written in decimal (``"9"``, ``"-1"``); :func:`size_histogram` reads the atom-count histogram back.

* ``version``: 1.
* ``vocab``: the vocabulary (``Vocab.to_dict()``).
* ``num_graphs``: number of molecules.
* ``num_atoms``: ``{"hist": {n: count}, "min", "max", "mean"}`` over atoms per molecule (hydrogens
  included); ``hist`` is what sampling draws molecule sizes from.
* ``atom_types``: ``{"counts": {symbol: count}, "freq": {symbol: fraction}}`` over all atoms, every
  vocabulary element present (zero if unseen), in vocabulary order.
* ``charges``: ``{"counts": {charge: count}, "freq": {charge: fraction}}`` by formal charge value (e),
  every vocabulary charge present.
* ``bond_length_bins``: ``{"lo": 0.0, "hi": 3.0, "width": 0.05, "n": 60}``; bin k covers
  [lo + k·width, lo + (k+1)·width) Å.
* ``bonds``: per bond class name (``single``, ``double``, ``triple``, ``aromatic``; every class
  present): ``{"count", "mean", "std", "min", "max", "hist", "above"}``: lengths in Å of each
  undirected bond counted once, ``std`` the population standard deviation, ``hist`` the 60 bin
  counts, ``above`` the bonds of ``hi`` Å or longer; ``mean``/``std``/``min``/``max`` are null when
  ``count`` is 0.
* ``pocket_ligand`` (only when graphs carry ``pocket_pos [M, 3]``): ``{"bin_width": 10,
  "hist": {pocket_bin: {n_ligand: count}}}`` where ``pocket_bin`` is the lower edge of the bin of
  pocket atom counts (``"120"`` = 120–129 pocket atoms) and ``n_ligand`` the ligand atom count.
  Pocket atoms as prepared: hydrogens counted where the protein file has them, so proteins with and
  without hydrogens share bins here (kept for old checkpoints; sampling reads the next key).
* ``pocket_heavy_ligand`` (only when graphs carry ``pocket_element [M]``): the same table over the
  pocket's *heavy* atoms (``pocket_element`` not H), the same for a protein with or without
  hydrogens.
* ``pocket_sites`` (only when graphs also carry ``protein``, the protein file name): the same data per
  binding site, ``{"group": "protein", "sites": [{"name", "pocket_heavy_median", "ligand_hist": {n_ligand:
  count}}, ...]}`` sorted by ``pocket_heavy_median`` (the median heavy pocket atom count over the
  site's complexes). A site is every complex of one protein file name (the same target in two
  benchmark sets is one site). What sampling looks a pocket's ligand size up in: the nearest sites,
  each counted once however many congeneric ligands it holds (:func:`molgen.sampling.conditioning.pocket_sizes`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from torch_geometric.data import Data

from molgen.chem.vocab import BOND_TYPES, POCKET_ELEMENTS, Vocab
from molgen.data.cache import MoleculeCache
from molgen.io import write_json_atomic

STATS_VERSION = 1
BOND_BINS = {"lo": 0.0, "hi": 3.0, "width": 0.05, "n": 60}
POCKET_BIN_WIDTH = 10
_FLUSH = 200_000  # bond lengths gathered before they are folded into the running sums


class _BondAccumulator:
    """Running count / sum / sum of squares / min / max / histogram of bond lengths per class."""

    def __init__(self) -> None:
        k = len(BOND_TYPES)
        self.count = np.zeros(k, dtype=np.int64)
        self.sum = np.zeros(k)
        self.sumsq = np.zeros(k)
        self.min = np.full(k, np.inf)
        self.max = np.full(k, -np.inf)
        self.hist = np.zeros((k, BOND_BINS["n"]), dtype=np.int64)
        self.above = np.zeros(k, dtype=np.int64)
        self._lengths: list[np.ndarray] = []
        self._types: list[np.ndarray] = []
        self._pending = 0

    def add(self, lengths: np.ndarray, types: np.ndarray) -> None:
        self._lengths.append(lengths)
        self._types.append(types)
        self._pending += len(lengths)
        if self._pending >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        d, t = np.concatenate(self._lengths).astype(np.float64), np.concatenate(self._types)
        self._lengths, self._types, self._pending = [], [], 0
        k = len(BOND_TYPES)
        self.count += np.bincount(t, minlength=k)
        self.sum += np.bincount(t, weights=d, minlength=k)
        self.sumsq += np.bincount(t, weights=d * d, minlength=k)
        np.minimum.at(self.min, t, d)
        np.maximum.at(self.max, t, d)
        b = np.floor((d - BOND_BINS["lo"]) / BOND_BINS["width"]).astype(np.int64)
        inside = (b >= 0) & (b < BOND_BINS["n"])
        np.add.at(self.hist, (t[inside], b[inside]), 1)
        self.above += np.bincount(t[~inside & (d >= BOND_BINS["hi"])], minlength=k)

    def to_dict(self) -> dict:
        self.flush()
        out = {}
        for k, name in enumerate(BOND_TYPES[1:], start=1):
            n = int(self.count[k])
            mean = self.sum[k] / n if n else None
            std = float(np.sqrt(max(self.sumsq[k] / n - mean * mean, 0.0))) if n else None
            out[name] = {
                "count": n,
                "mean": None if mean is None else float(mean),
                "std": std,
                "min": float(self.min[k]) if n else None,
                "max": float(self.max[k]) if n else None,
                "hist": self.hist[k].tolist(),
                "above": int(self.above[k]),
            }
        return out


def compute_stats(graphs: Iterable[Data], vocab: Vocab) -> dict:
    """Statistics of a set of molecule graphs (keys in the module docstring).

    Args:
        graphs: molecule graphs: ``pos [N, 3] float, Å``, ``atom_type [N]``, ``charge [N]``,
            ``edge_index [2, E]``, ``bond_type [E]``; optionally ``pocket_pos [M, 3] float, Å``.
            Each undirected bond is counted once (the edge with source < target).
        vocab: the vocabulary the indices refer to.

    Returns:
        The statistics dict (JSON-ready).
    """
    sizes: Counter = Counter()
    type_counts = np.zeros(vocab.num_types, dtype=np.int64)
    charge_counts = np.zeros(vocab.num_charges, dtype=np.int64)
    bonds = _BondAccumulator()
    pocket: dict[int, Counter] = {}
    pocket_heavy: dict[int, Counter] = {}
    sites: dict[str, tuple[list[int], Counter]] = {}  # protein file name -> (heavy pocket atoms, ligand sizes)
    num = 0
    for g in graphs:
        num += 1
        n = int(g.num_nodes)
        sizes[n] += 1
        type_counts += np.bincount(g.atom_type.numpy(), minlength=vocab.num_types)
        charge_counts += np.bincount(g.charge.numpy(), minlength=vocab.num_charges)
        ei = g.edge_index.numpy()
        once = ei[0] < ei[1]
        if once.any():
            pos = g.pos.double().numpy()
            i, j = ei[0, once], ei[1, once]
            bonds.add(np.linalg.norm(pos[i] - pos[j], axis=1), g.bond_type.numpy()[once])
        pocket_pos = getattr(g, "pocket_pos", None)
        if pocket_pos is not None:
            b = pocket_pos.shape[0] // POCKET_BIN_WIDTH * POCKET_BIN_WIDTH
            pocket.setdefault(b, Counter())[n] += 1
        pocket_element = getattr(g, "pocket_element", None)
        if pocket_element is not None:
            heavy = int((pocket_element != POCKET_ELEMENTS.index("H")).sum())
            pocket_heavy.setdefault(heavy // POCKET_BIN_WIDTH * POCKET_BIN_WIDTH, Counter())[n] += 1
            protein = getattr(g, "protein", None)
            if protein is not None:
                heavies, ligands = sites.setdefault(str(protein), ([], Counter()))
                heavies.append(heavy)
                ligands[n] += 1

    atoms = int(type_counts.sum())
    stats = {
        "version": STATS_VERSION,
        "vocab": vocab.to_dict(),
        "num_graphs": num,
        "num_atoms": {
            "hist": {str(k): sizes[k] for k in sorted(sizes)},
            "min": min(sizes) if sizes else None,
            "max": max(sizes) if sizes else None,
            "mean": sum(k * v for k, v in sizes.items()) / num if num else None,
        },
        "atom_types": _counts_and_freq(vocab.elements, type_counts, atoms),
        "charges": _counts_and_freq([str(c) for c in vocab.charges], charge_counts, atoms),
        "bond_length_bins": dict(BOND_BINS),
        "bonds": bonds.to_dict(),
    }
    if pocket:
        stats["pocket_ligand"] = _size_table(pocket)
    if pocket_heavy:
        stats["pocket_heavy_ligand"] = _size_table(pocket_heavy)
    if sites:
        stats["pocket_sites"] = _site_table(sites)
    return stats


def _site_table(sites: dict[str, tuple[list[int], Counter]]) -> dict:
    rows = [{"name": name, "pocket_heavy_median": float(np.median(heavies)),
             "ligand_hist": {str(n): c for n, c in sorted(ligands.items())}}
            for name, (heavies, ligands) in sites.items()]
    rows.sort(key=lambda r: (r["pocket_heavy_median"], r["name"]))
    return {"group": "protein", "sites": rows}


def _size_table(bins: dict[int, Counter]) -> dict:
    return {
        "bin_width": POCKET_BIN_WIDTH,
        "hist": {str(b): {str(n): c for n, c in sorted(bins[b].items())} for b in sorted(bins)},
    }


def _counts_and_freq(labels: Iterable[str], counts: np.ndarray, total: int) -> dict:
    labels = list(labels)
    return {
        "counts": {k: int(c) for k, c in zip(labels, counts)},
        "freq": {k: (float(c) / total if total else 0.0) for k, c in zip(labels, counts)},
    }


def write_stats(cache_dir: str | Path) -> dict:
    """Compute the statistics of a molecule cache and write them to ``cache_dir/stats.json``.

    Args:
        cache_dir: a folder written by :func:`molgen.data.cache.write_cache`.

    Returns:
        The statistics dict.
    """
    cache = MoleculeCache(cache_dir, max_shards_in_memory=1)
    stats = compute_stats(iter(cache), cache.vocab)
    write_json_atomic(Path(cache_dir) / "stats.json", stats)
    return stats


def size_histogram(stats: dict) -> dict[int, int]:
    """The atom-count histogram of a stats dict with integer keys: ``{n_atoms: count}``."""
    return {int(k): int(v) for k, v in stats["num_atoms"]["hist"].items()}
