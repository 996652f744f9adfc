"""Conditioned generation: ligands in a protein pocket, and around a fixed fragment (inpainting).

Pocket conditioning. The pocket's heavy atoms enter the graph as *context* (seen, never moved,
never predicted, not written out) after the ligand atoms, with the per-atom features of
:mod:`molgen.data.transforms`; the ligand prior is centred on the pocket atoms' centre of mass, and
everything stays in the protein's own coordinate frame (no centring, no rotation). The pocket is
cut from the protein as whole residues, by one of three rules (:func:`load_pocket`):

* ``ref_ligand``: residues with an atom within ``cutoff`` (6 Å, as in training) of the reference
  ligand's atoms (hydrogens included);
* ``residues``: the listed residues ``"A:12"``;
* ``box``: residues with an atom inside the box (centre and edge lengths, Å).

Ligand size: drawn from the ligands of the :data:`NEAREST_SITES` training binding sites whose
pockets have the nearest number of heavy atoms (``stats.json`` ``pocket_sites``), every site with the
same weight: the FEP sets hold up to 69 congeneric ligands per site, and counted per complex they
outweighed the single-ligand crystal sites; or a given number or range; or, with ``sizes="reference"``
and a pocket cut around a reference ligand, uniform within :data:`REFERENCE_SIZE_SPREAD` atoms of that
ligand's (the lookup by pocket size misses a site's mean ligand size by 5.8 atoms on average, see
:data:`NEAREST_SITES`; on the 12 held-out crystal pockets it drew ligands 4 heavy atoms larger than the
crystal ligands, and those clashed with the protein more often). Heavy atoms make the lookup
the same for a protein with or without hydrogens. Files older than that table use the binned
``pocket_heavy_ligand`` (ligand sizes per bin of 10 pocket heavy atoms, per complex, the nearest bins
pooled until they hold :data:`MIN_SIZE_SAMPLES` ligands), and the oldest only ``pocket_ligand`` (all
prepared pocket atoms, hydrogens counted where the training protein had them; a protein without
hydrogens is looked up as heavy atoms × :data:`HYDROGEN_RATIO`). That oldest table mixed the two
kinds of training proteins in its bins (FEP proteins carry hydrogens, PoseBusters crystal structures
do not), which sent small pockets to large ligands.

The graph the denoiser sees (:class:`PocketRadiusDenoiser`): the complete graph over ligand atoms,
plus ligand–pocket edges shorter than ``pocket_radius`` (5 Å in ``configs/pocket_flow.yaml``).
The complete ligand–pocket graph costs L × M pairs per graph (48 × 278 ≈ 13,000 for a median FEP
ligand in its 6 Å pocket, against 1,128 ligand–ligand pairs); the radius graph keeps the few tens of
pocket atoms around each ligand atom. Measured by ``benchmarks/pocket.py`` (shipped model, 100
ligands of 48 atoms in the 337-atom EGFR pocket, one forward = one sampler step, 2 CPU threads on a
busy machine): radius graph 347,018 directed edges, 12.3 s; complete graph 3,460,800 edges, 94 s.

Guidance (``guidance=``, off by default): :mod:`molgen.sampling.guidance` wraps the denoiser so that the
last steps push the predicted ligand coordinates out of the pocket atoms and keep the ligand's
centroid near the pocket centre (or inside the box of a ``box`` pocket); no training, the process
untouched.

Prior mixing (``prior_mix=``, off by default): :mod:`molgen.sampling.prior_mix` takes the atom types,
charges and bonds partly or wholly from the same network run on the ligand atoms alone (its pocket-free
branch, trained on ligands without a pocket), the coordinates from the pocket-conditioned call.

Fragment conditioning (inpainting). The kept atoms (an SDF of the atoms to keep, or a SMARTS matched
on a reference ligand, with the hydrogens bonded to the matched atoms) are *fixed* atoms of the
state: their coordinates, elements, charges and the bonds among them are imposed at every step, so
they come out exactly as they went in, as the first atoms of every generated molecule. The free
atoms are drawn around them, in a pocket or without one. Pocket models are trained with a random
connected fragment fixed in 20 % of the examples (:data:`molgen.data.transforms.TRAIN_FRAGMENT_PROB`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rdkit import Chem
from torch import Tensor, nn
from torch_geometric.data import Data
from tqdm.auto import tqdm

from molgen.chem.convert import bonds_to_edges, heavy_kekule
from molgen.chem.vocab import POCKET_ELEMENTS, RDKIT_BOND, Vocab
from molgen.data.pocket import Protein, extract_pocket, read_protein
from molgen.data.transforms import DEFAULT_POCKET_CUTOFF, pocket_context
from molgen.errors import MolgenError, SkipRecord, require_file
from molgen.io import write_json_atomic
from molgen.models.base import DenoiserInput, DenoiserOutput
from molgen.models.layers import edge_vectors
from molgen.processes.sampler import sample
from molgen.processes.state import MolState
from molgen.sampling.guidance import GuidanceSettings, GuidedDenoiser, parse_guidance
from molgen.sampling.prior_mix import PriorMixDenoiser
from molgen.sampling.sizes import sample_num_atoms, sampler_batches
from molgen.sampling.writers import write_sdf

log = logging.getLogger(__name__)

#: Default ligand–pocket edge radius, Å (when a config sets none, the complete graph is used).
DEFAULT_POCKET_RADIUS = 5.0
#: Pocket atoms with hydrogens per heavy pocket atom (median over the FEP benchmark's 6 Å pockets:
#: 550.5 / 278); used to look a hydrogen-free protein up in the size histogram.
HYDROGEN_RATIO = 1.98
#: Ligands pooled from the nearest pocket-size bins before a size is drawn (files without ``pocket_sites``).
MIN_SIZE_SAMPLES = 50
#: Training sites whose ligand sizes are pooled, each with weight 1, for a pocket: the nearest by heavy pocket
#: atoms. Chosen on the training sites alone (``python -m benchmarks.pocket_sizes``): predicting each site's
#: ligand sizes from the other sites (leave one site out, the 331 sites of the shipped pocket model's data), the
#: mean absolute error of the predicted mean size was 5.82 atoms for 20 sites, 5.86 for 40, 5.98 for 10, 6.35
#: for 5, and 6.63 for the binned per-complex table.
NEAREST_SITES = 20
#: ``sizes="reference"``: ligand atoms drawn uniformly within this many of the reference ligand's.
REFERENCE_SIZE_SPREAD = 2
#: Ways to choose ligand sizes in a pocket when no number or range is given.
SIZE_MODES = ("pocket", "reference")
#: Protein heavy atoms within this of a pocket atom are kept with the pocket for guidance, Å.
PROTEIN_SHELL = 6.0


# ---- the network's view of a pocket ------------------------------------------------------------------
class PocketRadiusDenoiser(nn.Module):
    """A denoiser seen through a radius graph for ligand–pocket pairs.

    The process hands the network the complete graph over its state pairs (every ligand–ligand
    and ligand–pocket pair; pocket–pocket pairs are not in the state). This wrapper keeps every
    edge between two non-pocket atoms and only the ligand–pocket edges shorter than ``radius`` (at
    the current coordinates), runs the wrapped network on that subgraph and scatters its bond
    logits back onto the full edge list (zeros on the dropped ligand–pocket edges, whose bond
    class is held at "no bond" and never enters the loss). Pocket atoms are recognised by
    ``node_attr[:, 0]`` (the ``is_pocket`` column of :mod:`molgen.data.transforms`).

    The cut is sharp (no smooth envelope), as in DiffSBDD's radius graphs: a pocket atom's message
    switches on when a ligand atom comes within ``radius``. Distances are invariant, so the wrapper
    keeps the network's E(3) equivariance.

    Two savings that leave the ligand's predictions unchanged (up to float rounding):

    * pocket atoms with no edge left are dropped from the subgraph: without pocket–pocket edges such
      an atom neither sends nor receives a message, and the networks pool nothing over a graph, so it
      only cost node updates (100 prior-drawn 30-atom ligands in the EGFR pocket: 4,094 of the 29,100
      pocket atoms kept); their output rows are the input coordinates and zero logits (context rows
      never enter the process or the loss);
    * a paired edge list stays paired (distances and the pocket test are the same for (i, j) and
      (j, i), so both halves keep the same pairs), and the network computes what is symmetric in
      (i, j) once per pair.

    Args:
        net: the denoiser (``forward(DenoiserInput) -> DenoiserOutput``).
        radius: ligand–pocket edge cutoff, Å; None keeps the complete graph.
        savings: take the two savings (False: every atom, an unpaired edge list; for benchmarks).
    """

    def __init__(self, net: nn.Module, radius: float | None = DEFAULT_POCKET_RADIUS, savings: bool = True) -> None:
        super().__init__()
        self.net, self.radius, self.savings = net, radius, savings

    def edge_mask(self, inp: DenoiserInput) -> Tensor:
        """[E] bool: the edges the network sees."""
        ei = inp.edge_index
        if self.radius is None or inp.node_attr is None or inp.node_attr.shape[-1] == 0:
            return torch.ones(ei.shape[1], dtype=torch.bool, device=ei.device)
        pocket = inp.node_attr[:, 0] > 0.5
        touches = pocket[ei[0]] | pocket[ei[1]]
        _, dist = edge_vectors(inp.pos, ei)
        return ~touches | (dist < self.radius)

    def forward(self, inp: DenoiserInput) -> DenoiserOutput:
        keep = self.edge_mask(inp)
        if bool(keep.all()):
            return self.net(inp)
        ei = inp.edge_index[:, keep]
        ligand = inp.node_attr[:, 0] <= 0.5
        nodes = ligand.clone() if self.savings else torch.ones_like(ligand)
        nodes[ei.reshape(-1)] = True  # and the pocket atoms with an edge left
        index = nodes.nonzero().squeeze(1)
        new_index = torch.full_like(inp.batch, -1)
        new_index[index] = torch.arange(index.numel(), device=index.device)
        half = keep.shape[0] // 2
        sc = inp.self_cond
        if sc is not None:
            sc = DenoiserOutput(sc.pos[index], sc.type_logits[index], sc.charge_logits[index],
                                sc.bond_logits[keep])
        sub = DenoiserInput(
            pos=inp.pos[index], h_type=inp.h_type[index], h_charge=inp.h_charge[index],
            edge_index=new_index[ei], e_bond=inp.e_bond[keep], t=inp.t, batch=inp.batch[index],
            num_graphs=inp.num_graphs,
            context_mask=None if inp.context_mask is None else inp.context_mask[index],
            node_attr=inp.node_attr[index], self_cond=sc,
            paired=self.savings and inp.paired and bool(torch.equal(keep[:half], keep[half:])),
        )
        out = self.net(sub)
        pos = inp.pos.clone()
        pos[index] = out.pos.to(pos.dtype)

        def rows(x: Tensor, n: int) -> Tensor:
            full = x.new_zeros(n, x.shape[-1])
            full[index] = x
            return full

        bond = out.bond_logits.new_zeros(keep.shape[0], out.bond_logits.shape[-1])
        bond[keep] = out.bond_logits
        n = inp.pos.shape[0]
        return DenoiserOutput(pos, rows(out.type_logits, n), rows(out.charge_logits, n), bond)


def is_pocket_model(config: dict) -> bool:
    """Whether a model was trained with pocket context (``data.context: pocket``)."""
    return config.get("data", {}).get("context", "none") == "pocket"


# ---- pockets -----------------------------------------------------------------------------------------
@dataclass
class PocketCondition:
    """A pocket ready for sampling.

    Attributes:
        context: context graph (``pos [M, 3]`` Å, placeholder ``atom_type``/``charge``, ``node_attr``).
        center: [3] float64, Å — centre of mass of the context atoms (the prior's centre).
        size_atoms: pocket atom count to look up in the old ``pocket_ligand`` histogram (see the
            module docstring).
        mode: ``ref_ligand``, ``residues`` or ``box``.
        residue_ids: the pocket residues.
        protein: protein file path.
        num_atoms_all: pocket atoms before hydrogens were dropped.
        box: (centre, edge lengths) in Å when the pocket was given as a box, else None.
        protein_atoms: [S, 3] float64, Å — the protein's heavy atoms within :data:`PROTEIN_SHELL` of
            a pocket atom (pocket atoms included): what guidance keeps the ligand clear of.
        heavy_atoms: the pocket's heavy atoms, what ligand sizes are looked up by.
        reference_atoms: atoms of the reference ligand the pocket was cut around, counted as the
            model counts them (heavy atoms for a heavy-atom vocabulary); None for other pockets.
    """

    context: Data
    center: Tensor
    size_atoms: int
    mode: str
    residue_ids: list[str] = field(default_factory=list)
    protein: str = ""
    num_atoms_all: int = 0
    box: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    protein_atoms: Tensor | None = None
    heavy_atoms: int = 0
    reference_atoms: int | None = None

    def summary(self) -> dict:
        return {
            "protein": self.protein, "mode": self.mode, "residues": len(self.residue_ids),
            "pocket_atoms": int(self.context.num_nodes), "pocket_atoms_with_h": self.num_atoms_all,
            "size_lookup_atoms": self.size_atoms,
            "pocket_heavy_atoms": self.heavy_atoms, "reference_atoms": self.reference_atoms,
            "center": [round(float(x), 3) for x in self.center],
        }


def check_text_sdf(path: str | Path, what: str = "ligand") -> Path:
    """Refuse a binary file given as an SDF (``.sdf.gz`` is read decompressed): NUL bytes, or bytes
    that are not UTF-8 / Latin-1 text, in its first 64 kB.

    Raises:
        MolgenError: a missing or binary file.
    """
    import gzip

    path = require_file(path, f"{what} file")
    try:
        with (gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")) as fh:
            head = fh.read(1 << 16)
    except (OSError, EOFError) as err:
        raise MolgenError(f"cannot read the {what} file ({err})", path) from None
    control = sum(b < 9 or 13 < b < 32 for b in head)
    if b"\x00" in head or control > len(head) // 100:
        raise MolgenError(f"the {what} file is binary, not an SDF (text) file", path)
    return path


def _safe_name(mol: Chem.Mol, default: str) -> None:
    """RDKit returns ``_Name`` as UTF-8 and raises UnicodeDecodeError on other bytes: replace it."""
    try:
        if mol.HasProp("_Name"):
            mol.GetProp("_Name")
    except UnicodeDecodeError:
        mol.SetProp("_Name", default)


def read_first_mol(path: str | Path, what: str = "ligand") -> Chem.Mol:
    """First record of an SDF (sanitised, hydrogens as in the file, with a 3D conformer).

    Raises:
        MolgenError: a missing, binary or empty file, or a first record RDKit cannot read.
    """
    from molgen.data.sdf import iter_sdf_mols

    path = check_text_sdf(path, what)
    for _, mol in iter_sdf_mols(path):
        if isinstance(mol, str):
            raise MolgenError(f"cannot read the {what}: {mol}", path)
        if mol.GetNumConformers() == 0:
            raise MolgenError(f"the {what} has no coordinates", path)
        _safe_name(mol, path.stem)
        return mol
    raise MolgenError(f"no molecule in the {what} file", path)


def with_hydrogens(mol: Chem.Mol) -> Chem.Mol:
    """The molecule with every hydrogen explicit, added ones placed by RDKit (``addCoords``)."""
    if any(a.GetTotalNumHs() > 0 for a in mol.GetAtoms()):
        return Chem.AddHs(mol, addCoords=True)
    return mol


def parse_residues(text: str | Sequence[str]) -> list[str]:
    """``"A:12,A:15"`` (or a list) -> ``["A:12", "A:15"]``."""
    items = text.split(",") if isinstance(text, str) else list(text)
    items = [s.strip() for s in items if s.strip()]
    if not items:
        raise MolgenError("--residues needs at least one residue id CHAIN:NUMBER, e.g. A:12,A:15")
    return items


def parse_box(text: str | Sequence[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``"cx,cy,cz,sx,sy,sz"`` (Å) -> (centre, size)."""
    parts = text.replace(" ", "").split(",") if isinstance(text, str) else list(text)
    try:
        v = [float(x) for x in parts]
    except (TypeError, ValueError):
        raise MolgenError(f"--box must be six numbers cx,cy,cz,sx,sy,sz (Å), got {text!r}") from None
    if len(v) != 6:
        raise MolgenError(f"--box must be six numbers cx,cy,cz,sx,sy,sz (Å), got {text!r}")
    if min(v[3:]) <= 0:
        raise MolgenError(f"--box sizes must be positive, got {text!r}")
    return tuple(v[:3]), tuple(v[3:])


def load_pocket(
    protein: str | Path | Protein,
    *,
    ref_ligand: str | Path | Chem.Mol | None = None,
    residues: str | Sequence[str] | None = None,
    box: str | Sequence[float] | None = None,
    vocab: Vocab,
    cutoff: float = DEFAULT_POCKET_CUTOFF,
    keep_hydrogens: bool = False,
) -> PocketCondition:
    """Cut a pocket out of a protein for sampling (rules in the module docstring).

    Args:
        protein: PDB / mmCIF path or a parsed protein.
        ref_ligand: SDF path or molecule (3D): pocket = residues near it.
        residues: ``"A:12,A:15"`` or a list of ids.
        box: ``"cx,cy,cz,sx,sy,sz"`` or six numbers, Å.
        vocab: the model's ligand vocabulary (placeholder charge of pocket atoms).
        cutoff: distance for ``ref_ligand``, Å.
        keep_hydrogens: keep pocket hydrogens (models are trained without them).

    Raises:
        MolgenError: not exactly one rule, unreadable inputs, unknown residues, or an empty pocket.
    """
    given = [k for k, v in (("ref_ligand", ref_ligand), ("residues", residues), ("box", box)) if v is not None]
    if len(given) != 1:
        raise MolgenError("a pocket needs exactly one of --ref-ligand, --residues, --box "
                          f"(got {', '.join('--' + g.replace('_', '-') for g in given) or 'none'})")
    prot = protein if isinstance(protein, Protein) else read_protein(protein)
    if ref_ligand is not None:
        mol = ref_ligand if isinstance(ref_ligand, Chem.Mol) else read_first_mol(ref_ligand, "reference ligand")
        lig = with_hydrogens(mol) if vocab.explicit_hydrogens else Chem.RemoveHs(mol, sanitize=False)
        lig_pos = torch.from_numpy(lig.GetConformer().GetPositions())  # the atoms the model was trained on
        pocket = extract_pocket(prot, lig_pos, cutoff=cutoff)
        where = f"within {cutoff:g} Å of the reference ligand"
    elif residues is not None:
        pocket = extract_pocket(prot, residues=parse_residues(residues))
        where = "in the given residues"
    else:
        center, size = parse_box(box)
        pocket = extract_pocket(prot, box=(center, size))
        where = "inside the box"
    if len(pocket) == 0:
        raise MolgenError(f"no protein atoms {where}", prot.path)
    ctx = pocket_context(pocket.pos, pocket.element, pocket.residue, pocket.backbone,
                         vocab.charges.index(0), keep_hydrogens)
    if ctx.num_nodes == 0:
        raise MolgenError(f"only hydrogens {where}", prot.path)
    hydrogen = POCKET_ELEMENTS.index("H")
    pocket_h = pocket.element == hydrogen
    n_all, n_heavy = len(pocket), int((~pocket_h).sum())
    size_atoms = n_all if bool(pocket_h.any()) else round(n_all * HYDROGEN_RATIO)
    heavy = torch.from_numpy(prot.pos[prot.element != hydrogen]).double()
    near = torch.cdist(heavy, ctx.pos.double()).min(1).values <= PROTEIN_SHELL
    return PocketCondition(ctx, ctx.pos.double().mean(0), size_atoms, given[0], pocket.residue_ids,
                           str(prot.path), n_all, None if box is None else (center, size), heavy[near], n_heavy,
                           None if ref_ligand is None else int(lig_pos.shape[0]))


def pocket_sizes(stats: dict, pocket_atoms: int, num: int, generator: torch.Generator | None = None,
                 min_size: int = 1, *, heavy_atoms: int | None = None) -> Tensor:
    """Ligand atom counts ``[num]`` long for a pocket of ``pocket_atoms`` atoms (``heavy_atoms`` heavy).

    With ``heavy_atoms`` and the ``pocket_sites`` table in ``stats``: the :data:`NEAREST_SITES`
    training sites whose median heavy pocket atom count is nearest, each with weight 1 whatever
    number of ligands it holds, sizes drawn within a site by its ligands (:func:`site_size_weights`).
    Otherwise (files older than that table) the binned tables: ``heavy_atoms`` in
    ``pocket_heavy_ligand`` when both are given, else ``pocket_atoms`` in ``pocket_ligand``, pooling
    the bins nearest to the pocket's bin until they hold :data:`MIN_SIZE_SAMPLES` ligands. Sizes below
    ``min_size`` are left out.

    Raises:
        MolgenError: no pocket size statistics, or no ligand of at least ``min_size`` atoms.
    """
    if heavy_atoms is not None and stats.get("pocket_sites", {}).get("sites"):
        weights = site_size_weights(stats["pocket_sites"]["sites"], heavy_atoms, min_size)
        if not weights:
            raise MolgenError(f"no training ligand has {min_size} atoms or more; pass --num-atoms or --atoms-range")
        return sample_num_atoms(weights, num, generator=generator)
    table = stats.get("pocket_heavy_ligand") if heavy_atoms is not None else None
    if table and table.get("hist"):
        pocket_atoms = heavy_atoms
    else:
        table = stats.get("pocket_ligand")
    if not table or not table.get("hist"):
        raise MolgenError("the model's statistics have no pocket_ligand histogram; pass --num-atoms or --atoms-range")
    pooled = binned_size_weights(table["hist"], pocket_atoms, int(table.get("bin_width", 10)), min_size)
    if not pooled:
        raise MolgenError(f"no training ligand has {min_size} atoms or more; pass --num-atoms or --atoms-range")
    return sample_num_atoms(pooled, num, generator=generator)


def binned_size_weights(hist_by_bin: dict, pocket_atoms: float, width: int, min_size: int = 1) -> dict[int, int]:
    """``{ligand atoms: count}`` pooled from the bins of ``hist_by_bin`` (``{bin start: {atoms: count}}``,
    keys as ints or strings) nearest to the bin of ``pocket_atoms``, until :data:`MIN_SIZE_SAMPLES`
    ligands of at least ``min_size`` atoms are pooled or the bins run out (ties: the lower bin first)."""
    target = int(pocket_atoms) // width * width
    bins = {int(b): hist for b, hist in hist_by_bin.items()}
    pooled: dict[int, int] = {}
    for _, b in sorted((abs(b - target), b) for b in bins):
        for n, c in bins[b].items():
            if int(n) >= min_size:
                pooled[int(n)] = pooled.get(int(n), 0) + int(c)
        if sum(pooled.values()) >= MIN_SIZE_SAMPLES:
            break
    return pooled


def site_size_weights(sites: list[dict], heavy_atoms: int, min_size: int = 1,
                      nearest: int = NEAREST_SITES) -> dict[int, float]:
    """``{ligand atoms: weight}``: the mixture of the ``nearest`` sites (``stats["pocket_sites"]["sites"]``)
    whose median heavy pocket atom count is closest to ``heavy_atoms`` (ties: the table's order), each
    site's ligand sizes of at least ``min_size`` normalised to weight 1; sites without such a size are
    passed over."""
    weights: dict[int, float] = {}
    taken = 0
    for _, k in sorted((abs(site["pocket_heavy_median"] - heavy_atoms), k) for k, site in enumerate(sites)):
        hist = {int(n): int(c) for n, c in sites[k]["ligand_hist"].items() if int(n) >= min_size}
        total = sum(hist.values())
        if total == 0:
            continue
        for n, c in hist.items():
            weights[n] = weights.get(n, 0.0) + c / total
        taken += 1
        if taken == nearest:
            break
    return weights


# ---- fragments -----------------------------------------------------------------------------------------
def mol_subgraph(mol: Chem.Mol, atoms: Sequence[int], vocab: Vocab, source: str = "molecule") -> Data:
    """Molecule graph of some atoms of a molecule (in the given order) and the bonds among them."""
    index = {a: k for k, a in enumerate(atoms)}
    try:
        types = [vocab.type_index(mol.GetAtomWithIdx(a).GetSymbol()) for a in atoms]
        charges = [vocab.charge_index(mol.GetAtomWithIdx(a).GetFormalCharge()) for a in atoms]
    except SkipRecord as err:
        raise MolgenError(f"fragment: {err.reason}", source) from None
    pairs, btypes = [], []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if i in index and j in index:
            bt = RDKIT_BOND.get(b.GetBondType())
            if bt is None:
                raise MolgenError(f"fragment: unsupported bond type {b.GetBondType()}", source)
            pairs.append((min(index[i], index[j]), max(index[i], index[j])))
            btypes.append(bt)
    order = sorted(range(len(pairs)), key=lambda k: pairs[k])
    edge_index, bond_type = bonds_to_edges([pairs[k] for k in order], [btypes[k] for k in order])
    pos = torch.from_numpy(mol.GetConformer().GetPositions()[list(atoms)]).float()
    if not torch.isfinite(pos).all():
        raise MolgenError("fragment: non-finite coordinates", source)
    return Data(pos=pos, atom_type=torch.tensor(types, dtype=torch.long),
                charge=torch.tensor(charges, dtype=torch.long), edge_index=edge_index, bond_type=bond_type,
                num_nodes=len(atoms))


def fragment_from_sdf(path: str | Path, vocab: Vocab) -> Data:
    """The atoms of an SDF's first record, as given (no hydrogens added: open valences are where the
    generated atoms attach). Aromaticity is perceived when RDKit can sanitise the fragment. For a
    heavy-atom vocabulary the record's hydrogens are dropped and its bonds kekulized where RDKit can."""
    path = check_text_sdf(path, "fragment")
    supplier = Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False)
    mol = next(iter(supplier), None) if len(supplier) else None
    if mol is None or mol.GetNumAtoms() == 0:
        raise MolgenError("cannot read the fragment (first SDF record)", path)
    _safe_name(mol, path.stem)
    if mol.GetNumConformers() == 0:
        raise MolgenError("the fragment has no coordinates", path)
    try:
        probe = Chem.Mol(mol)
        Chem.SanitizeMol(probe)
        mol = probe
    except Exception:  # noqa: BLE001 - a partial aromatic ring may not kekulise: keep the file's bonds
        mol.UpdatePropertyCache(strict=False)
    if not vocab.explicit_hydrogens:
        mol = _heavy_fragment(mol)
    return mol_subgraph(mol, list(range(mol.GetNumAtoms())), vocab, str(path))


