"""Pose and conformer generation: a given molecule's graph held fixed, only its coordinates generated.

A :class:`~molgen.processes.state.MolState` holds an atom's coordinates and classes together (its
``fixed`` mask holds both). Here the classes of every atom and pair (elements, charges, bonds) must
stay the molecule's while the coordinates move, so :class:`PoseProcess` wraps a trained process:

* the state's class fields are set to the molecule's clean classes in the prior, after every step
  and in ``impose_fixed`` (so ``finalize`` returns them unchanged);
* coordinates follow the wrapped process as usual (free ligand atoms; pocket atoms fixed);
* what the *network* is shown of the classes at time t is configurable (``view``):
  ``progressive`` (default) reveals each item's true class once t passes a reveal time drawn once
  per item, with probability kappa(t) of being revealed at t, exactly the marginal the network saw
  in training (masked or uniform discrete modes: masked/random class until revealed; continuous
  mode: a(t)·one-hot + b(t)·ε with ε fixed per item); ``revealed`` shows the true classes at every t
  (more information, but inputs the network never saw at small t).

Without a pocket this makes conformers (centred on the input's centroid for an SDF, the origin for a
SMILES); with a pocket (context atoms, as in :mod:`molgen.sampling.conditioning`) binding poses in the
protein's frame, ranked by Vina (``score`` in place or ``minimize``) when a protein is given.
Outputs are copies of the input molecule (hydrogens added when missing) with new coordinates, so
the molecular graph, stereo tags and properties are the input's; ``stereo_ok`` says whether the 3D
coordinates reproduce the input's specified stereochemistry (flow models do not enforce chirality).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import rdMolAlign
from rdkit.Geometry import Point3D
from torch import Tensor
from torch_geometric.data import Batch, Data

from molgen.chem.convert import heavy_kekule, restore_hydrogens
from molgen.chem.vocab import Vocab
from molgen.data.transforms import DEFAULT_POCKET_CUTOFF, POCKET_NODE_ATTR_DIM
from molgen.errors import MolgenError, SkipRecord
from molgen.io import write_json_atomic
from molgen.processes.base import CLASS_FIELDS, GenerativeProcess
from molgen.processes.sampler import sample
from molgen.processes.state import MolState
from molgen.sampling.conditioning import (
    PocketCondition,
    is_pocket_model,
    load_pocket,
    mol_subgraph,
    read_first_mol,
    with_hydrogens,
)
from molgen.sampling.sizes import sampler_batches

log = logging.getLogger(__name__)

VIEWS = ("progressive", "revealed")
RANK_MODES = ("none", "score", "minimize")


class PoseProcess:
    """A generative process with every class held at a template's values, coordinates free.

    Delegates everything else to the wrapped process (time grid, coordinate steps, loss...).

    Args:
        base: the trained process.
        template: the clean state (classes long) whose classes are held; its ``fixed`` atoms
            (pocket) keep their coordinates as usual.
        view: what the network sees of the classes, ``progressive`` or ``revealed`` (module docstring).
        generator: draws the per-item reveal times / noise of the ``progressive`` view, once.
    """

    def __init__(self, base: GenerativeProcess, template: MolState, view: str = "progressive",
                 generator: torch.Generator | None = None) -> None:
        if view not in VIEWS:
            raise MolgenError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
        self.base, self.template, self.view = base, template, view
        self._clean = {f: base.represent(getattr(template, f), f) for f, _, _ in CLASS_FIELDS}
        self._reveal: dict[str, Tensor] = {}
        self._noise: dict[str, Tensor] = {}
        for field, _, _ in CLASS_FIELDS:
            n, k = getattr(template, field).shape[0], base.num_classes[field]
            self._reveal[field] = torch.rand(n, generator=generator, dtype=torch.float64).to(template.pos.device)
            if base.continuous_classes:
                self._noise[field] = torch.randn(n, k, generator=generator).to(template.pos.device)
            elif base.cat[field].mask_index is None:  # uniform mode: the class shown until revealed
                self._noise[field] = torch.randint(k, (n,), generator=generator).to(template.pos.device)

    def __getattr__(self, name: str):
        return getattr(self.base, name)

    def hold(self, state: MolState) -> MolState:
        """The state with every class field set to the template's clean classes."""
        return state.replace(**{f: self._clean[f].to(getattr(state, f).dtype) for f in self._clean})

    def prior(self, template: MolState, generator: torch.Generator | None = None) -> MolState:
        return self.hold(self.base.prior(template, generator))

    def impose_fixed(self, state: MolState, template: MolState) -> MolState:
        return self.hold(self.base.impose_fixed(state, template))

    def step(self, state: MolState, out, t: float, t_next: float, generator: torch.Generator | None = None,
             denoise=None) -> MolState:
        return self.hold(self.base.step(state, out, t, t_next, generator=generator, denoise=denoise))

    def class_view(self, state: MolState, t: Tensor) -> MolState:
        """The classes shown to the network at times ``t [B]`` (``progressive`` view)."""
        changes = {}
        for field, _, _ in CLASS_FIELDS:
            if field == "bond":
                index, fixed = state.pair_batch, state.pair_fixed
            else:
                index, fixed = state.batch, state.fixed
            x1 = getattr(self.template, field)
            tt = t.to(torch.float64)[index]
            if self.base.continuous_classes:
                a, b = self.base.coefficients(tt)
                x = a[:, None] * self._clean[field].double() + b[:, None] * self._noise[field].double()
                x = torch.where(fixed[:, None], self._clean[field].double(), x).to(state.pos.dtype)
            else:
                cat = self.base.cat[field]
                shown = self._reveal[field] < cat.kappa(tt).to(torch.float64)
                hidden = (torch.full_like(x1, cat.mask_index) if cat.mask_index is not None
                          else self._noise[field])
                x = torch.where(shown | fixed, x1, hidden)
            changes[field] = x
        return state.replace(**changes)

    def model_input(self, state: MolState, t: Tensor, self_cond=None):
        if self.view == "progressive":
            state = self.class_view(state, t)
        return self.base.model_input(state, t, self_cond)


