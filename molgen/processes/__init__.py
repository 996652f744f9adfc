"""Generative processes: priors, noising/interpolation, targets, loss weights and sampler steps.

Time convention, used everywhere in molgen: **t = 0 is noise (the prior), t = 1 is data.** Every
process maps a clean :class:`MolState` to its noisy version at t (``corrupt``), draws the t = 0
state (``prior``), turns a state into the network's :class:`~molgen.models.base.DenoiserInput`
(``model_input``), scores the network's prediction of the clean state (``loss``) and moves a state
from t to t' > t given that prediction (``step``). The network never sees a schedule constant.

Processes are chosen by registry name (``process: {name: flow}`` in YAML):

* ``diffusion`` — :class:`GaussianDiffusion`, variance-preserving Gaussian diffusion;
* ``flow`` — :class:`FlowMatching`, flow matching with the linear interpolant.

Atom types, charges and bond classes follow a discrete process in continuous time
(:mod:`molgen.processes.discrete`: masked or uniform), or the continuous one-hot relaxation.
"""

from molgen.processes.base import PROCESSES, GenerativeProcess, build_process, register_process
from molgen.processes.diffusion import GaussianDiffusion
from molgen.processes.flow import FlowMatching
from molgen.processes.sampler import sample
from molgen.processes.state import MolState

__all__ = [
    "PROCESSES",
    "FlowMatching",
    "GaussianDiffusion",
    "GenerativeProcess",
    "MolState",
    "build_process",
    "register_process",
    "sample",
]
