"""Cache reuse: a prepared dataset is loaded again without re-parsing, and gives identical tensors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from molgen.data import prepare_dataset, qm9
from molgen.data.cache import MoleculeCache

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "qm9" / "qm9_sample.csv"


def no_parsing(monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("the QM9 parser was called")

    for name in ("convert_record", "build_molecule", "parse_csv_geometry"):
        monkeypatch.setattr(qm9, name, boom)


def snapshot(root: Path) -> list[dict]:
    return [{k: (v.clone() if torch.is_tensor(v) else v) for k, v in g.items()} for g in MoleculeCache(root)]


def test_second_load_reuses_cache(tmp_path, monkeypatch):
    out = tmp_path / "qm9"
    first = prepare_dataset("qm9", [SAMPLE], out, seed=0)
    before = snapshot(out / "train")
    files = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    no_parsing(monkeypatch)
    again = prepare_dataset("qm9", [SAMPLE], out, seed=0)  # same source, limit, seed: nothing is parsed
    assert again == first
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == files  # nothing rewritten

    cache = MoleculeCache(out / "train")
    assert cache.shard_loads == 0
    after = [cache[i] for i in range(len(cache))]
    assert cache.shard_loads == 1  # one shard, read once from disk
    _ = [cache[i] for i in range(len(cache))]
    assert cache.shard_loads == 1  # held in memory afterwards
    assert len(after) == len(before) == first["splits"]["train"]["kept"]
    for a, b in zip(before, after):
        assert set(a) == set(b.keys())
        for k, v in a.items():
            if torch.is_tensor(v):
                assert v.dtype == b[k].dtype and torch.equal(v, b[k]), k
            else:
                assert v == b[k], k


def test_changed_parameters_prepare_again(tmp_path, monkeypatch):
    out = tmp_path / "qm9"
    prepare_dataset("qm9", [SAMPLE], out, seed=0)
    no_parsing(monkeypatch)
    with pytest.raises(RuntimeError, match="parser was called"):
        prepare_dataset("qm9", [SAMPLE], out, seed=1)  # another split
    with pytest.raises(RuntimeError, match="parser was called"):
        prepare_dataset("qm9", [SAMPLE], out, seed=0, limit=100)
    with pytest.raises(RuntimeError, match="parser was called"):
        qm9.prepare_qm9(out, source=SAMPLE, seed=0, force=True)


def test_incomplete_cache_is_not_reused(tmp_path, monkeypatch):
    out = tmp_path / "qm9"
    prepare_dataset("qm9", [SAMPLE], out, seed=0)
    (out / "val" / "index.json").unlink()  # an interrupted write leaves no index
    no_parsing(monkeypatch)
    with pytest.raises(RuntimeError, match="parser was called"):
        prepare_dataset("qm9", [SAMPLE], out, seed=0)