# ---- inputs ----------------------------------------------------------------------------------------------
def molecule_input(ligand: str | Path | Chem.Mol | None = None, smiles: str | None = None) -> Chem.Mol:
    """The molecule to pose, every hydrogen explicit: from an SDF (first record) or a SMILES."""
    if (ligand is None) == (smiles is None):
        raise MolgenError("give exactly one of --ligand (SDF) and --smiles")
    if smiles is not None:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            raise MolgenError(f"RDKit cannot parse SMILES {smiles!r}")
        return Chem.AddHs(mol)
    mol = ligand if isinstance(ligand, Chem.Mol) else read_first_mol(ligand, "ligand")
    return with_hydrogens(mol)


def molecule_graph(mol: Chem.Mol, vocab: Vocab) -> Data:
    """Molecule graph of every atom of ``mol`` (atom order kept); zero coordinates if it has none."""
    m = Chem.Mol(mol)
    if m.GetNumConformers() == 0:
        conf = Chem.Conformer(m.GetNumAtoms())
        m.AddConformer(conf, assignId=True)
    return mol_subgraph(m, list(range(m.GetNumAtoms())), vocab, m.GetProp("_Name") if m.HasProp("_Name") else "ligand")


def pose_template(graph: Data, num: int, pocket: PocketCondition | None = None, center: Tensor | None = None,
                  node_attr_dim: int = 0, dtype: torch.dtype = torch.float32,
                  device: str | torch.device | None = None) -> MolState:
    """``num`` copies of a molecule graph (classes set, coordinates free), each with the pocket as context.

    Args:
        graph: the molecule (``atom_type``, ``charge``, ``edge_index``, ``bond_type``).
        num: B.
        pocket: context, or None.
        center: [3] Å, the prior's centre without a pocket (default origin); with a pocket, the
            pocket's centre of mass is used.
        node_attr_dim: F of the model (zeros for ligand atoms).
    """
    n = int(graph.num_nodes)
    ctx = None if pocket is None else pocket.context
    m = 0 if ctx is None else int(ctx.num_nodes)
    is_ctx = torch.arange(n + m) >= n
    graphs = []
    for _ in range(num):
        g = Data(
            pos=torch.cat([torch.zeros(n, 3, dtype=torch.float64)] + ([] if ctx is None else [ctx.pos.double()])),
            atom_type=torch.cat([graph.atom_type] + ([] if ctx is None else [ctx.atom_type])),
            charge=torch.cat([graph.charge] + ([] if ctx is None else [ctx.charge])),
            edge_index=graph.edge_index, bond_type=graph.bond_type, fixed=is_ctx, context=is_ctx, num_nodes=n + m,
        )
        if node_attr_dim:
            attr = torch.zeros(n + m, node_attr_dim, dtype=torch.float64)
            if ctx is not None:
                attr[n:] = ctx.node_attr.double()
            g.node_attr = attr
        graphs.append(g)
    if pocket is not None:
        c = pocket.center
    else:
        c = torch.zeros(3, dtype=torch.float64) if center is None else torch.as_tensor(center, dtype=torch.float64)
    state = MolState.from_batch(Batch.from_data_list(graphs), center=c.reshape(1, 3).expand(num, 3).clone())
    state = state.replace(pos=state.pos.to(dtype), center=state.center.to(dtype),
                          node_attr=None if state.node_attr is None else state.node_attr.to(dtype))
    return state.to(device) if device is not None else state


