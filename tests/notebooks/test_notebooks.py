"""The notebooks: committed without outputs, and they run (nbclient) on small runs made in the session.

Each notebook reads its run directory from an environment variable (its parameter cell); the kernel
inherits the variables set here.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
ALL = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def test_notebooks_are_committed_without_outputs():
    assert ALL == ["01_quickstart_analysis.ipynb", "02_pocket_analysis.ipynb", "03_training_curves.ipynb"]
    for name in ALL:
        nb = json.loads((NOTEBOOKS / name).read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, f"{name}: not stripped"
        assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb["cells"]), name
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        assert "import molgen" in code or "from molgen" in code
        assert "run_workflow" not in code and "molgen run" not in code  # they read runs, never make them


def _execute(name: str, env: dict, monkeypatch) -> list[dict]:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _mimes(outputs: list[dict]) -> list[str]:
    return [m for o in outputs for m in o.get("data", {})]


def test_quickstart_notebook(quick_dir, monkeypatch):
    outputs = _execute("01_quickstart_analysis.ipynb", {"MOLGEN_RUN_DIR": quick_dir}, monkeypatch)
    mimes = _mimes(outputs)
    assert mimes.count("image/png") >= 4 and "image/svg+xml" in mimes and "text/html" in mimes
    assert not [o for o in outputs if o["output_type"] == "error"]


def test_pocket_notebook(pocket_dir, monkeypatch):
    outputs = _execute("02_pocket_analysis.ipynb", {"MOLGEN_POCKET_RUN_DIR": pocket_dir}, monkeypatch)
    mimes = _mimes(outputs)
    assert mimes.count("image/png") >= 2 and mimes.count("image/svg+xml") == 2
    assert "application/3dmoljs_load.v0" in mimes  # the 3D view of the best pose in the receptor


def test_training_notebook(training_dir, quality_json, monkeypatch):
    outputs = _execute("03_training_curves.ipynb", {"MOLGEN_TRAIN_DIR": training_dir,
                                                    "MOLGEN_QUALITY_JSON": quality_json}, monkeypatch)
    assert _mimes(outputs).count("image/png") == 2  # the training curves, quality against steps