def _heavy_fragment(mol: Chem.Mol) -> Chem.Mol:
    """A fragment's heavy atoms (in order), Kekulé bonds where RDKit can assign them."""
    rw = Chem.RWMol(mol)
    for a in sorted((a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 1), reverse=True):
        rw.RemoveAtom(a)
    heavy = rw.GetMol()
    try:
        Chem.Kekulize(heavy, clearAromaticFlags=True)
    except Exception:  # noqa: BLE001 - a partial aromatic ring: its aromatic bonds stay
        heavy.UpdatePropertyCache(strict=False)
    return heavy


def fragment_from_smarts(ref_ligand: str | Path | Chem.Mol, smarts: str, vocab: Vocab, match: int = 0,
                         hydrogens: bool = True) -> tuple[Data, list[int]]:
    """The atoms of a reference ligand matched by a SMARTS pattern.

    Args:
        ref_ligand: SDF path or molecule with 3D coordinates; missing hydrogens are added with
            coordinates first (as in training data).
        smarts: the pattern.
        vocab: the model's vocabulary.
        match: which match to use (0-based, in RDKit's order).
        hydrogens: also keep the hydrogens bonded to matched atoms (so the generated atoms grow
            from the bonds that leave the match in the reference).

    For a heavy-atom vocabulary the pattern is matched on the reference's heavy atoms, the
    fragment's bonds are those of its Kekulé form and ``hydrogens`` has no effect.

    Returns:
        The fragment graph and the indices of its atoms in the (hydrogen-complete, or for a
        heavy-atom vocabulary hydrogen-free) reference.

    Raises:
        MolgenError: an invalid SMARTS, no match, or a match index out of range.
    """
    src = "reference ligand" if isinstance(ref_ligand, Chem.Mol) else str(ref_ligand)
    mol = ref_ligand if isinstance(ref_ligand, Chem.Mol) else read_first_mol(ref_ligand, "reference ligand")
    heavy = not vocab.explicit_hydrogens
    mol = Chem.RemoveHs(mol) if heavy else with_hydrogens(mol)
    patt = Chem.MolFromSmarts(smarts)
    if patt is None:
        raise MolgenError(f"invalid SMARTS {smarts!r}")
    matches = mol.GetSubstructMatches(patt, uniquify=True, maxMatches=1000)
    if not matches:
        raise MolgenError(f"SMARTS {smarts!r} matches nothing in the reference ligand", src)
    if not 0 <= match < len(matches):
        raise MolgenError(f"match {match} requested but SMARTS {smarts!r} has {len(matches)} match(es)", src)
    atoms = list(matches[match])
    if heavy:
        try:
            kekule = heavy_kekule(mol)  # same atom order; bonds as the model's graphs hold them
        except SkipRecord as err:
            raise MolgenError(f"reference ligand: {err.reason}", src) from None
        return mol_subgraph(kekule, atoms, vocab, src), atoms
    if hydrogens:
        chosen = set(atoms)
        for a in list(atoms):
            for nb in mol.GetAtomWithIdx(a).GetNeighbors():
                if nb.GetAtomicNum() == 1 and nb.GetIdx() not in chosen:
                    atoms.append(nb.GetIdx())
                    chosen.add(nb.GetIdx())
    return mol_subgraph(mol, atoms, vocab, src), atoms