@torch.no_grad()
def generate_poses(
    model: torch.nn.Module,
    process: GenerativeProcess,
    vocab: Vocab,
    mol: Chem.Mol,
    num: int,
    steps: int,
    *,
    pocket: PocketCondition | None = None,
    center: Tensor | None = None,
    node_attr_dim: int = 0,
    batch_size: int = 50,
    seed: int = 0,
    self_condition: bool = False,
    view: str = "progressive",
    device: str | torch.device = "cpu",
) -> list[Chem.Mol]:
    """``num`` poses (pocket) or conformers (no pocket) of ``mol``: copies of it with new coordinates.

    Args:
        model, process, vocab: the loaded model.
        mol: the molecule, every hydrogen explicit (:func:`molecule_input`).
        num, steps: poses and sampler steps.
        pocket: context, or None for conformers.
        center: [3] Å, where conformers are centred (no pocket).
        node_attr_dim: the denoiser's node-attribute size (pocket models).
        view: see :class:`PoseProcess`.
        batch_size: most poses per sampler batch (:func:`~molgen.sampling.sizes.sampler_batches` may
            cut it smaller).

    A heavy-atom model poses the heavy atoms (Kekulé bonds) and RDKit places the hydrogens on each
    pose (``AddHs(addCoords=True)``).

    Raises:
        RuntimeError: the molecular graph changed during sampling (a bug, never expected).
        MolgenError: a heavy-atom model and a molecule RDKit cannot kekulize.
    """
    heavy = not vocab.explicit_hydrogens
    if heavy:
        mol = Chem.RemoveHs(mol)
        try:
            graph = molecule_graph(heavy_kekule(mol), vocab)
        except SkipRecord as err:
            raise MolgenError(f"cannot pose the molecule: {err.reason}") from None
    else:
        graph = molecule_graph(mol, vocab)
    out: list[Chem.Mol] = []
    n_context = 0 if pocket is None else int(pocket.context.num_nodes)
    for k, (start, stop) in enumerate(sampler_batches([graph.num_nodes] * num, batch_size, n_context)):
        b = stop - start
        gen = torch.Generator(device="cpu").manual_seed(seed * 1_000_003 + k)
        template = pose_template(graph, b, pocket, center, node_attr_dim, device=device)
        proc = PoseProcess(process, template, view, gen)
        final = sample(model, proc, template, steps, self_condition=self_condition, generator=gen)
        lig = ~final.context
        for f in ("atom_type", "charge", "bond"):
            a, ref = getattr(final, f), getattr(template, f)
            if not torch.equal(a.long().cpu(), ref.long().cpu()):
                raise RuntimeError(f"pose sampling changed the molecule's {f}")
        pos = final.pos[lig].detach().double().cpu().numpy().reshape(b, graph.num_nodes, 3)
        for i in range(b):
            out.append(restore_hydrogens(with_coordinates(mol, pos[i], start + i), vocab))
    return out


