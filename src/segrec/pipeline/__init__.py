"""The ``segrec run`` pipeline: validate -> segment -> evaluate -> train -> report, the same stages for every
engine."""
