"""Column names of segrec's frames, defined once.

Every module refers to columns through these constants, never through string literals, so that a rename is a
one-line change and a typo is an ``AttributeError`` instead of a silent ``KeyError`` at run time.

Canonical event frame (one row per purchased line), dtypes after ingestion:

=================  ==================  ==========================================================
column             dtype               meaning / unit
=================  ==================  ==========================================================
user_id            string              customer identifier (required)
product_id         string              product identifier (required)
purchase_date      datetime64[ns]      time of purchase, naive local time (required)
order_id           string (nullable)   invoice / basket id; missing -> one order per user and day
product_name       string              defaults to product_id
description        string              free product text; defaults to ""
category           string              defaults to "unknown"
price              float64             unit price in the shop's currency (>= 0)
quantity           int64               units bought (> 0), defaults to 1
total_spending     float64             price * quantity when absent
clicks             float64 (nullable)  clicks in the session that led to the purchase
time_spent         float64 (nullable)  minutes spent in that session
abandoned_cart     boolean (nullable)  whether the customer abandoned a cart in that session
engagement_score   float64 (nullable)  clicks / time_spent (minutes) when absent
age                float64 (nullable)  years
gender             string (nullable)   free text, e.g. "F", "M", "X"
location           string (nullable)   country / region / city
income             float64 (nullable)  yearly income in the shop's currency
=================  ==================  ==========================================================
"""

from __future__ import annotations


class Columns:
    """Names of canonical columns and of the columns segrec adds."""

    # canonical event schema
    User = "user_id"
    Item = "product_id"
    Date = "purchase_date"
    Order = "order_id"
    ItemName = "product_name"
    Description = "description"
    Category = "category"
    Price = "price"
    Quantity = "quantity"
    Spending = "total_spending"
    Clicks = "clicks"
    TimeSpent = "time_spent"
    AbandonedCart = "abandoned_cart"
    Engagement = "engagement_score"
    Age = "age"
    Gender = "gender"
    Location = "location"
    Income = "income"

    # added by segrec
    RejectReason = "reject_reason"
    SourceRow = "source_row"
    Weight = "weight"
    Segment = "segment"
    SegmentName = "segment_name"
    Persona = "persona"
    Score = "score"
    Rank = "rank"
    Reason = "reason"

    # --- the event store (segrec.events): canonical event rows plus these ---
    Seq = "seq"
    EventId = "event_id"
    EventType = "event_type"
    ReceivedAt = "received_at"

    # --- customer features, RFM and segment profiles (segrec.features.customers / rfm / profiles) ---
    Frequency = "frequency"
    Recency = "recency_days"
    Tenure = "tenure_days"
    AvgBasket = "avg_basket"
    AbandonRate = "abandoned_cart_rate"
    AgeMissing = "age_missing"
    IncomeMissing = "income_missing"
    RScore = "r_score"
    FScore = "f_score"
    MScore = "m_score"
    RFMScore = "rfm_score"
    RFMGroup = "rfm_group"
    Action = "action"
    Size = "size"
    Share = "share"
    Revenue = "revenue"
    RevenueShare = "revenue_share"
    TopCategories = "top_categories"
    # --- end of the segmentation block ---

    Canonical = (
        User, Item, ItemName, Category, Price, Date, Quantity, Spending, Clicks, TimeSpent,
        AbandonedCart, Engagement, Age, Gender, Location, Income, Order, Description,
    )
    Required = (User, Item, Date)
    Recommendations = (User, Rank, Item, ItemName, Score, Reason)
