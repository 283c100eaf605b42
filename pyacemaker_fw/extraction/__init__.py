"""Phase 3: intelligent cutout of uncertain regions, passivation and buffer pre-relaxation."""

from pyacemaker_fw.extraction.cutout import centres_from_gamma, extract_clusters
from pyacemaker_fw.extraction.passivation import passivate
from pyacemaker_fw.extraction.pipeline import prepare_clusters
from pyacemaker_fw.extraction.regions import force_weights
from pyacemaker_fw.extraction.relaxation import default_relaxer, relax_buffer

__all__ = [
    "centres_from_gamma",
    "default_relaxer",
    "extract_clusters",
    "force_weights",
    "passivate",
    "prepare_clusters",
    "relax_buffer",
]
