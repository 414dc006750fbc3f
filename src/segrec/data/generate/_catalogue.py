"""The generated shop's product catalogue.

Names and descriptions are composed from per-category vocabularies, so TF-IDF neighbours of a product are
mostly in its own category; a few words ("kids", "organic", "outdoor", "gift", "wireless", "stainless") are
deliberately shared by related categories. Prices are log-normal with a per-category median, and popularity
within a category is Zipf-like.

Every product also has one of a few shop-wide :data:`STYLES` (a product line such as "eco" or "premium" that
cuts across departments). Customers have a personal taste over styles, so what they bought in one category
says something about what they will buy in another; the style's tagline ends the description, so a text model
can see it too, and it shifts the price (premium lines cost more).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...columns import Columns

ZIPF_EXPONENT = 1.1

#: Name of the catalogue column holding each product's within-category popularity weight (internal only).
POPULARITY = "popularity"
#: Name of the catalogue column holding each product's position in :data:`STYLES` (internal only).
STYLE = "style"


@dataclass(frozen=True)
class Style:
    """A shop-wide product line: its name, the sentence that ends a description, and its price multiplier."""

    name: str
    tagline: str
    price_factor: float


STYLES: tuple[Style, ...] = (
    Style("heritage", "Timeless heritage range.", 1.0),
    Style("eco", "Sustainable eco range.", 1.15),
    Style("premium", "Luxury premium range.", 1.6),
    Style("playful", "Bright playful range.", 0.95),
    Style("minimal", "Clean minimalist range.", 1.05),
    Style("value", "Everyday value range.", 0.7),
)


@dataclass(frozen=True)
class Category:
    """One department: catalogue share, price distribution, re-buy propensity and its vocabulary."""

    name: str
    weight: float  # relative share of the catalogue
    median_price: float
    price_sigma: float
    repeatability: float  # how likely a product of this category becomes a staple that is re-bought
    unit_factor: float  # scales a persona's extra units per line
    brands: tuple[str, ...]
    nouns: tuple[str, ...]
    variants: tuple[str, ...]
    features: tuple[str, ...]
    uses: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(
        "Electronics", 1.2, 60.0, 0.8, 0.2, 0.2,
        ("Voltix", "Nexon", "Auralab", "Pixelon", "Ampere"),
        ("Headphones", "Charger", "Speaker", "Power Bank", "Earbuds", "Webcam", "Keyboard", "Smartwatch", "Cable"),
        ("Pro", "Mini", "Max", "Lite", "X2", "Plus"),
        ("wireless bluetooth connection", "fast usb-c charging", "long battery life", "noise cancelling audio",
         "smart app control", "hd resolution", "compact aluminium body", "low latency"),
        ("for work and gaming", "for music on the go", "for your home office", "for travel and commuting"),
    ),
    Category(
        "Home & Kitchen", 1.3, 25.0, 0.7, 0.5, 0.3,
        ("Casaline", "Hearthwell", "Kitcho", "Domora"),
        ("Frying Pan", "Knife Set", "Mug", "Storage Jar", "Towel", "Kettle", "Cutting Board", "Blender", "Candle"),
        ("Classic", "Deluxe", "Set of 2", "Large", "Compact", "Family Size"),
        ("non-stick coating", "stainless steel finish", "dishwasher safe", "heat resistant handle",
         "soft cotton weave", "smart temperature control", "bpa free", "space saving design"),
        ("for everyday cooking", "for a cosy home", "for busy family kitchens", "for entertaining guests"),
    ),
    Category(
        "Beauty", 1.0, 14.0, 0.6, 0.7, 0.4,
        ("Lumiere", "Veloura", "Botanica", "Glowi"),
        ("Moisturiser", "Serum", "Lipstick", "Shampoo", "Face Mask", "Perfume", "Cleanser", "Eye Cream"),
        ("50 ml", "100 ml", "Travel Size", "Night", "Sensitive", "Gift Set"),
        ("organic natural ingredients", "vitamin c boost", "hydrating hyaluronic formula", "cruelty free",
         "fragrance free for sensitive skin", "long lasting colour", "gift boxed", "spf protection"),
        ("for radiant skin", "for a daily skincare routine", "for soft healthy hair", "as a thoughtful gift"),
    ),
    Category(
        "Toys", 0.9, 18.0, 0.6, 0.15, 0.2,
        ("Playnest", "Wondoo", "Tinkertot", "Brickle"),
        ("Building Blocks", "Puzzle", "Plush Bear", "Toy Car", "Doll", "Board Game", "Train Set", "Kite"),
        ("Junior", "Classic", "Deluxe", "100 Pieces", "Mini", "Adventure"),
        ("educational play for kids", "colourful wooden pieces", "safe non-toxic paint", "gift boxed",
         "battery powered lights", "outdoor fun", "creative imagination", "soft cuddly fabric"),
        ("for kids aged 3 and up", "for family game night", "as a birthday gift", "for creative play"),
    ),
    Category(
        "Books", 0.9, 11.0, 0.4, 0.1, 0.1,
        ("Penwick", "Folio House", "Inkwell Press", "Marlow"),
        ("Novel", "Cookbook", "Biography", "Travel Guide", "Picture Book", "Thriller", "Atlas", "Poetry"),
        ("Paperback", "Hardcover", "Illustrated", "Collector's Edition", "Large Print"),
        ("bestselling author", "illustrated chapters", "gripping story", "practical recipes",
         "stories for kids", "gift edition", "award winning", "beautiful photography"),
        ("for a quiet evening read", "for curious minds", "for bedtime reading with kids", "as a gift"),
    ),
    Category(
        "Sports", 0.9, 30.0, 0.7, 0.2, 0.2,
        ("Stridex", "Peakform", "Aerofit", "Trailhawk"),
        ("Yoga Mat", "Running Shoes", "Dumbbells", "Water Bottle", "Backpack", "Tennis Racket", "Cycling Gloves"),
        ("Pro", "Lite", "Trail", "Indoor", "Outdoor", "Team"),
        ("lightweight breathable fabric", "waterproof outdoor shell", "non-slip grip", "ergonomic support",
         "wireless fitness tracking", "durable rubber", "quick dry material", "adjustable fit"),
        ("for training and fitness", "for outdoor adventures", "for the gym", "for running and hiking"),
    ),
    Category(
        "Fashion", 1.3, 28.0, 0.6, 0.15, 0.15,
        ("Urbane", "Vestra", "Northline", "Loomy", "Kindred"),
        ("T-Shirt", "Hoodie", "Jeans", "Sneakers", "Dress", "Jacket", "Scarf", "Cap", "Socks"),
        ("Slim Fit", "Oversized", "Organic Cotton", "Kids", "Limited Edition", "Classic"),
        ("soft organic cotton", "waterproof outdoor fabric", "trendy streetwear cut", "recycled materials",
         "stretch comfort fit", "bold seasonal colours", "machine washable", "sizes for kids and adults"),
        ("for everyday style", "for weekend streetwear", "for chilly outdoor days", "for a night out"),
    ),
    Category(
        "Grocery", 1.5, 4.5, 0.5, 1.0, 1.5,
        ("Farmhouse", "Greenfield", "Daily Pantry", "Nordic Harvest"),
        ("Coffee Beans", "Olive Oil", "Pasta", "Granola", "Tea", "Chocolate", "Rice", "Honey", "Oat Milk"),
        ("500 g", "1 kg", "Organic", "Family Pack", "Fair Trade", "Multipack"),
        ("organic natural ingredients", "fair trade sourced", "rich roasted flavour", "gluten free",
         "no added sugar", "wholegrain goodness", "locally produced", "value family pack"),
        ("for a healthy breakfast", "for everyday family meals", "for the weekly shop", "for your pantry"),
    ),
    Category(
        "Garden", 0.7, 22.0, 0.8, 0.25, 0.4,
        ("Greenthumb", "Bloomwell", "Terrafirm", "Sproutly"),
        ("Plant Pot", "Hose", "Pruning Shears", "Seeds", "Compost", "Garden Lights", "Watering Can", "Bird Feeder"),
        ("Large", "Small", "Set of 3", "Solar", "Heavy Duty", "Organic"),
        ("weatherproof outdoor use", "stainless steel blades", "organic natural compost", "solar powered lights",
         "frost resistant", "ergonomic handle", "recycled plastic", "easy to assemble"),
        ("for a blooming garden", "for patios and balconies", "for outdoor living", "for growing vegetables"),
    ),
    Category(
        "Pets", 0.7, 12.0, 0.6, 0.9, 1.0,
        ("Pawsome", "Furrly", "Happy Tails", "Whiskerco"),
        ("Dog Food", "Cat Litter", "Chew Toy", "Pet Bed", "Treats", "Leash", "Scratching Post", "Cat Food"),
        ("2 kg", "Large", "Small", "Grain Free", "Value Pack", "Puppy"),
        ("organic natural ingredients", "grain free recipe", "durable chew-proof rubber", "soft washable fabric",
         "odour control", "high protein", "vet approved", "reflective outdoor strap"),
        ("for happy healthy dogs", "for fussy cats", "for playful puppies", "for your pet's comfort"),
    ),
    Category(
        "Stationery", 0.6, 6.0, 0.6, 0.6, 0.8,
        ("Scriptly", "Paperloft", "Inkwise", "Notara"),
        ("Notebook", "Gel Pens", "Planner", "Sticky Notes", "Sketchbook", "Pencil Case", "Greeting Cards"),
        ("A5", "A4", "Pack of 10", "Dotted", "Kids", "Premium"),
        ("recycled paper", "smooth gel ink", "hardcover binding", "colourful designs for kids",
         "gift boxed", "acid free pages", "refillable", "fountain pen friendly"),
        ("for school and office", "for journaling", "for creative sketching", "as a small gift"),
    ),
    Category(
        "Jewellery", 0.5, 85.0, 0.6, 0.05, 0.05,
        ("Aurelle", "Silvan", "Lustra", "Opaline"),
        ("Necklace", "Ring", "Earrings", "Bracelet", "Pendant", "Watch", "Brooch", "Cufflinks"),
        ("Sterling Silver", "Gold Plated", "Rose Gold", "Classic", "Vintage", "Charm"),
        ("sterling silver", "stainless steel that never tarnishes", "hand polished gemstones", "gift boxed",
         "hypoallergenic", "engraving option", "freshwater pearls", "elegant minimalist design"),
        ("as an anniversary gift", "for special occasions", "for everyday elegance", "as a birthday gift"),
    ),
)


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder, each part >= 1)."""
    base = np.ones(len(weights), dtype=np.int64)
    raw = weights / weights.sum() * (total - len(weights))
    base += np.floor(raw).astype(np.int64)
    remainder = total - base.sum()
    base[np.argsort(-(raw - np.floor(raw)), kind="stable")[:remainder]] += 1
    return base


