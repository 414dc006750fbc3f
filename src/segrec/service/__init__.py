"""The real-time API: FastAPI app factory, settings, and the hot-swappable bundle holder."""

from .main import create_app
from .settings import Settings
from .state import BundleHolder, Served

__all__ = ["BundleHolder", "Served", "Settings", "create_app"]