# ---- sampling ------------------------------------------------------------------------------------------
@torch.no_grad()
def generate_conditioned_graphs(
    model: nn.Module,
    process,
    vocab: Vocab,
    stats: dict,
    num: int,
    steps: int,
    *,
    pocket: PocketCondition | None = None,
    fragment: Data | None = None,
    batch_size: int = 100,
    seed: int = 0,
    self_condition: bool = False,
    device: str | torch.device = "cpu",
    num_atoms: int | None = None,
    atoms_range: tuple[int, int] | None = None,
    progress: bool = False,
    return_states: bool = False,
    guidance: GuidanceSettings | None = None,
    prior_mix: float | None = None,
    sizes: str = "pocket",
) -> list[Data] | tuple[list[Data], list[tuple[MolState, MolState]]]:
    """Sample ``num`` ligands in a pocket and/or around a fixed fragment.

    The free atoms' prior is centred on the pocket's centre of mass, or on the fragment's when there is one
    (with or without a pocket). Sizes (ligand atoms, fragment included): ``num_atoms``, else uniform in ``atoms_range``, else
    with a pocket by ``sizes`` (``pocket``: the nearest training sites by pocket size; ``reference``:
    uniform within :data:`REFERENCE_SIZE_SPREAD` of the reference ligand's atoms), else the dataset's
    size histogram, keeping sizes larger than the fragment. Batch k is drawn with a generator seeded by ``(seed, k)``, as
    :func:`molgen.sampling.generate.generate_graphs`; batches hold at most ``batch_size`` ligands and
    are cut smaller by their ligand and ligand–pocket pairs (:func:`molgen.sampling.sizes.sampler_batches`).

    Args:
        model, process, vocab, stats: the loaded model (:class:`molgen.training.GenerativeModel`).
        num: ligands to generate.
        steps: sampler steps.
        pocket: pocket context, or None.
        fragment: fixed atoms (:func:`fragment_from_sdf`, :func:`fragment_from_smarts`), or None;
            they are the first atoms of every output graph.
        return_states: also return ``(template, final state)`` per batch (for checks).
        guidance: sampling-time guidance out of the protein and into the site
            (:mod:`molgen.sampling.guidance`; needs ``pocket``), or None (off: the model as is). The
            process's refinement passes are guided only with ``guidance.refine``.
        prior_mix: weight in [0, 1] of the pocket on atom types, charges and bonds
            (:mod:`molgen.sampling.prior_mix`; 0: the pocket-free branch's chemistry; needs ``pocket``),
            or None (off). Guidance, when on, moves the mixed prediction.
        sizes: ``pocket`` or ``reference`` (see above; ``reference`` needs a pocket cut around a
            reference ligand and no ``num_atoms`` / ``atoms_range``).

    Returns:
        Molecule graphs (context dropped) with ``molgen_index`` and ``name``.
    """
    if num < 0 or steps < 1 or batch_size < 1:
        raise MolgenError(f"need num >= 0, steps >= 1, batch_size >= 1 (got {num}, {steps}, {batch_size})")
    check_size_mode(sizes, pocket is not None and pocket.reference_atoms is not None, num_atoms, atoms_range)
    nf = 0 if fragment is None else int(fragment.num_nodes)
    if prior_mix is not None:
        if pocket is None:
            raise MolgenError("prior mixing blends a pocket model's predictions with and without the pocket: "
                              "give a pocket")
        model = PriorMixDenoiser(model, chemistry=prior_mix)
    refine_model = model  # the refinement passes' network: guided only with guidance.refine
    if guidance is not None:
        if pocket is None:
            raise MolgenError("guidance keeps ligands out of a protein and inside its pocket: give a pocket")
        model = GuidedDenoiser(model, guidance, box=pocket.box, protein=pocket.protein_atoms)
        if guidance.refine:
            refine_model = model
    gen = torch.Generator().manual_seed(seed)
    if sizes == "reference":
        ref = pocket.reference_atoms
        atoms_range = (max(nf + 1, ref - REFERENCE_SIZE_SPREAD), max(nf + 1, ref + REFERENCE_SIZE_SPREAD))
    if num_atoms is not None or atoms_range is not None:
        counts = sample_num_atoms(None, num, exact=num_atoms, range_=atoms_range, generator=gen)
    elif pocket is not None:
        counts = pocket_sizes(stats, pocket.size_atoms, num, gen, min_size=nf + 1,
                             heavy_atoms=pocket.heavy_atoms or None)
    else:
        hist = {int(k): v for k, v in stats.get("num_atoms", {}).get("hist", {}).items() if int(k) > nf}
        if not hist:
            raise MolgenError("no size histogram with molecules larger than the fragment; pass --num-atoms")
        counts = sample_num_atoms(hist, num, generator=gen)
    if nf and num and int(counts.min()) <= nf:
        raise MolgenError(f"the fragment has {nf} atoms: ask for more atoms than that (got {int(counts.min())})")
    # grown atoms start around the fragment, not the pocket centre: from the pocket centre (6.6 Å from the
    # 1S3V trimethoxyphenyl) the shipped pocket model grew a separate molecule beside the fragment in 19 of
    # 20 draws, from the fragment's centre it bonded to it in 20 of 20 (README, "Fragment growing in a pocket")
    center = None
    if fragment is not None and pocket is not None:
        center = fragment.pos.to(torch.get_default_dtype()).mean(0)
    out: list[Data] = []
    states = []
    batches = sampler_batches(counts.tolist(), batch_size, 0 if pocket is None else int(pocket.context.num_nodes))
    for k, (start, stop) in enumerate(tqdm(batches, desc="sampling", unit="batch", disable=not progress)):
        g = torch.Generator(device="cpu").manual_seed(seed * 1_000_003 + k)
        template = MolState.template(
            counts[start:stop], vocab.num_types, vocab.num_charges, fragment=fragment,
            context=None if pocket is None else pocket.context, device=device,
            center=None if center is None else center.to(device).expand(stop - start, 3),
        )
        final = sample(model, process, template, steps, self_condition=self_condition, generator=g,
                       refine_denoiser=refine_model)
        if return_states:
            states.append((template, final))
        for i, graph in enumerate(final.to_graphs()):
            graph.molgen_index = start + i
            graph.name = f"gen_{start + i:06d}"
            out.append(graph)
    return (out, states) if return_states else out


