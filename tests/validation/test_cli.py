"""`molgen validate` end to end: a small SDF (exit 0, three files) and unreadable inputs (exit 2)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from rdkit import Chem

from molgen.cli import main


def test_validate_small_sdf(mols, sheet_pdb, tools, tmp_path, capsys):
    sdf = tmp_path / "generated.sdf"
    ref = tmp_path / "train_smiles.txt"
    ref.write_text("CCO\n")
    with Chem.SDWriter(str(sdf)) as w:
        for key in ("ethanol", "butane"):
            w.write(tools.place(mols[key], [1.0, 1.0, 4.5]))
    out = tmp_path / "out"
    main(["validate", str(sdf), "--out", str(out), "--reference", str(ref), "--protein", str(sheet_pdb),
          "--bonds", "predicted"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_input"] == 2 and printed["valid"] == 1.0 and printed["novel"] == 0.5
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "validated.sdf", "validation.parquet"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["protein"].endswith("sheet.pdb")
    assert {"protein_max_distance", "no_protein_clash", "no_volume_clash"} <= set(metrics["checks"])
    table = pd.read_parquet(out / "validation.parquet")
    assert table["protein_max_distance"].all() and len(table) == 2


@pytest.mark.parametrize("content", [None, "", "garbage\nnot a molecule\n"])
def test_unreadable_input_exits_2_with_one_line(content, tmp_path, capsys):
    path = tmp_path / "input.sdf"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(path), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_options_exit_2(mols, tmp_path, capsys):
    sdf = tmp_path / "one.sdf"
    with Chem.SDWriter(str(sdf)) as w:
        w.write(mols["ethanol"])
    for extra in (["--bonds", "magic"], ["--hydrogens", "some"], ["--reference", str(tmp_path / "nope.txt")],
                  ["--protein", str(tmp_path / "nope.pdb")]):
        with pytest.raises(SystemExit) as exc:
            main(["validate", str(sdf), "--out", str(tmp_path / "o"), *extra])
        assert exc.value.code == 2, extra
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
