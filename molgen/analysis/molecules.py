"""The best molecules of a run: ranking, 2D grids (SVG) and 3D views (py3Dmol, in notebooks)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from rdkit import Chem, rdBase
from rdkit.Chem import Draw, rdDepictor

#: Ranking columns and whether lower is better.
LOWER_IS_BETTER = {"vina_kcal_mol": True, "sa": True, "strain_energy_kcal_mol": True, "qed": False}


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


def best_molecules(table: pd.DataFrame, by: str | None = None, n: int = 12, ascending: bool | None = None,
                   valid_only: bool = True) -> pd.DataFrame:
    """The ``n`` best rows of a run table.

    Args:
        table: one row per molecule (``run.final`` or a step's table).
        by: ranking column (default :func:`default_ranking`; none: the first rows in id order).
        n: how many.
        ascending: lower is better (default: by :data:`LOWER_IS_BETTER`, else higher is better).
        valid_only: keep only RDKit-valid molecules when the table says which are.
    """
    t = table
    if valid_only and "valid" in t:
        t = t[t["valid"].astype("boolean").fillna(False).astype(bool)]
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
    the ranking value (see :func:`best_molecules`)."""
    table = run.table(step)
    by = by or default_ranking(table)
    best = best_molecules(table, by, n)
    mols = run.molecules(step)
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