def with_coordinates(mol: Chem.Mol, pos: np.ndarray, index: int) -> Chem.Mol:
    """A copy of ``mol`` with one conformer at ``pos [N, 3]`` Å and ``stereo_ok``, ``molgen_index`` set."""
    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    conf = Chem.Conformer(m.GetNumAtoms())
    for k, (x, y, z) in enumerate(pos.tolist()):
        conf.SetAtomPosition(k, Point3D(x, y, z))
    conf.Set3D(True)
    m.AddConformer(conf, assignId=True)
    m.SetIntProp("molgen_index", index)
    m.SetProp("stereo_ok", "1" if stereo_matches(mol, m) else "0")
    return m


def stereo_matches(ref: Chem.Mol, posed: Chem.Mol) -> bool:
    """Whether ``posed``'s 3D coordinates give the stereo that ``ref`` specifies (True if none)."""
    spec = Chem.Mol(ref)
    if spec.GetNumConformers() and spec.GetConformer().Is3D():
        Chem.AssignStereochemistryFrom3D(spec)
    want = Chem.MolToSmiles(Chem.RemoveHs(spec), isomericSmiles=True)
    if want == Chem.MolToSmiles(Chem.RemoveHs(spec), isomericSmiles=False):
        return True
    got = Chem.Mol(posed)
    Chem.AssignStereochemistryFrom3D(got)
    return Chem.MolToSmiles(Chem.RemoveHs(got), isomericSmiles=True) == want


def heavy_rmsd(pose: Chem.Mol, ref: Chem.Mol) -> float:
    """Symmetry-corrected heavy-atom RMSD without superposition (``rdMolAlign.CalcRMS``), Å; NaN if
    the two are not the same molecule."""
    try:
        return float(rdMolAlign.CalcRMS(Chem.RemoveHs(pose), Chem.RemoveHs(ref), maxMatches=10000))
    except Exception:  # noqa: BLE001 - different graphs: no RMSD
        return math.nan


def rank_poses(poses: Sequence[Chem.Mol], protein: str | Path, mode: str = "minimize", box=None,
               ref_ligand: Chem.Mol | None = None) -> tuple[list[Chem.Mol], list[dict]]:
    """Score (``score``) or locally minimise (``minimize``) poses with Vina; best first.

    The box is ``box`` if given, else around ``ref_ligand`` (4 Å padding), else around all poses.
    Failed poses (e.g. outside the box) go last with their reason.

    Returns:
        The poses (the minimised ones for ``minimize``) and one row per pose, both best first.
    """
    from molgen.docking import dock_ligands

    res = dock_ligands(protein, list(poses), mode=mode, box=box, ref_ligand=ref_ligand)
    rows = res.table.to_dict("records")
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["status"] != "ok", rows[i]["vina_kcal_mol"]
                                                     if rows[i]["status"] == "ok" else math.inf))
    out_poses, out_rows = [], []
    for i in order:
        pose = Chem.Mol(res.poses[i][0]) if res.poses[i] else Chem.Mol(poses[i])
        for key in ("molgen_index", "stereo_ok"):
            if poses[i].HasProp(key):
                pose.SetProp(key, poses[i].GetProp(key))
        out_poses.append(pose)
        out_rows.append(rows[i])
    return out_poses, out_rows


