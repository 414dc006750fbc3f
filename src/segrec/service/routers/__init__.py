"""One router per resource; :func:`segrec.service.main.create_app` includes them all."""

from . import admin, events, health, products, recommend, segments

ROUTERS = (health.router, recommend.router, events.router, products.router, segments.router, admin.router)

__all__ = ["ROUTERS"]
