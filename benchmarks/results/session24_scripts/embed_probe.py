"""Why do whole generated ligands fail to embed (the internal-energy check's ETKDG ensemble)? The egfr screen site's
20 ligands (seed 0, shipped file): for each whole ligand, ETKDG with the stereo read from the generated pose (as the
check and PoseBusters do) against ETKDG of the same graph with stereo removed, 4 conformers, 10 s each. Session 24.

    PYTHONPATH=. python benchmarks/results/session24_scripts/embed_probe.py CKPT SITE_INDEX
"""
import json
import sys
from pathlib import Path

from rdkit import Chem, RDLogger
from rdkit.Chem import rdDistGeom

from benchmarks.pocket import graph_mols
from benchmarks.pocket_screen import sample_site, screen_sites
from molgen.training import load_model
from molgen.validation.build import build_molecule

RDLogger.DisableLog("rdApp.*")
gm = load_model(sys.argv[1])
name, part, row = list(screen_sites(Path("runs/data/complexes_all/split")))[int(sys.argv[2])]
_, _, graphs = sample_site(gm, row)


def embeds(mol) -> int:
    p = rdDistGeom.ETKDGv3()
    p.randomSeed, p.useRandomCoords, p.numThreads, p.timeout = 0, True, 1, 10
    return sum(c >= 0 for c in rdDistGeom.EmbedMultipleConfs(mol, 4, p))


for k, m in enumerate(graph_mols(graphs, gm.vocab)):
    b = build_molecule(m, bonds="predicted")
    if b.mol is None or len(Chem.GetMolFrags(b.mol)) != 1:
        continue
    posed = Chem.AddHs(b.mol, addCoords=True)
    Chem.AssignStereochemistryFrom3D(posed, replaceExistingTags=True)
    centres = Chem.FindMolChiralCenters(posed, includeUnassigned=True, useLegacyImplementation=False)
    flat = Chem.Mol(posed)
    Chem.RemoveStereochemistry(flat)
    a, c = Chem.Mol(posed), Chem.Mol(flat)
    a.RemoveAllConformers()
    c.RemoveAllConformers()
    print(json.dumps({"site": name, "ligand": k, "smiles": Chem.MolToSmiles(Chem.RemoveHs(posed)),
                      "stereocentres": len(centres), "ring_sizes": sorted(len(r) for r in posed.GetRingInfo().AtomRings()),
                      "embedded_with_pose_stereo": embeds(a), "embedded_without_stereo": embeds(c)}), flush=True)
