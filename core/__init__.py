"""reescreen core: ligands, complexes, GFN2-xTB, QC, binding energies, store and Dask runner.

Importable without Streamlit; the app and the CLI are thin layers over it.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("reescreen")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
