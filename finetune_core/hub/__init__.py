"""The Hugging Face Hub as the dashboard and the CLI see it: search, model and dataset cards.

Modules: search.py (search with offline fallback), listing.py (paged Hub listings),
model_cards.py and dataset_cards.py (info cards, compatibility), offline.py (local
sources), net.py (deadlines, caches, tokens, error translation). Callers import from here.
"""

from finetune_core.hub.dataset_cards import (
    DatasetCard,
    compatibility,
    dataset_card,
)
from finetune_core.hub.model_cards import MemoryEstimate, ModelCard, model_card
from finetune_core.hub.net import offline_reason
from finetune_core.hub.search import (
    DatasetHit,
    ModelHit,
    SearchResult,
    clear_cache,
    search_datasets,
    search_models,
)

__all__ = [
    "DatasetCard",
    "DatasetHit",
    "MemoryEstimate",
    "ModelCard",
    "ModelHit",
    "SearchResult",
    "clear_cache",
    "compatibility",
    "dataset_card",
    "model_card",
    "offline_reason",
    "search_datasets",
    "search_models",
]
