"""QM9 reader: qm9pack CSVs or the official XYZ archive -> split molecule-graph caches.

QM9 (Ramakrishnan et al., Sci. Data 1, 140022 (2014)) gives B3LYP geometries and the GDB SMILES of
133,885 molecules; 3,054 of them ("uncharacterized") failed the authors' consistency check, which
leaves 130,831. Two source formats are read:

* qm9pack CSVs (the PyPI package ``qm9pack`` ships ``qm9pack/data/qm9_part{1,2,3}.csv``): columns
  ``Index``, ``SMILES`` (GDB SMILES), ``Elements`` and ``XYZ_Ang`` (Python-literal lists, Å); the
  uncharacterized molecules are already left out.
* the official archive ``dsgdb9nsd.xyz.tar.bz2`` (or a folder of its ``.xyz`` files): per molecule a
  natoms line, a ``gdb N`` line of 17 fields, ``element x y z mulliken`` lines (``*^`` exponents),
  frequencies, GDB and relaxed SMILES, InChIs. An ``uncharacterized.txt`` beside it removes those
  molecules before the split.

Bonds come from the coordinates, bond orders and formal charges from the SMILES: the coordinate
graph is matched onto the SMILES graph (hydrogens explicit, bond orders ignored) and orders/charges
are carried through the atom mapping. A molecule whose coordinate graph differs from its SMILES graph
is skipped with a reason in ``summary.json``.

Output (``prepare_qm9``)::

    OUT/train, OUT/val, OUT/test   molecule-graph caches (vocabulary ``qm9``, or ``qm9_heavy``: the same
                                   molecules without hydrogens, Kekulé bonds) with stats.json each
    OUT/train_smiles.txt           sorted unique canonical SMILES (no H, no stereo) of the train set
    OUT/summary.json               kept / skipped with reasons, split sizes, source, parameters

The split follows EDM (Hoogeboom et al. 2022, after cormorant): a seeded permutation of the molecule
positions (source order, i.e. by QM9 index) cut into 100,000 train, 17,748 val, 13,083 test; for a
source of another size the same proportions. The permutation is fixed before any molecule is parsed,
so a skipped molecule never moves another one to a different split. With ``limit`` each split keeps
the first part of its own segment, in the same proportions, so limited splits nest in the full ones.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import json
import logging
import multiprocessing as mp
import os
import sysconfig
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem, RDLogger, rdBase
from torch_geometric.data import Data
from tqdm import tqdm

from molgen.chem.convert import mol_to_graph
from molgen.chem.vocab import get_vocab
from molgen.data.cache import is_cache, write_cache
from molgen.data.prepare import PrepareReport
from molgen.data.stats import write_stats
from molgen.errors import MolgenError, SkipRecord

log = logging.getLogger(__name__)

#: Official QM9 archive on figshare (Ramakrishnan et al. 2014): ``dsgdb9nsd.xyz.tar.bz2``.
QM9_URL = "https://springernature.figshare.com/ndownloader/files/3195389"
#: The list of 3,054 molecules that failed the authors' consistency check.
QM9_EXCLUDED_URL = "https://springernature.figshare.com/ndownloader/files/3195404"
QM9_ARCHIVE = "dsgdb9nsd.xyz.tar.bz2"
QM9_EXCLUDED = "uncharacterized.txt"
QM9_NUM_XYZ = 133_885
QM9_NUM_EXCLUDED = 3_054
QM9_NUM_MOLECULES = QM9_NUM_XYZ - QM9_NUM_EXCLUDED  # 130,831
#: EDM split sizes over the 130,831 characterized molecules (train, val, test).
EDM_SPLIT = (100_000, 17_748, 13_083)
SPLITS = ("train", "val", "test")
CSV_COLUMNS = ("Index", "SMILES", "Elements", "XYZ_Ang")

#: Covalent radii (Å, Cordero et al. 2008) and the most neighbours an atom may take in QM9.
_RCOV = {"H": 0.31, "C": 0.76, "N": 0.71, "O": 0.66, "F": 0.57}
_MAX_DEGREE = {"H": 1, "C": 4, "N": 4, "O": 2, "F": 1}
_BOND_TOLERANCE = 1.3  # a pair is a bond candidate when d < 1.3 (r_i + r_j)
_ORDER = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3}
_PARALLEL_MIN = 2000  # below this many molecules a process pool costs more than it saves


# --------------------------------------------------------------------------------------------- parsing


def parse_csv_geometry(elements: str, xyz: str) -> tuple[list[str], np.ndarray]:
    """Parse the ``Elements`` and ``XYZ_Ang`` cells of a qm9pack CSV row.

    Args:
        elements: Python-literal list of symbols, e.g. ``"['C','H','H','H','H']"``.
        xyz: Python-literal nested list ``"[[x,y,z],...]"`` in Å.

    Returns:
        symbols (N) and pos ``[N, 3] float64, Å``.

    Raises:
        SkipRecord: unparsable cells or a coordinate count that does not match the elements.
    """
    symbols = [s.strip().strip("'\"") for s in elements.strip().strip("[]").split(",") if s.strip()]
    try:
        flat = [float(v) for v in xyz.replace("[", " ").replace("]", " ").replace(",", " ").split()]
    except ValueError:
        raise SkipRecord("XYZ_Ang unparsable") from None
    if not symbols or len(flat) != 3 * len(symbols):
        raise SkipRecord("XYZ_Ang does not match the Elements list")
    return symbols, np.asarray(flat, dtype=np.float64).reshape(-1, 3)


def parse_xyz_block(text: str) -> tuple[int, list[str], np.ndarray, str]:
    """Parse one molecule of the official QM9 XYZ format.

    Returns:
        (QM9 index, symbols, pos ``[N, 3] float64, Å``, GDB SMILES).

    Raises:
        SkipRecord: a malformed block.
    """
    lines = text.strip("\n").splitlines()
    try:
        n = int(lines[0])
        header = lines[1].split()
        if header[0] != "gdb" or len(header) != 17:
            raise ValueError
        index = int(header[1])
        symbols, coords = [], []
        for line in lines[2 : 2 + n]:
            f = line.split()
            symbols.append(f[0])
            coords.append([float(v.replace("*^", "e")) for v in f[1:4]])
        smiles = lines[3 + n].split()[0]
    except (ValueError, IndexError):
        raise SkipRecord("malformed QM9 XYZ block") from None
    if len(symbols) != n:
        raise SkipRecord("malformed QM9 XYZ block")
    return index, symbols, np.asarray(coords, dtype=np.float64), smiles


# ----------------------------------------------------------------------------------- bond assignment


def coordinate_bonds(symbols: list[str], pos: np.ndarray) -> list[tuple[int, int]]:
    """Connectivity from coordinates: covalent-radius cutoff, shortest bonds first, degree-capped.

    Candidates are pairs closer than 1.3 × (r_i + r_j); they are accepted in order of d / (r_i + r_j)
    while both atoms have room under their maximal degree (H 1, C 4, N 4, O 2, F 1). The cap drops
    1,3-contacts across strained small rings (C···C ≈ 1.9 Å), which a plain cutoff would call bonds.

    Args:
        symbols: N element symbols.
        pos: [N, 3] float, Å.

    Returns:
        Bonds as pairs (i, j) with i < j, sorted.
    """
    r = np.array([_RCOV.get(s, Chem.GetPeriodicTable().GetRcovalent(s)) for s in symbols])
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    ratio = d / (r[:, None] + r[None, :])
    i, j = np.triu_indices(len(symbols), k=1)
    cand = ratio[i, j] < _BOND_TOLERANCE
    i, j, score = i[cand], j[cand], ratio[i, j][cand]
    room = [_MAX_DEGREE.get(s, 4) for s in symbols]
    bonds = []
    for k in np.argsort(score, kind="stable"):
        a, b = int(i[k]), int(j[k])
        if room[a] > 0 and room[b] > 0:
            bonds.append((a, b))
            room[a] -= 1
            room[b] -= 1
    return sorted(bonds)


def _skeleton(atomic_nums: list[int], h_counts: list[int], bonds: list[tuple[int, int]]) -> Chem.Mol:
    """Heavy-atom graph, all bonds single, isotope = 1 + hydrogen count (so a match respects H counts)."""
    sk = Chem.RWMol()
    for z, h in zip(atomic_nums, h_counts):
        atom = Chem.Atom(z)
        atom.SetIsotope(1 + h)
        atom.SetNoImplicit(True)
        sk.AddAtom(atom)
    for i, j in bonds:
        sk.AddBond(i, j, Chem.BondType.SINGLE)
    return sk.GetMol()


def build_molecule(symbols: list[str], pos: np.ndarray, smiles: str, name: str = "") -> Chem.Mol:
    """QM9 molecule with 3D coordinates and the bond orders and formal charges of its SMILES.

    The heavy-atom graph of the coordinates (each atom labelled with its element and hydrogen count)
    must be isomorphic to that of the SMILES; bond orders and charges are copied through the
    isomorphism. Where several isomorphisms exist (symmetry), the one that puts the multiple bonds on
    the shortest bonds (least Σ order × length) wins.

    Args:
        symbols: N element symbols in coordinate order.
        pos: [N, 3] float, Å.
        smiles: the GDB SMILES (any atom order).
        name: stored as ``_Name``.

    Returns:
        A sanitised molecule, hydrogens explicit, one 3D conformer, atoms in coordinate order.

    Raises:
        SkipRecord: unparsable SMILES, different composition, a coordinate graph that is not the
            SMILES graph, or a molecule that does not sanitise.
    """
    ref = Chem.MolFromSmiles(smiles)
    if ref is None:
        raise SkipRecord("SMILES unparsable")
    canonical = Chem.MolToSmiles(ref)
    Chem.Kekulize(
        ref, clearAromaticFlags=True
    )  # carry explicit single/double bonds; sanitising re-aromatises
    ref_atoms = [(a.GetAtomicNum(), a.GetTotalNumHs(), a.GetFormalCharge()) for a in ref.GetAtoms()]
    ref_bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondType()) for b in ref.GetBonds()]
    if any(z == 1 for z, _, _ in ref_atoms):
        raise SkipRecord("SMILES has explicit hydrogen atoms")
    z_of = {s: Chem.GetPeriodicTable().GetAtomicNumber(s) for s in set(symbols)}
    nums = [z_of[s] for s in symbols]
    if sorted(z for z in nums if z > 1) != sorted(z for z, _, _ in ref_atoms) or nums.count(1) != sum(
        h for _, h, _ in ref_atoms
    ):
        raise SkipRecord("composition differs from SMILES")

    bonds = coordinate_bonds(symbols, pos)
    heavy = [k for k, z in enumerate(nums) if z > 1]
    where = {k: n for n, k in enumerate(heavy)}
    h_count, h_degree = [0] * len(heavy), [0] * len(nums)
    heavy_bonds = []
    for i, j in bonds:
        if i in where and j in where:
            heavy_bonds.append((where[i], where[j]))
        else:
            h, x = (i, j) if nums[i] == 1 else (j, i)
            h_degree[h] += 1
            if x in where:
                h_count[where[x]] += 1
    if len(heavy_bonds) != len(ref_bonds) or any(h_degree[k] != 1 for k, z in enumerate(nums) if z == 1):
        raise SkipRecord("coordinate connectivity differs from SMILES graph")
    target = _skeleton([nums[k] for k in heavy], h_count, heavy_bonds)
    query = _skeleton(
        [z for z, _, _ in ref_atoms], [h for _, h, _ in ref_atoms], [(i, j) for i, j, _ in ref_bonds]
    )
    matches = target.GetSubstructMatches(query, uniquify=False, maxMatches=1000)
    if not matches:
        raise SkipRecord("coordinate connectivity differs from SMILES graph")

    if len(matches) > 1:
        hpos = pos[heavy]
        dist = np.linalg.norm(hpos[:, None] - hpos[None], axis=-1)
        qi, qj = np.array([b[0] for b in ref_bonds]), np.array([b[1] for b in ref_bonds])
        w = np.array([float(_ORDER[t]) for _, _, t in ref_bonds])
        m = np.asarray(matches)
        match = matches[int(np.argmin((dist[m[:, qi], m[:, qj]] * w).sum(axis=1)))]
    else:
        match = matches[0]
    to_coord = [heavy[m] for m in match]  # SMILES atom -> coordinate atom
    order = {frozenset((to_coord[i], to_coord[j])): t for i, j, t in ref_bonds}
    charge = {to_coord[k]: c for k, (_, _, c) in enumerate(ref_atoms) if c}
    rw = Chem.RWMol()
    conf = Chem.Conformer(len(symbols))
    for k, z in enumerate(nums):
        atom = Chem.Atom(z)
        atom.SetNoImplicit(True)
        atom.SetFormalCharge(charge.get(k, 0))
        rw.AddAtom(atom)
        conf.SetAtomPosition(k, pos[k].tolist())
    for i, j in bonds:
        rw.AddBond(i, j, order.get(frozenset((i, j)), Chem.BondType.SINGLE))
    conf.Set3D(True)
    mol = rw.GetMol()
    mol.AddConformer(conf, assignId=True)
    try:
        Chem.SanitizeMol(mol)
    except Chem.rdchem.MolSanitizeException as exc:  # valence or kekulisation failure
        raise SkipRecord(f"RDKit sanitisation failed: {type(exc).__name__}") from None
    if Chem.MolToSmiles(Chem.RemoveHs(mol)) != canonical:
        raise SkipRecord("SMILES after bond assignment differs from source SMILES")
    if name:
        mol.SetProp("_Name", name)
    return mol


def convert_record(record: tuple, vocab: str = "qm9") -> tuple[int, str, dict | str]:
    """Turn one raw record into a packed molecule graph (runs in worker processes).

    Args:
        record: ``(position, "csv", index, smiles, elements, xyz)``, ``(position, "xyz", text)`` or
            ``(position, "bad", reason)`` for a row the reader could not split.
        vocab: ``qm9`` (hydrogens are atoms) or ``qm9_heavy`` (heavy atoms, Kekulé bonds).

    Returns:
        ``(position, record id, graph)``: the graph as a dict of numpy arrays and strings (cheap to
        pickle; :func:`unpack_graph` turns it back into ``Data``), or a skip reason instead.
    """
    position, kind = record[0], record[1]
    record_id = f"position {position}"
    try:
        if kind == "bad":
            raise SkipRecord(record[2])
        if kind == "csv":
            _, _, index, smiles, elements, xyz = record
            record_id = f"dsgdb9nsd_{index:06d}"
            symbols, pos = parse_csv_geometry(elements, xyz)
        else:
            index, symbols, pos, smiles = parse_xyz_block(record[2])
            record_id = f"dsgdb9nsd_{index:06d}"
        graph = mol_to_graph(build_molecule(symbols, pos, smiles, record_id), get_vocab(vocab), name=record_id)
    except SkipRecord as exc:
        return position, record_id, exc.reason
    packed = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in graph.items()}
    packed["num_nodes"] = graph.num_nodes
    return position, record_id, packed


def unpack_graph(packed: dict) -> Data:
    """Inverse of the packing in :func:`convert_record`."""
    fields = {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in packed.items()}
    return Data(**fields)


# ------------------------------------------------------------------------------------------- sources


def installed_qm9pack_dir() -> Path | None:
    """Folder of the qm9pack CSVs, found without importing qm9pack (its import needs pkg_resources)."""
    roots = []
    try:
        spec = importlib.util.find_spec("qm9pack")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        roots += [Path(p) for p in spec.submodule_search_locations]
    roots += [Path(sysconfig.get_paths()[k]) / "qm9pack" for k in ("purelib", "platlib")]
    for root in roots:
        if sorted((root / "data").glob("qm9_part*.csv")):
            return root / "data"
    return None


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="") as fh:
        return next(csv.reader(fh), [])


def _qm9_csvs(paths: list[Path]) -> list[Path]:
    return [p for p in paths if set(CSV_COLUMNS) <= set(_csv_header(p))]


def resolve_source(
    source: Path | None, download: bool = False, cache_dir: Path | None = None
) -> tuple[str, list[Path]]:
    """Decide what to read.

    Returns:
        ``("csv", files)``, ``("tar", [archive])`` or ``("xyz", files)``.

    Raises:
        MolgenError: nothing readable (with how to get QM9).
    """
    if source is None:
        found = installed_qm9pack_dir()
        if found is not None:
            return "csv", _qm9_csvs(sorted(found.glob("qm9_part*.csv")))
        if not download:
            raise MolgenError(
                "QM9 not found: `pip install qm9pack` (molgen[data]), pass a QM9 source "
                "(qm9pack CSV folder or file, dsgdb9nsd.xyz.tar.bz2, or a folder of its .xyz files), or use --download"
            )
        return "tar", [download_qm9(cache_dir)]
    p = Path(source).expanduser()
    if not p.exists():
        raise MolgenError("QM9 source not found", p)
    if p.is_file():
        if p.name.endswith((".tar.bz2", ".tar", ".tar.gz", ".tbz2")):
            return "tar", [p]
        if p.suffix == ".csv":
            if not _qm9_csvs([p]):
                raise MolgenError(f"CSV lacks the qm9pack columns {', '.join(CSV_COLUMNS)}", p)
            return "csv", [p]
        raise MolgenError("not a QM9 source: expected a qm9pack .csv, a .tar.bz2 archive or a folder", p)
    csvs = _qm9_csvs(sorted(p.glob("*.csv")))
    if csvs:
        return "csv", csvs
    if (p / QM9_ARCHIVE).is_file():
        return "tar", [p / QM9_ARCHIVE]
    xyz = sorted(p.glob("*.xyz"))
    if xyz:
        return "xyz", xyz
    raise MolgenError("folder holds no qm9pack CSV, no dsgdb9nsd.xyz.tar.bz2 and no .xyz files", p)


def read_excluded(path: Path) -> set[int]:
    """QM9 indices listed in ``uncharacterized.txt`` (lines whose first field is an integer)."""
    out = set()
    for line in Path(path).read_text().splitlines():
        f = line.split()
        if f and f[0].isdigit():
            out.add(int(f[0]))
    return out


def _count_csv_rows(files: list[Path]) -> int:
    n = 0
    for f in files:
        with open(f, newline="") as fh:
            n += sum(1 for _ in csv.reader(fh)) - 1
    return n


def _csv_records(files: list[Path], wanted: dict[int, int]) -> Iterator[tuple]:
    """Raw records of the wanted positions, streamed; a malformed row becomes a skip record."""
    position = 0
    for f in files:
        with open(f, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            col = [header.index(c) for c in CSV_COLUMNS]
            for row in reader:
                if position in wanted:
                    try:
                        yield (position, "csv", int(row[col[0]]), *(row[c] for c in col[1:]))
                    except (ValueError, IndexError):
                        yield (position, "bad", "malformed CSV row")
                position += 1


def _xyz_texts(kind: str, files: list[Path]) -> list[tuple[str, str]]:
    """(member name, text) of every ``.xyz`` in an archive or file list, sorted by name."""
    if kind == "xyz":
        return [(f.name, f.read_text()) for f in files]
    out = []
    with tarfile.open(files[0], "r:*") as tar:
        for m in tar:
            if m.isfile() and m.name.endswith(".xyz"):
                out.append((Path(m.name).name, tar.extractfile(m).read().decode()))
    return sorted(out)


def _index_of(text: str) -> int | None:
    try:
        return int(text.split("\n", 2)[1].split()[1])
    except (IndexError, ValueError):
        return None


# ------------------------------------------------------------------------------------------ download


def _fetch(url: str, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".part")
    log.info("downloading %s -> %s", url, dest)
    with urllib.request.urlopen(url, timeout=120) as r, open(tmp, "wb") as fh:
        while chunk := r.read(1 << 20):
            fh.write(chunk)
    os.replace(tmp, dest)


def verify_archive(path: Path, expected_xyz: int | None = None) -> str:
    """Read the whole archive (bz2 CRCs checked), count its ``.xyz`` members; return its SHA-256.

    Args:
        path: the archive.
        expected_xyz: required member count; None = :data:`QM9_NUM_XYZ` (133,885).

    Raises:
        MolgenError: unreadable archive or a wrong member count.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    try:
        with tarfile.open(path, "r:*") as tar:
            n = sum(1 for m in tar if m.isfile() and m.name.endswith(".xyz"))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise MolgenError(
            f"QM9 archive is corrupt ({type(exc).__name__}); delete it and download again", path
        ) from None
    expected_xyz = QM9_NUM_XYZ if expected_xyz is None else expected_xyz
    if n != expected_xyz:
        raise MolgenError(f"QM9 archive holds {n} .xyz files, expected {expected_xyz}", path)
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$MOLGEN_CACHE/qm9``, else ``~/.cache/molgen/qm9``."""
    return Path(os.environ.get("MOLGEN_CACHE", Path.home() / ".cache" / "molgen")).expanduser() / "qm9"


def download_qm9(cache_dir: Path | None = None) -> Path:
    """Download and verify the official QM9 archive and its exclusion list; return the archive path.

    Files already present and verified (a ``.verified`` note with size and SHA-256) are reused.

    Raises:
        MolgenError: a failed download or verification.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    archive, excluded, note = (
        folder / QM9_ARCHIVE,
        folder / QM9_EXCLUDED,
        folder / (QM9_ARCHIVE + ".verified"),
    )
    try:
        if not excluded.is_file():
            _fetch(QM9_EXCLUDED_URL, excluded)
        stamp = json.loads(note.read_text()) if note.is_file() else {}
        if not archive.is_file() or stamp.get("size") != archive.stat().st_size:
            if not archive.is_file():
                _fetch(QM9_URL, archive)
            sha = verify_archive(archive)
            note.write_text(json.dumps({"size": archive.stat().st_size, "sha256": sha}) + "\n")
    except OSError as exc:  # urllib.error.URLError is an OSError
        raise MolgenError(f"QM9 download failed: {exc}", folder) from None
    if len(read_excluded(excluded)) != QM9_NUM_EXCLUDED:
        raise MolgenError(
            f"exclusion list does not hold {QM9_NUM_EXCLUDED} indices; delete it and retry", excluded
        )
    return archive