def pose_command(
    checkpoint: str | Path,
    out: str | Path,
    *,
    ligand: str | Path | None = None,
    smiles: str | None = None,
    protein: str | Path | None = None,
    ref_ligand: str | Path | None = None,
    residues: str | Sequence[str] | None = None,
    box: str | Sequence[float] | None = None,
    pocket_cutoff: float = DEFAULT_POCKET_CUTOFF,
    num: int = 10,
    steps: int = 20,
    rank: str | None = None,
    view: str = "progressive",
    batch_size: int = 50,
    seed: int = 0,
    device: str = "cpu",
) -> dict:
    """``molgen pose``: poses (with ``protein``) or conformers of one molecule, written to ``out`` (SDF)
    best first, with a ``.json`` summary beside it.

    Args:
        checkpoint: model file (a pocket model for poses).
        out: output SDF.
        ligand / smiles: the molecule.
        protein + ref_ligand / residues / box: the pocket (see :func:`load_pocket`).
        rank: ``none``, ``score`` or ``minimize`` (Vina); default ``minimize`` with a protein, else none.
        view: :class:`PoseProcess` view.

    Raises:
        MolgenError: bad options or inputs, a pocket asked of a model trained without one.
    """
    from molgen.sampling.generate import check_outputs
    from molgen.training.checkpoint import load_model

    rank = rank or ("minimize" if protein is not None else "none")
    if rank not in RANK_MODES:
        raise MolgenError(f"--rank must be one of {', '.join(RANK_MODES)}, got {rank!r}")
    if rank != "none" and protein is None:
        raise MolgenError("--rank score/minimize needs --protein")
    if protein is None and (residues is not None or box is not None):
        raise MolgenError("--residues and --box need --protein")
    if num < 1:
        raise MolgenError(f"--num must be >= 1, got {num}")
    check_outputs(out)
    mol = molecule_input(ligand, smiles)
    gm = load_model(checkpoint, device=device)
    pocket = None
    ref = read_first_mol(ref_ligand, "reference ligand") if ref_ligand is not None else None
    if protein is not None:
        if not is_pocket_model(gm.config):
            raise MolgenError("this model was trained without a pocket (data.context: none); use a pocket "
                              "model such as data/checkpoints/pocket_flow.ckpt", checkpoint)
        use_ref = ref if residues is None and box is None else None
        if use_ref is None and residues is None and box is None:
            raise MolgenError("a pocket needs one of --ref-ligand, --residues, --box")
        pocket = load_pocket(protein, ref_ligand=use_ref, residues=residues, box=box, vocab=gm.vocab,
                             cutoff=pocket_cutoff)
    center = None
    if pocket is None and mol.GetNumConformers():
        center = torch.from_numpy(mol.GetConformer().GetPositions().mean(0))
    attr_dim = POCKET_NODE_ATTR_DIM if is_pocket_model(gm.config) else 0
    t0 = time.perf_counter()
    poses = generate_poses(gm.model, gm.process, gm.vocab, mol, num, steps, pocket=pocket, center=center,
                           node_attr_dim=attr_dim, batch_size=batch_size, seed=seed,
                           self_condition=gm.self_condition, view=view, device=device)
    seconds = time.perf_counter() - t0
    rows: list[dict] = []
    if rank != "none":
        from molgen.docking.box import Box

        vbox = None
        if box is not None:
            from molgen.sampling.conditioning import parse_box

            c, s = parse_box(box)
            vbox = Box(c, s)
        poses, rows = rank_poses(poses, protein, rank, box=vbox, ref_ligand=ref if vbox is None else None)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    rmsds = []
    with Chem.SDWriter(str(tmp)) as writer:
        for r, pose in enumerate(poses):
            pose.SetIntProp("pose_rank", r)
            if rows:
                pose.SetProp("vina_kcal_mol", f"{rows[r]['vina_kcal_mol']:.3f}" if rows[r]["status"] == "ok" else "nan")
            if ref is not None:
                rmsd = heavy_rmsd(pose, ref)
                rmsds.append(rmsd)
                if not math.isnan(rmsd):
                    pose.SetProp("rmsd_to_ref_A", f"{rmsd:.3f}")
            writer.write(pose)
    os.replace(tmp, out)
    finite = [x for x in rmsds if not math.isnan(x)]
    summary = {
        "checkpoint": str(checkpoint), "molecule": Chem.MolToSmiles(Chem.RemoveHs(mol)), "num": num,
        "steps": steps, "seed": seed, "view": view, "rank": rank,
        "pocket": None if pocket is None else pocket.summary(),
        "seconds": round(seconds, 3),
        "stereo_ok": sum(p.GetProp("stereo_ok") == "1" for p in poses),
        "vina_kcal_mol": [None if r["status"] != "ok" else round(float(r["vina_kcal_mol"]), 3) for r in rows],
        "rmsd_to_ref_A": [round(x, 3) for x in finite] if finite else None,
        "sdf": str(out),
    }
    write_json_atomic(out.with_suffix(".json"), summary)
    return summary


__all__ = [
    "RANK_MODES", "VIEWS", "PoseProcess", "generate_poses", "heavy_rmsd", "molecule_graph", "molecule_input",
    "pose_command", "pose_template", "rank_poses", "stereo_matches", "with_coordinates",
]
