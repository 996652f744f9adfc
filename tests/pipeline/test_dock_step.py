"""The dock step on real ligands: one chunk scored with Vina, merged; ids and rows kept."""

from __future__ import annotations

import gzip
import shutil

import pandas as pd
import pytest
from rdkit import Chem

from molgen.pipeline.rundir import RunDir, format_record, write_table, write_text_atomic
from molgen.pipeline.schema import DockStep
from molgen.pipeline.steps import ChunkTask, execute_chunk, merge_chunks, setup_dock
from tests.conftest import ROOT

DATA = ROOT / "tests" / "docking" / "data"


@pytest.mark.docking
def test_dock_chunk_scores_and_keeps_every_row(tmp_path):
    pytest.importorskip("vina")
    pytest.importorskip("meeko")
    from molgen.docking import box_from_mols

    pdb = tmp_path / "rec.pdb"
    with gzip.open(DATA / "prolif_rec.pdb.gz", "rb") as fin, open(pdb, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    with gzip.open(DATA / "prolif_vina_output.sdf.gz", "rt") as fh:
        text = fh.read()
    supplier = Chem.SDMolSupplier()
    supplier.SetData(text, removeHs=False)
    ligands = [m for m in supplier][:2]
    box = box_from_mols(ligands, 4.0)

    # an input step "src" with one chunk: two ligands and one id whose structure is missing
    run = RunDir(tmp_path / "run")
    src = run.chunk_dir("src", 0)
    src.mkdir(parents=True)
    write_text_atomic(src / "molecules.sdf", "".join(format_record(Chem.MolToMolBlock(m), f"gen_{i:06d}", {"x": i})
                                                      for i, m in enumerate(ligands)))
    write_table(pd.DataFrame({"id": ["gen_000000", "gen_000001", "gen_000002"], "qed": [0.5, 0.6, None]}),
                src / "table")

    step = DockStep(name="dock", input="src", receptor=pdb, mode="score",
                    box={"center": box.center, "size": box.size})
    context = setup_dock(step, run)
    assert (run.step_dir("dock") / "receptor.pdbqt").is_file()
    meta = execute_chunk(ChunkTask(str(run.root), step, 0, "fp", input_step="src", context=context))
    assert meta["n_in"] == 3 and meta["n_ok"] == 2
    merged = merge_chunks(step, run, 1)
    table = pd.read_parquet(run.step_dir("dock") / "table.parquet")
    assert table["id"].tolist() == ["gen_000000", "gen_000001", "gen_000002"]
    assert table["qed"].iloc[1] == 0.6  # input columns carried
    assert table["dock_status"].tolist() == ["ok", "ok", "failed"] and table["dock_reason"].iloc[2]
    assert (table["vina_kcal_mol"].iloc[:2] < 0).all()
    assert merged["metrics"]["num_ok"] == 2 and merged["metrics"]["best_kcal_mol"] < 0
    best = [m for m in Chem.SDMolSupplier(str(run.step_dir("dock") / "molecules.sdf"), removeHs=False)]
    assert [m.GetProp("_Name") for m in best] == ["gen_000000", "gen_000001"] and best[0].HasProp("vina_kcal_mol")