def _names(cat: Category, n: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Distinct product names and description sentences for ``n`` products of ``cat``."""
    combos = len(cat.brands) * len(cat.nouns) * len(cat.variants)
    rounds, picks = np.divmod(rng.permutation(-(-n // combos) * combos)[:n], combos)  # distinct (round, combo)
    brand, rest = np.divmod(picks, len(cat.nouns) * len(cat.variants))
    noun, variant = np.divmod(rest, len(cat.variants))
    f1 = rng.integers(0, len(cat.features), n)
    f2 = (f1 + rng.integers(1, len(cat.features), n)) % len(cat.features)  # a second, different feature
    use = rng.integers(0, len(cat.uses), n)
    names, descriptions = [], []
    for i in range(n):  # catalogue-sized loop (products, not purchase rows)
        name = f"{cat.brands[brand[i]]} {cat.nouns[noun[i]]} {cat.variants[variant[i]]}"
        names.append(f"{name} {rounds[i] + 1}" if rounds[i] else name)
        descriptions.append(
            f"{cat.nouns[noun[i]]} by {cat.brands[brand[i]]}: {cat.features[f1[i]]}, "
            f"{cat.features[f2[i]]}; {cat.uses[use[i]]}."
        )
    return names, descriptions


def build_catalogue(products: int, rng: np.random.Generator) -> pd.DataFrame:
    """Return ``products`` rows: id, name, description, category, price, popularity weight and style number.

    Popularity weights sum to 1 within each category; ``products`` must be at least the number of categories.
    """
    sizes = _allocate(products, np.array([c.weight for c in CATEGORIES]))
    parts = []
    for cat, n in zip(CATEGORIES, sizes, strict=True):
        names, descriptions = _names(cat, int(n), rng)
        style = rng.integers(0, len(STYLES), n)
        factor = np.array([s.price_factor for s in STYLES])[style]
        price = np.round(cat.median_price * factor * np.exp(rng.normal(0.0, cat.price_sigma, n)), 2)
        ranks = rng.permutation(n) + 1
        popularity = ranks.astype(np.float64) ** -ZIPF_EXPONENT
        descriptions = [f"{d} {STYLES[s].tagline}" for d, s in zip(descriptions, style, strict=True)]
        parts.append(pd.DataFrame({
            Columns.ItemName: names, Columns.Description: descriptions, Columns.Category: cat.name,
            Columns.Price: np.maximum(price, 0.5), POPULARITY: popularity / popularity.sum(), STYLE: style,
        }))
    catalogue = pd.concat(parts, ignore_index=True)
    catalogue = catalogue.iloc[rng.permutation(products)].reset_index(drop=True)  # ids do not follow categories
    catalogue.insert(0, Columns.Item, make_ids("P", products))
    return catalogue


def make_ids(prefix: str, n: int, width: int = 5) -> np.ndarray:
    """``n`` identifiers like ``P00001``, zero-padded to ``width`` digits (more when ``n`` needs them)."""
    digits = np.arange(1, n + 1).astype(str)
    return np.char.add(prefix, np.char.zfill(digits, max(width, len(str(n)))))