# --------------------------------------------------------------------------------------------- split


def split_sizes(n: int, limit: int | None = None) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Segment sizes over ``n`` molecules and the part of each segment kept under ``limit``.

    Returns:
        ((train, val, test) segment sizes, (train, val, test) kept sizes); EDM's 100,000 / 17,748 /
        13,083 for n = 130,831, the same proportions otherwise.
    """
    f_train, f_test = EDM_SPLIT[0] / QM9_NUM_MOLECULES, EDM_SPLIT[2] / QM9_NUM_MOLECULES
    tr, te = round(n * f_train), round(n * f_test)
    seg = (tr, n - tr - te, te)
    if limit is None or limit >= n:
        return seg, seg
    ktr, kte = round(limit * f_train), round(limit * f_test)
    kept = (min(ktr, seg[0]), min(limit - ktr - kte, seg[1]), min(kte, seg[2]))
    return seg, kept


def split_positions(n: int, seed: int = 0, limit: int | None = None) -> dict[str, np.ndarray]:
    """Positions (0..n-1, source order) of each split, each sorted ascending.

    A ``numpy.random.RandomState(seed)`` permutation cut into train, val, test (EDM's recipe).
    """
    perm = np.random.RandomState(seed).permutation(n)
    seg, kept = split_sizes(n, limit)
    starts = np.cumsum((0,) + seg[:-1])
    return {s: np.sort(perm[a : a + k]) for s, a, k in zip(SPLITS, starts, kept)}


# ------------------------------------------------------------------------------------------- prepare


def _worker_init() -> None:
    RDLogger.DisableLog("rdApp.*")
    torch.set_num_threads(1)


def _source_fingerprint(files: list[Path]) -> list[dict]:
    return [
        {"path": str(f.resolve()), "size": f.stat().st_size, "mtime": int(f.stat().st_mtime)} for f in files
    ]


def _reusable(out: Path, params: dict) -> dict | None:
    summary = out / "summary.json"
    if not summary.is_file() or not all(is_cache(out / s) for s in SPLITS):
        return None
    old = json.loads(summary.read_text())
    return old if old.get("params") == params else None


def prepare_qm9(
    out: Path,
    source: Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    download: bool = False,
    *,
    workers: int | None = None,
    force: bool = False,
    cache_dir: Path | None = None,
    vocab: str = "qm9",
) -> dict:
    """Prepare QM9 into split caches (see the module docstring for the layout).

    Args:
        out: output folder.
        source: qm9pack CSV folder or file, ``dsgdb9nsd.xyz.tar.bz2``, or a folder of ``.xyz``;
            None = the CSVs of the installed qm9pack package (or the download, when asked).
        limit: keep only this many molecules in total (same split proportions).
        seed: split permutation seed.
        download: fetch the official archive when ``source`` is None and qm9pack is absent.
        workers: processes for the RDKit work; None = all CPUs, 0 = in this process.
        force: prepare again even if ``out`` already holds this preparation.
        cache_dir: where a download goes (default :func:`default_cache_dir`).
        vocab: ``qm9`` or ``qm9_heavy`` (see the module docstring).

    Returns:
        The summary written to ``out/summary.json``. When ``out`` already holds a preparation with
        the same source files, limit and seed, it is returned as is and nothing is parsed.

    Raises:
        MolgenError: no readable source.
    """
    out = Path(out)
    kind, files = resolve_source(source, download, cache_dir)
    excluded_file = files[0].parent / QM9_EXCLUDED if kind != "csv" else None
    excluded_files = [excluded_file] if excluded_file is not None and excluded_file.is_file() else []
    params = {
        "source_kind": kind,
        "source": _source_fingerprint(files + excluded_files),
        "limit": limit,
        "seed": seed,
        **({"vocab": vocab} if vocab != "qm9" else {}),  # absent for qm9: earlier preparations stay reusable
    }
    voc = get_vocab(vocab)
    if voc.name not in ("qm9", "qm9_heavy"):
        raise MolgenError(f"QM9 is prepared with vocabulary qm9 or qm9_heavy, not {vocab!r}")
    if not force and (old := _reusable(out, params)) is not None:
        log.info("%s already holds this QM9 preparation; reusing it", out)
        return old

    (out / "summary.json").unlink(missing_ok=True)  # written last: its absence marks an unfinished run
    report = PrepareReport("qm9")
    excluded = read_excluded(excluded_files[0]) if excluded_files else set()
    if kind == "csv":
        n = _count_csv_rows(files)
    else:
        texts = _xyz_texts(kind, files)
        if not excluded:
            log.warning("no %s beside the QM9 source: the uncharacterized molecules stay in", QM9_EXCLUDED)
        texts = [t for t in texts if _index_of(t[1]) not in excluded]
        report.extra["excluded_uncharacterized"] = len(excluded)
        n = len(texts)
    if n == 0:
        raise MolgenError("QM9 source holds no molecules", files[0])
    parts = split_positions(n, seed, limit)
    wanted = {int(p): s for s, pos in parts.items() for p in pos}
    if kind == "csv":
        records = _csv_records(files, wanted)
    else:
        records = ((p, "xyz", texts[p][1]) for p in sorted(wanted))

    graphs: dict[str, list[dict]] = {s: [] for s in SPLITS}
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if workers > 1 and len(wanted) >= _PARALLEL_MIN:
        pool = mp.get_context("fork").Pool(workers, initializer=_worker_init)
        results = pool.imap(functools.partial(convert_record, vocab=vocab), records, chunksize=256)
    else:
        pool, results = None, map(functools.partial(convert_record, vocab=vocab), records)
    try:
        with rdBase.BlockLogs():
            for position, record_id, res in tqdm(
                results, total=len(wanted), desc="QM9", unit="mol", disable=None
            ):
                if isinstance(res, str):
                    report.skip(res, record_id)
                else:
                    graphs[wanted[position]].append(res)
                    report.keep()
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    if pool is not None:
        pool.close()
        pool.join()

    split_info = {}
    for s in SPLITS:
        write_cache((unpack_graph(g) for g in graphs[s]), out / s, voc, meta={"dataset": "qm9", "split": s})
        write_stats(out / s)
        split_info[s] = {"assigned": len(parts[s]), "kept": len(graphs[s])}
    smiles = sorted({g["smiles"] for g in graphs["train"]})
    (out / "train_smiles.txt").write_text("".join(f"{s}\n" for s in smiles))
    report.extra.update(
        source=[str(f.resolve()) for f in files],
        source_molecules=n,
        splits=split_info,
        split_recipe="RandomState(seed).permutation(n) cut 100000/17748/13083 of 130831 (EDM)",
        params=params,
    )
    summary = report.write(out)
    log.info("QM9: kept %d, skipped %d %s", report.kept, report.num_skipped, dict(report.skipped))
    return summary


__all__ = [
    "EDM_SPLIT",
    "QM9_URL",
    "build_molecule",
    "convert_record",
    "coordinate_bonds",
    "download_qm9",
    "parse_csv_geometry",
    "parse_xyz_block",
    "prepare_qm9",
    "resolve_source",
    "split_positions",
    "split_sizes",
]
