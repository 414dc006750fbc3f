"""A generated shop that behaves like a real one, for demos, tests and benchmarks.

Customers come from five latent personas; ``truth`` records each customer's persona so that a segmentation
can be scored against it. Within a persona every customer has a taste of their own: a category mix and a
preference among the shop-wide product lines (:data:`STYLES`).

>>> from segrec.data.generate import generate_shop, PERSONAS
>>> [p.name for p in PERSONAS][:2]
['budget_families', 'affluent_loyalists']
"""

from __future__ import annotations

from ._catalogue import CATEGORIES, STYLES, Category, Style
from ._generator import CATEGORY_CONCENTRATION, STYLE_CONCENTRATION, GeneratedShop, generate_shop
from ._personas import PERSONAS, Persona

__all__ = [
    "CATEGORIES", "CATEGORY_CONCENTRATION", "PERSONAS", "STYLES", "STYLE_CONCENTRATION", "Category", "GeneratedShop",
    "Persona", "Style", "generate_shop",
]
