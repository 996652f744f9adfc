"""`molgen sample` / `molgen pose` on bad input: one line naming the file, exit 2, checked before sampling."""

from __future__ import annotations

import pytest

from molgen.chem.vocab import QM9
from molgen.errors import MolgenError
from molgen.sampling.conditioning import read_first_mol
from molgen.sampling.pose import molecule_graph
from tests.conftest import ROOT, run_cli

QM9_MODEL = ROOT / "data" / "checkpoints" / "qm9_flow.ckpt"
POCKET_MODEL = ROOT / "data" / "checkpoints" / "pocket_flow.ckpt"
PROTEIN = ROOT / "data" / "complexes" / "posebusters" / "1S3V" / "1s3v_protein_one_lig_removed.pdb"
ONE_CARBON = ("{title}\n  molgen            3D\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n"
              "    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\nM  END\n$$$$\n")


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def no_sampling(monkeypatch):
    """Fail the test if a model is loaded: the error must come before any work."""
    import molgen.training.checkpoint as ckpt

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad input was refused")

    monkeypatch.setattr(ckpt, "load_model", refuse)


@pytest.mark.parametrize("command", ["sample", "pose"])
def test_empty_checkpoint(command, tmp_path, capsys):
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    extra = ["--smiles", "CCO"] if command == "pose" else []
    code = run_cli([command, "--checkpoint", str(empty), "--num", "2", "--steps", "2", "--out",
                    str(tmp_path / "x.sdf"), *extra])
    assert code == 2
    assert _one_line_error(capsys) == f"error: {empty}: not a molgen model file: the file is empty (0 bytes)"
    assert not (tmp_path / "x.sdf").exists()


@pytest.mark.parametrize("command", ["sample", "pose"])
def test_output_that_cannot_be_written_is_refused_first(command, tmp_path, capsys, no_sampling):
    folder = tmp_path / "existing"
    folder.mkdir()
    in_the_way = tmp_path / "a_file"
    in_the_way.write_text("x")
    extra = ["--smiles", "CCO"] if command == "pose" else []
    for out, message in ((folder, f"error: {folder}: output SDF is an existing folder"),
                         (in_the_way / "x.sdf", (f"error: {in_the_way / 'x.sdf'}: cannot write the output SDF: "
                                                 f"{in_the_way} is a file, not a folder"))):
        code = run_cli([command, "--checkpoint", str(QM9_MODEL), "--num", "2", "--steps", "2", "--out", str(out),
                        *extra])
        assert code == 2
        assert _one_line_error(capsys).startswith(message)
    assert list(folder.iterdir()) == []


def test_binary_ligand_is_refused(tmp_path, capsys, no_sampling):
    binary = tmp_path / "ligand.sdf"
    binary.write_bytes(bytes(range(256)) * 40)
    code = run_cli(["pose", "--checkpoint", str(QM9_MODEL), "--ligand", str(binary), "--num", "2", "--steps", "2",
                    "--out", str(tmp_path / "p.sdf")])
    assert code == 2
    assert _one_line_error(capsys) == f"error: {binary}: the ligand file is binary, not an SDF (text) file"


def test_binary_reference_ligand_is_refused(tmp_path, capsys):
    binary = tmp_path / "ref.sdf"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 40)
    code = run_cli(["sample", "--checkpoint", str(POCKET_MODEL), "--protein", str(PROTEIN), "--ref-ligand",
                    str(binary), "--num", "2", "--steps", "2", "--out", str(tmp_path / "x.sdf")])
    assert code == 2
    assert _one_line_error(capsys) == f"error: {binary}: the reference ligand file is binary, not an SDF (text) file"


def test_title_that_is_not_utf8_is_replaced(tmp_path):
    """RDKit raises UnicodeDecodeError on a non-UTF-8 title; the molecule is read, named after the file."""
    path = tmp_path / "latin.sdf"
    path.write_bytes(ONE_CARBON.format(title="caf\xe9").encode("latin-1"))
    mol = read_first_mol(path, "ligand")
    assert mol.GetProp("_Name") == "latin" and mol.GetNumAtoms() == 1
    assert molecule_graph(mol, QM9).num_nodes == 1


def test_empty_ligand_file(tmp_path):
    path = tmp_path / "empty.sdf"
    path.write_text("")
    with pytest.raises(MolgenError, match="no molecule in the ligand file"):
        read_first_mol(path, "ligand")
