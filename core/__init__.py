"""reescreen core: chemistry, levels of theory, the screening pipeline, storage and results, the model, the CLI.

Importable without Streamlit; the app and the CLI are thin layers over it.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("reescreen")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
