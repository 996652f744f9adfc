"""On-disk cache of processed molecule graphs: written once, then read back without re-parsing.

Layout of a cache directory::

    DIR/index.json      format version, vocabulary, shard sizes, total count
    DIR/stats.json      dataset statistics (see :mod:`molgen.data.stats`)
    DIR/summary.json    what preparation kept and skipped, with reasons
    DIR/shard_00000.pt  up to ``shard_size`` graphs, collated into flat tensors + slices

Shards hold only tensors, lists of strings and dicts, so they load with ``weights_only=True``.
Reading streams shard by shard (a small LRU of loaded shards), so a large set never has to sit in
memory whole.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from torch_geometric.data import Data

from molgen.chem.vocab import Vocab
from molgen.errors import MolgenError
from molgen.io import write_json_atomic

FORMAT_VERSION = 1


def _cat_dim(key: str) -> int:
    return -1 if key.endswith("edge_index") else 0


def _collate(graphs: list[Data]) -> dict:
    tensors: dict[str, list[torch.Tensor]] = {}
    strings: dict[str, list[str]] = {}
    for g in graphs:
        for key, value in g.items():
            if isinstance(value, torch.Tensor):
                tensors.setdefault(key, []).append(value)
            elif isinstance(value, str):
                strings.setdefault(key, []).append(value)
    out_t, slices = {}, {}
    for key, values in tensors.items():
        if len(values) != len(graphs):
            raise ValueError(f"tensor {key!r} missing from some graphs of the shard")
        dim = _cat_dim(key)
        sizes = torch.tensor([v.shape[dim] for v in values], dtype=torch.long)
        slices[key] = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)])
        out_t[key] = torch.cat(values, dim=dim)
    num_nodes = torch.tensor([g.num_nodes for g in graphs], dtype=torch.long)
    return {"tensors": out_t, "slices": slices, "strings": strings, "num_nodes": num_nodes}


def _uncollate(shard: dict, i: int) -> Data:
    data = Data()
    for key, flat in shard["tensors"].items():
        s = shard["slices"][key]
        a, b = int(s[i]), int(s[i + 1])
        data[key] = flat[..., a:b] if _cat_dim(key) == -1 else flat[a:b]
    for key, values in shard["strings"].items():
        data[key] = values[i]
    data.num_nodes = int(shard["num_nodes"][i])
    return data


def write_cache(
    graphs: Iterable[Data], out_dir: str | Path, vocab: Vocab, shard_size: int = 20000, meta: dict | None = None
) -> int:
    """Write graphs into a cache directory, shard by shard; returns the number written.

    Statistics are not computed here: :func:`molgen.data.stats.compute_stats` reads the cache back.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("shard_*.pt"):
        old.unlink()
    sizes: list[int] = []
    buf: list[Data] = []

    def flush() -> None:
        path = out / f"shard_{len(sizes):05d}.pt"
        tmp = path.with_name(path.name + ".tmp")
        torch.save(_collate(buf), tmp)
        os.replace(tmp, path)
        sizes.append(len(buf))
        buf.clear()

    for g in graphs:
        buf.append(g)
        if len(buf) >= shard_size:
            flush()
    if buf:
        flush()
    index = {
        "format": FORMAT_VERSION,
        "vocab": vocab.to_dict(),
        "shard_sizes": sizes,
        "count": sum(sizes),
        "meta": meta or {},
    }
    write_json_atomic(out / "index.json", index)
    return index["count"]


def is_cache(path: str | Path) -> bool:
    """True if ``path`` holds a complete cache (index written last, so its presence means complete)."""
    return (Path(path) / "index.json").is_file()


class MoleculeCache(torch.utils.data.Dataset):
    """A processed dataset read back from a cache directory.

    Args:
        root: cache directory written by :func:`write_cache`.
        max_shards_in_memory: LRU size; shards are loaded on first access. None keeps every shard
            once loaded when the cache is smaller than ``memory_budget`` bytes on disk (random access
            over a small set must not re-read shards), else 4.
        memory_budget: bytes; see ``max_shards_in_memory``.
    """

    def __init__(self, root: str | Path, max_shards_in_memory: int | None = None,
                 memory_budget: int = 4 * 2**30) -> None:
        self.root = Path(root)
        if not is_cache(self.root):
            raise MolgenError("not a molgen dataset cache (no index.json); run `molgen data prepare` first", self.root)
        self.index = json.loads((self.root / "index.json").read_text())
        if self.index.get("format") != FORMAT_VERSION:
            raise MolgenError(f"cache format {self.index.get('format')} != {FORMAT_VERSION}; prepare it again", self.root)
        self.vocab = Vocab.from_dict(self.index["vocab"])
        self._offsets = [0]
        for n in self.index["shard_sizes"]:
            self._offsets.append(self._offsets[-1] + n)
        self._shards: OrderedDict[int, dict] = OrderedDict()
        if max_shards_in_memory is None:
            on_disk = sum(p.stat().st_size for p in self.root.glob("shard_*.pt"))
            max_shards_in_memory = len(self.index["shard_sizes"]) if on_disk <= memory_budget else 4
        self._max = max(1, max_shards_in_memory)
        self.shard_loads = 0  # counts real disk reads; tests use it to show reuse

    @property
    def stats(self) -> dict:
        path = self.root / "stats.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def __len__(self) -> int:
        return self._offsets[-1]

    def _shard(self, k: int) -> dict:
        if k in self._shards:
            self._shards.move_to_end(k)
            return self._shards[k]
        shard = torch.load(self.root / f"shard_{k:05d}.pt", weights_only=True)
        self.shard_loads += 1
        self._shards[k] = shard
        if len(self._shards) > self._max:
            self._shards.popitem(last=False)
        return shard

    def _locate(self, idx: int) -> tuple[int, int]:
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        lo, hi = 0, len(self._offsets) - 1
        while hi - lo > 1:  # binary search over shard offsets
            mid = (lo + hi) // 2
            if self._offsets[mid] <= idx:
                lo = mid
            else:
                hi = mid
        return lo, idx - self._offsets[lo]

    def __getitem__(self, idx: int) -> Data:
        k, i = self._locate(int(idx))
        return _uncollate(self._shard(k), i)

    def __iter__(self) -> Iterator[Data]:
        for i in range(len(self)):
            yield self[i]

    def num_atoms(self) -> torch.Tensor:
        """[len] long: atom count of every graph, read from the shard headers (used for bucketing)."""
        return torch.cat([self._shard(k)["num_nodes"] for k in range(len(self.index["shard_sizes"]))])
