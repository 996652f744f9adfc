"""The best molecules of a run: ranking, 2D grids (SVG) and 3D views (py3Dmol, in notebooks).

A "best molecule" is one a chemist could take further: RDKit-valid, one fragment, no atom with
unpaired electrons (RDKit ``Descriptors.NumRadicalElectrons``) and not made of hydrogen only (an
H–H fragment). :func:`unusable_reason` says why a molecule is not one; :func:`best_molecules`
ranks the others by a stated key (:data:`RANKING_LABELS`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors, Draw, rdDepictor

#: Ranking columns and whether lower is better.
LOWER_IS_BETTER = {"vina_kcal_mol": True, "sa": True, "strain_energy_kcal_mol": True, "qed": False}
#: How a ranking key is stated in the report.
RANKING_LABELS = {"vina_kcal_mol": "Vina score (kcal/mol)", "qed": "QED", "sa": "SA score",
                  "strain_energy_kcal_mol": "strain energy (kcal/mol)"}
#: What every best molecule is, as the report states it.
BEST_CRITERIA = "valid, one fragment, no radical, not hydrogen only"


class SVG(str):
    """SVG text that notebooks display as an image."""

    def _repr_svg_(self) -> str:
        return str(self)


def default_ranking(table: pd.DataFrame) -> str | None:
    """``vina_kcal_mol`` when some molecule was docked, else ``qed`` when some has one, else None."""
    for col in ("vina_kcal_mol", "qed"):
        if col in table and pd.to_numeric(table[col], errors="coerce").notna().any():
            return col
    return None


def ranking_statement(by: str | None) -> str:
    """``ranked by QED (higher is better)``: the key as the report states it."""
    if by is None:
        return "in id order (no molecule has a score)"
    better = "lower" if LOWER_IS_BETTER.get(by, False) else "higher"
    return f"ranked by {RANKING_LABELS.get(by, by)} ({by}; {better} is better)"


def unusable_reason(mol: Chem.Mol | None) -> str | None:
    """Why a molecule cannot be a best molecule, or None when it can (see the module docstring).

    Returns:
        ``no structure``, ``not valid`` (RDKit sanitization fails), ``hydrogen only`` (a fragment
        made of H atoms, e.g. H–H), ``several fragments``, ``radical`` (unpaired electrons), or None.
    """
    if mol is None or mol.GetNumAtoms() == 0:
        return "no structure"
    m = Chem.Mol(mol)
    with rdBase.BlockLogs():
        if Chem.SanitizeMol(m, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
            return "not valid"
    frags = Chem.GetMolFrags(m, asMols=True, sanitizeFrags=False)
    if any(all(a.GetAtomicNum() == 1 for a in f.GetAtoms()) for f in frags):
        return "hydrogen only"
    if len(frags) != 1:
        return "several fragments"
    if Descriptors.NumRadicalElectrons(m) > 0:
        return "radical"
    return None


def _flag(table: pd.DataFrame, column: str) -> pd.Series:
    return table[column].astype("boolean").fillna(False).astype(bool)


def eligible_molecules(table: pd.DataFrame, molecules: dict[str, Chem.Mol] | None = None,
                       valid_only: bool = True) -> pd.DataFrame:
    """The rows that may be best molecules.

    Args:
        table: one row per molecule.
        molecules: the molecules by id; when given, a row qualifies only when its molecule does
            (:func:`unusable_reason` is None).
        valid_only: also require the table's own ``valid``, ``valid_connected`` (when present) and
            zero ``n_radical_electrons`` (when present).
    """
    t = table
    if valid_only:
        for col in ("valid", "valid_connected"):
            if col in t:
                t = t[_flag(t, col)]
        if "n_radical_electrons" in t:
            t = t[pd.to_numeric(t["n_radical_electrons"], errors="coerce").fillna(0) == 0]
    if molecules is not None:
        t = t[[unusable_reason(molecules.get(i)) is None for i in t["id"]]] if len(t) else t
    return t


def best_molecules(table: pd.DataFrame, by: str | None = None, n: int = 12, ascending: bool | None = None,
                   valid_only: bool = True, molecules: dict[str, Chem.Mol] | None = None) -> pd.DataFrame:
    """The ``n`` best rows of a run table, among :func:`eligible_molecules`.

    Args:
        table: one row per molecule (``run.final`` or a step's table).
        by: ranking column (default :func:`default_ranking`; none: the first rows in id order).
        n: how many (fewer when fewer qualify).
        ascending: lower is better (default: by :data:`LOWER_IS_BETTER`, else higher is better).
        valid_only: keep only valid, connected, radical-free molecules when the table says which are.
        molecules: the molecules by id; when given, only those that are valid, one fragment, with
            no radical and not hydrogen only (see :func:`unusable_reason`).
    """
    t = eligible_molecules(table, molecules, valid_only)
    by = by or default_ranking(t)
    if by is None or by not in t:
        return t.head(n)
    asc = LOWER_IS_BETTER.get(by, False) if ascending is None else ascending
    t = t.assign(_key=pd.to_numeric(t[by], errors="coerce")).dropna(subset=["_key"])
    return t.sort_values("_key", ascending=asc, kind="stable").drop(columns="_key").head(n)


def _depict(mol: Chem.Mol) -> Chem.Mol:
    m = Chem.Mol(mol)
    with rdBase.BlockLogs():
        try:
            m = Chem.RemoveHs(m, sanitize=False)
        except Exception:  # noqa: BLE001 - odd generated valences; draw it with its hydrogens
            m = Chem.Mol(mol)
        m.UpdatePropertyCache(strict=False)
        rdDepictor.Compute2DCoords(m)
    return m


def molecule_grid(mols: list[Chem.Mol], legends: list[str] | None = None, n_cols: int = 4,
                  size: tuple[int, int] = (220, 170)) -> SVG:
    """A 2D grid drawing of molecules (hydrogens hidden) as SVG.

    Args:
        mols: RDKit molecules (3D or not; unsanitized ones are drawn as they are).
        legends: one caption per molecule.
        n_cols: molecules per row.
        size: pixel size of one cell.
    """
    mols = [_depict(m) for m in mols]
    legends = list(legends) if legends is not None else [""] * len(mols)
    if not mols:
        w, h = size
        return SVG(f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h // 3}'>"
                   f"<text x='8' y='20' font-family='sans-serif' font-size='13'>no molecules</text></svg>")
    n_cols = max(1, min(n_cols, len(mols)))
    with rdBase.BlockLogs():
        svg = Draw.MolsToGridImage(mols, molsPerRow=n_cols, subImgSize=size, legends=legends, useSVG=True)
    return SVG(svg if isinstance(svg, str) else svg.data)


def _legend(row: pd.Series, by: str | None) -> str:
    parts = [str(row.get("id", ""))]
    if by and by in row and pd.notna(row[by]):
        parts.append(f"{by.replace('_kcal_mol', '')} {float(row[by]):.2f}")
    return "  ".join(parts)


def draw_best(run, by: str | None = None, n: int = 12, step: str | None = None, n_cols: int = 4) -> SVG:
    """A grid of the ``n`` best molecules of a run (final outputs by default), captioned with id and
    the ranking value (see :func:`best_molecules`; only valid, connected molecules without radicals
    or hydrogen-only fragments)."""
    table = run.table(step)
    by = by or default_ranking(table)
    mols = run.molecules(step)
    best = best_molecules(table, by, n, molecules=mols)
    rows = [r for _, r in best.iterrows() if r["id"] in mols]
    return molecule_grid([mols[r["id"]] for r in rows], [_legend(r, by) for r in rows], n_cols)


def view_3d(mols: Chem.Mol | list[Chem.Mol], receptor: str | Path | None = None,
            pocket_radius: float | None = 8.0, width: int = 640, height: int = 420,
            n_cols: int | None = None):
    """An interactive 3D view (py3Dmol) of molecules, optionally inside a receptor.

    Args:
        mols: one molecule, or several (shown side by side in a grid without a receptor, together
            with one).
        receptor: a PDB file shown as a cartoon with the residues within ``pocket_radius`` Å of the
            molecules as sticks.
        pocket_radius: Å; None shows no residue sticks.
        width, height: pixels.
        n_cols: grid columns for several molecules without a receptor (default up to 4).

    Returns:
        A ``py3Dmol.view`` (displays in a notebook cell).

    Raises:
        ImportError: py3Dmol is not installed (``pip install py3Dmol``).
    """
    try:
        import py3Dmol
    except ImportError as err:
        raise ImportError("3D views need py3Dmol: pip install py3Dmol") from err
    mols = [mols] if isinstance(mols, Chem.Mol) else list(mols)
    if receptor is None and len(mols) > 1:
        cols = n_cols or min(4, len(mols))
        rows = math.ceil(len(mols) / cols)
        view = py3Dmol.view(width=width, height=height, viewergrid=(rows, cols), linked=False)
        for i, m in enumerate(mols):
            pos = (i // cols, i % cols)
            view.addModel(Chem.MolToMolBlock(m), "mol", viewer=pos)
            view.setStyle({"model": -1}, {"stick": {"radius": 0.15}, "sphere": {"scale": 0.22}}, viewer=pos)
        view.zoomTo()
        return view
    view = py3Dmol.view(width=width, height=height)
    if receptor is not None:
        view.addModel(Path(receptor).read_text(), "pdb")
        view.setStyle({"model": 0}, {"cartoon": {"color": "lightgrey", "opacity": 0.85}})
    for m in mols:
        view.addModel(Chem.MolToMolBlock(m), "mol")
        view.setStyle({"model": -1}, {"stick": {"colorscheme": "greenCarbon", "radius": 0.2}})
    if receptor is not None and pocket_radius:
        view.addStyle({"model": 0, "within": {"distance": pocket_radius, "sel": {"model": 1}}},
                      {"stick": {"radius": 0.12}})
    view.zoomTo({"model": -1} if receptor is not None else {})
    return view
