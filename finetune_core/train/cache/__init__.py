"""The frozen-feature cache.

features.py is the entry point; store.py keeps features in memory or on disk;
padded_rows.py serves pre-padded text rows.
"""
