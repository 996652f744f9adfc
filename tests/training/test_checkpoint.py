"""Model files that are not molgen model files: one line naming the file, never advice to load unsafely."""

from __future__ import annotations

import collections

import pytest
import torch

from molgen.errors import MolgenError
from molgen.training.checkpoint import read_model_file
from tests.conftest import ROOT

SHIPPED = ROOT / "data" / "checkpoints" / "qm9_flow.ckpt"


class _Foreign:
    """An object torch.load(weights_only=True) refuses to unpickle."""


def _bad_files(tmp_path) -> dict[str, object]:
    files = {}
    files["empty"] = tmp_path / "empty.ckpt"
    files["empty"].write_bytes(b"")
    files["text"] = tmp_path / "text.ckpt"
    files["text"].write_text("hello\n")
    files["truncated"] = tmp_path / "truncated.ckpt"
    files["truncated"].write_bytes(SHIPPED.read_bytes()[:100_000])
    files["foreign"] = tmp_path / "foreign.ckpt"
    torch.save({"a": collections.OrderedDict(), "obj": _Foreign()}, files["foreign"])
    files["random"] = tmp_path / "random.ckpt"
    files["random"].write_bytes(bytes((i * 7919) % 251 for i in range(3000)))
    files["tensor"] = tmp_path / "tensor.ckpt"
    torch.save(torch.zeros(3), files["tensor"])
    files["dict"] = tmp_path / "dict.ckpt"
    torch.save({"weights": torch.zeros(3)}, files["dict"])
    return files


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "foreign", "random", "tensor", "dict"])
def test_bad_model_file_is_one_line_naming_it(kind, tmp_path):
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(MolgenError) as exc:
        read_model_file(path)
    text = str(exc.value)
    assert text.startswith(f"{path}: not a molgen model file"), text
    assert "\n" not in text and "weights_only" not in text and "trust" not in text, text
    if kind == "empty":
        assert "empty (0 bytes)" in text
    if kind == "truncated":
        assert "truncated or damaged" in text


def test_folder_and_missing_file(tmp_path):
    with pytest.raises(MolgenError, match="checkpoint not found"):
        read_model_file(tmp_path / "nope.ckpt")
    with pytest.raises(MolgenError, match="not a regular file"):
        read_model_file(tmp_path)


def test_shipped_model_file_still_reads():
    config, stats, vocab, state, _ = read_model_file(SHIPPED)
    assert vocab["name"] == "qm9" and state and "process" in config and stats


def test_export_writes_sampling_settings_into_the_model_file(tmp_path):
    from molgen.training.checkpoint import export_checkpoint, load_model

    src = ROOT / "data" / "checkpoints" / "qm9_heavy_flow.ckpt"
    out = export_checkpoint(src, tmp_path / "m.ckpt", {"note": "test"}, {"discrete_stochasticity": 2.5})
    gm = load_model(out)
    assert gm.config["process"]["discrete_stochasticity"] == 2.5 and gm.meta["note"] == "test"
    assert all(c.stochasticity == 2.5 for c in gm.process.cat.values())
    before = load_model(src).model.state_dict()
    assert all(torch.equal(v, before[k]) for k, v in gm.model.state_dict().items())
    with pytest.raises(Exception, match="stochasticity"):
        export_checkpoint(src, tmp_path / "bad.ckpt", None, {"discrete_stochasticity": -1})
