"""The model catalog (installed as ``edge.catalog``): TOML entries, profiles and model cards.

Read it through ``edge.models.Catalog.load()``.
"""
