"""Every shipped config loads, validates and builds its model and process; errors are one line."""

from pathlib import Path

import pytest

from molgen.chem.vocab import get_vocab
from molgen.config import load_config, parse_options
from molgen.errors import MolgenError
from molgen.training.module import build_components
from tests.conftest import ROOT

CONFIGS = sorted((ROOT / "configs").glob("**/*.yaml"))


def test_there_are_configs():
    assert {p.name for p in CONFIGS} >= {"qm9_flow.yaml", "qm9_diffusion.yaml", "drug_flow.yaml", "heavy_matched.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_builds(path: Path):
    cfg = load_config(path)
    assert cfg.data.train.is_absolute()  # resolved against the file, not the working directory
    assert str(cfg.data.train).startswith(str(ROOT))
    model, process = build_components(cfg.model_dump(mode="json"), get_vocab(cfg.data.vocab))
    assert sum(p.numel() for p in model.parameters()) > 0
    assert process.name == cfg.process.name


def test_parse_options_types_dotted_keys_and_errors():
    assert parse_options(["discrete_stochasticity=1", "sampler=ddim", "a.b=0.5", "flag=true", "a.b=2"]) == {
        "discrete_stochasticity": 1, "sampler": "ddim", "a.b": 2, "flag": True}
    assert parse_options(None) == {} and parse_options([]) == {}
    with pytest.raises(MolgenError, match="not of the form key=value"):
        parse_options(["eta"])


def test_overrides_and_types(tmp_path):
    cfg = load_config(ROOT / "configs" / "qm9_flow.yaml", ["data.batch_size=7", "process.integrator=heun"])
    assert cfg.data.batch_size == 7 and cfg.process.kwargs()["integrator"] == "heun"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("data: {train: x}\nmodel: {name: egn}\n", "did you mean 'egnn'"),
        ("data: {train: x, batch_size: -1}\n", "data.batch_size"),
        ("data: {train: x}\ntrian: {}\n", "trian: unknown key"),
        ("data: [unclosed\n", "invalid YAML"),
        ("data: {train: x}\nprocess: {name: flw}\n", "did you mean 'flow'"),
    ],
)
def test_bad_configs_are_one_line_errors(tmp_path, text, expected):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(MolgenError) as err:
        load_config(p)
    msg = str(err.value)
    assert expected in msg and "\n" not in msg and str(p) in msg


def test_missing_config():
    with pytest.raises(MolgenError, match="config file not found"):
        load_config("/nonexistent/x.yaml")