def check_size_mode(sizes: str, has_reference: bool, num_atoms: int | None = None,
                     atoms_range: tuple[int, int] | None = None) -> None:
    """Refuse an unknown ``sizes`` mode, and ``reference`` without a pocket cut around a reference
    ligand (``has_reference``) or together with a given number or range of atoms.

    Raises:
        MolgenError: in one line naming the setting.
    """
    if sizes not in SIZE_MODES:
        raise MolgenError(f"sizes: unknown mode {sizes!r} (known: {', '.join(SIZE_MODES)})")
    if sizes != "reference":
        return
    if num_atoms is not None or atoms_range is not None:
        raise MolgenError("sizes: reference draws sizes around the reference ligand's: give either it or a "
                          "number / range of atoms, not both")
    if not has_reference:
        raise MolgenError("sizes: reference needs a pocket cut around a reference ligand (a protein with "
                          "ref_ligand, not residues or a box)")


def generate_conditioned(
    checkpoint: str | Path | None,
    out: str | Path,
    num: int = 100,
    steps: int = 20,
    *,
    protein: str | Path | None = None,
    ref_ligand: str | Path | None = None,
    residues: str | Sequence[str] | None = None,
    box: str | Sequence[float] | None = None,
    pocket_cutoff: float = DEFAULT_POCKET_CUTOFF,
    fragment: str | Path | None = None,
    fragment_smarts: str | None = None,
    batch_size: int = 100,
    seed: int = 0,
    device: str = "cpu",
    num_atoms: int | None = None,
    atoms_range: tuple[int, int] | None = None,
    process_options: dict | None = None,
    guidance: GuidanceSettings | dict | bool | None = None,
    prior_mix: float | None = None,
    sizes: str = "pocket",
) -> dict:
    """``molgen sample`` with a pocket and/or a fragment: load, sample, write ``out`` (SDF) + ``.json``.

    Pocket: ``protein`` with one of ``ref_ligand``, ``residues``, ``box``. Fragment: ``fragment``
    (SDF of the atoms to keep) or ``fragment_smarts`` matched on ``ref_ligand``. Coordinates are
    written in the protein's (or the fragment's) own frame.

    ``guidance`` (settings, a mapping of them, True for the defaults; None or False: off) guides
    the last steps out of the protein and into the site (:mod:`molgen.sampling.guidance`).
    ``prior_mix`` (a weight in [0, 1], None: off) takes the chemistry partly from the model's pocket-free
    branch (:mod:`molgen.sampling.prior_mix`). ``sizes``: ``pocket`` (default) or ``reference`` (ligand
    sizes around ``ref_ligand``'s; see :func:`generate_conditioned_graphs`).

    Returns:
        The JSON summary (settings, pocket, fragment, guidance, counts, seconds).

    Raises:
        MolgenError: inconsistent options, unreadable inputs, bad guidance settings, or a checkpoint
            without pocket training asked for a pocket.
    """
    from molgen.sampling.generate import check_outputs, default_checkpoint
    from molgen.training.checkpoint import load_model

    if (residues is not None or box is not None) and protein is None:
        raise MolgenError("--residues and --box need --protein")
    if protein is not None and residues is not None and box is not None:
        raise MolgenError("give either --residues or --box, not both")
    if fragment is not None and fragment_smarts is not None:
        raise MolgenError("give either --fragment or --fragment-smarts, not both")
    if fragment_smarts is not None and ref_ligand is None:
        raise MolgenError("--fragment-smarts is matched on --ref-ligand: give the reference ligand")
    if ref_ligand is not None and protein is None and fragment_smarts is None:
        raise MolgenError("--ref-ligand needs --protein (pocket) or --fragment-smarts (fragment)")
    if protein is None and fragment is None and fragment_smarts is None:
        raise MolgenError("nothing to condition on: give --protein and/or --fragment / --fragment-smarts")
    guidance = parse_guidance(guidance)
    if guidance is not None and protein is None:
        raise MolgenError("--guidance keeps ligands out of a protein and inside its pocket: give --protein")
    if prior_mix is not None and protein is None:
        raise MolgenError("--prior-mix blends a pocket model's predictions with and without the pocket: give --protein")
    check_size_mode(sizes, protein is not None and ref_ligand is not None and residues is None and box is None,
                    num_atoms, atoms_range)
    check_outputs(out)
    ckpt = Path(checkpoint) if checkpoint else default_checkpoint()
    gm = load_model(ckpt, device=device, process_options=process_options)
    pocket = None
    if protein is not None:
        if not is_pocket_model(gm.config):
            raise MolgenError("this model was trained without a pocket (data.context: none); use a pocket "
                              "model such as data/checkpoints/pocket_flow.ckpt", ckpt)
        use_ref = ref_ligand if residues is None and box is None else None
        pocket = load_pocket(protein, ref_ligand=use_ref, residues=residues, box=box, vocab=gm.vocab,
                             cutoff=pocket_cutoff)
    frag, frag_atoms = None, None
    if fragment is not None:
        frag = fragment_from_sdf(fragment, gm.vocab)
    elif fragment_smarts is not None:
        frag, frag_atoms = fragment_from_smarts(ref_ligand, fragment_smarts, gm.vocab)
    t0 = time.perf_counter()
    graphs = generate_conditioned_graphs(
        gm.model, gm.process, gm.vocab, gm.stats, num, steps, pocket=pocket, fragment=frag,
        batch_size=batch_size, seed=seed, self_condition=gm.self_condition, device=device,
        num_atoms=num_atoms, atoms_range=atoms_range, progress=True, guidance=guidance, prior_mix=prior_mix,
        sizes=sizes,
    )
    seconds = time.perf_counter() - t0
    out = Path(out)
    counts = write_sdf(graphs, gm.vocab, out)
    summary = {
        "checkpoint": str(ckpt), "process": gm.config["process"], "model": gm.config["model"]["name"],
        "vocab": gm.vocab.name,
        "num": num, "steps": steps, "batch_size": batch_size, "seed": seed, "device": device, "sizes": sizes,
        "torch_threads": torch.get_num_threads(),
        "pocket": None if pocket is None else pocket.summary(),
        "guidance": None if guidance is None else guidance.summary(),
        "prior_mix": None if prior_mix is None else {"chemistry": prior_mix, "positions": 1.0},
        "fragment": None if frag is None else {
            "source": str(fragment) if fragment is not None else f"SMARTS {fragment_smarts} on {ref_ligand}",
            "atoms": int(frag.num_nodes), "reference_atoms": frag_atoms,
        },
        "num_atoms": [int(g.num_nodes) for g in graphs],
        "seconds": round(seconds, 3),
        "molecules_per_s": round(num / seconds, 3) if seconds > 0 else None,
        **counts, "sdf": str(out),
    }
    write_json_atomic(out.with_suffix(".json"), summary)
    return summary


__all__ = [
    "DEFAULT_POCKET_RADIUS",
    "HYDROGEN_RATIO",
    "PROTEIN_SHELL",
    "PocketCondition",
    "PocketRadiusDenoiser",
    "fragment_from_sdf",
    "fragment_from_smarts",
    "generate_conditioned",
    "generate_conditioned_graphs",
    "is_pocket_model",
    "load_pocket",
    "mol_subgraph",
    "parse_box",
    "parse_residues",
    "pocket_sizes",
    "read_first_mol",
    "with_hydrogens",
]
