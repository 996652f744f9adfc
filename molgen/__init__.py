"""molgen: E(3)-equivariant 3D molecule generation.

The path of a run follows the sub-packages: config -> data -> models -> processes -> training ->
sampling -> validation -> docking -> pipeline -> analysis.
"""

from molgen.errors import MolgenError

__version__ = "0.1.0"

__all__ = ["MolgenError", "__version__"]
