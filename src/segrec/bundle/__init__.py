"""Model bundles: save, load and verify the pickle-free directory the API serves (layout and reasons in
:mod:`segrec.bundle.format`); :mod:`segrec.bundle.swap` makes every save atomic.

>>> from segrec.bundle import load_bundle, save_bundle
"""

from .format import FORMAT_VERSION, MANIFEST, Bundle
from .load import load_bundle, read_manifest, verify_bundle
from .save import data_fingerprint, save_bundle

__all__ = ["FORMAT_VERSION", "MANIFEST", "Bundle", "data_fingerprint", "load_bundle", "read_manifest", "save_bundle",
           "verify_bundle"]
