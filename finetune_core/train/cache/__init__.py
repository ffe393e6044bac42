"""The frozen-feature cache.

attach.py is the one entry point (attach a cache to a Trainer, self-checked); cut.py finds
where to cut the model; features.py builds and replays the outputs; store.py keeps them in
memory or on disk; padded_rows.py numbers and collates the rows of a cached run.
"""
