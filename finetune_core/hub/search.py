"""Hub search for models and datasets, with offline sources, for the dashboard and the CLI.

The UI only displays what these functions return: typed hits in a SearchResult that says
whether it came from the Hub or from offline sources, and why. Guarantees:
- never hangs: each search has its own deadline (FINETUNE_HUB_TIMEOUT, default 4 s; the
  `timeout` argument overrides it), after which it answers from offline sources;
- HF_HUB_OFFLINE=1, a refused connection, a time-out or a 5xx answer give an offline
  answer with a plain reason; after such a failure the Hub is not asked again for
  FINETUNE_HUB_RETRY_AFTER seconds (default 15) so a typing user is not made to wait;
- the same query within FINETUNE_HUB_CACHE_TTL seconds (default 60) is answered from
  memory, including its further pages; repo info is cached per revision (model_cards.py);
- the token (argument or HF_TOKEN) is sent to the Hub only, never put in a result.

Paging follows the Hub's cursor links. The "backbone" task asks the Hub once per pipeline
tag it covers and merges the sorted streams, so page N is the same whichever way it is
reached (listing.py). `offline_reason()` tells the UI, without a request, whether the
Hub is known to be unusable. Info cards live in model_cards.py (models) and dataset_cards.py
(datasets, compatibility check), offline sources in offline.py; the package re-exports them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from finetune_core.errors import ConfigError, HubError
from finetune_core.hub.dataset_cards import (
    clear_dataset_cards,
)
from finetune_core.hub.listing import Listing
from finetune_core.hub.model_cards import (
    clear_card_cache,
)
from finetune_core.hub.net import (
    TTLCache,
    clear_down,
    endpoint,
    hub_timeout,
    mark_down,
    offline_reason,
    resolve_token,
    run_with_deadline,
    token_key,
    translate,
    unreachable_reason,
)
from finetune_core.hub.offline import local_datasets, local_models, matches

BACKBONE_TAGS = (
    "fill-mask",
    "feature-extraction",
    "image-feature-extraction",
    "image-classification",
    "text-classification",
)
MODEL_TASKS = {
    "text-classification": ("text-classification",),
    "image-classification": ("image-classification",),
    "backbone": BACKBONE_TAGS,
}
DATASET_TASKS = ("text-classification", "image-classification")
SORTS = {
    "downloads": "downloads",
    "likes": "likes",
    "trending": "trendingScore",
    "updated": "lastModified",
}
MAX_LIMIT = 100
MODEL_EXPAND = [
    "downloads",
    "likes",
    "pipeline_tag",
    "lastModified",
    "gated",
    "library_name",
    "safetensors",
    "trendingScore",
]
DATASET_EXPAND = ["downloads", "likes", "tags", "gated", "lastModified", "trendingScore"]


@dataclass
class ModelHit:
    """One model in a result list; downloads/likes are None for offline sources."""

    id: str
    task: str | None
    downloads: int | None
    likes: int | None
    last_modified: str | None
    gated: bool
    library: str | None
    params: int | None
    source: str = "hub"  # hub | cache | local | bundled
    path: str | None = None  # local folder for offline sources

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DatasetHit:
    """One dataset in a result list; `task` is its classification task category if any."""

    id: str
    downloads: int | None
    likes: int | None
    tags: list[str]
    gated: bool
    size_category: str | None
    task_categories: list[str] = field(default_factory=list)
    last_modified: str | None = None
    source: str = "hub"
    path: str | None = None

    @property
    def task(self) -> str | None:
        for wanted in DATASET_TASKS:
            if wanted in self.task_categories:
                return wanted
        return self.task_categories[0] if self.task_categories else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            **{k: v for k, v in asdict(self).items() if k != "id"},
        }


@dataclass
class SearchResult:
    """A page of hits; `offline` answers come from local sources, `reason` says why."""

    kind: str  # models | datasets
    query: str
    results: list[Any]
    offline: bool
    reason: str | None
    page: int = 0
    next_page: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `finetune search --json` contract."""
        return {
            "kind": self.kind,
            "query": self.query,
            "offline": self.offline,
            "reason": self.reason,
            "page": self.page,
            "next_page": self.next_page,
            "results": [hit.to_dict() for hit in self.results],
        }


# ---- public API ---------------------------------------------------------------------
def search_kind(
    kind: str,
    query: str = "",
    *,
    task: str | None = None,
    sort: str = "downloads",
    limit: int = 20,
    page: int = 0,
    token: str | None = None,
    timeout: float | None = None,
) -> SearchResult:
    """Models or datasets (`kind`) matching `query`, a page of `limit` hits sorted by `sort`;
    from local sources, with the reason, when the Hub cannot answer."""
    _validate(kind, task, sort, limit, page)
    return _search(kind, query, task, sort, limit, page, token, timeout)


def search_models(query: str = "", **options: Any) -> SearchResult:
    """Transformers models matching `query` (options as `search_kind`); task is
    text-classification, image-classification or backbone (anything a classifier head can
    go on)."""
    return search_kind("models", query, **options)


def search_datasets(query: str = "", **options: Any) -> SearchResult:
    """Datasets matching `query` (options as `search_kind`); task filters on the Hub's
    task_categories."""
    return search_kind("datasets", query, **options)


def clear_cache() -> None:
    """Forget cached searches, repo info and the memory of a recent Hub failure."""
    _LISTINGS.clear()
    clear_down()
    clear_card_cache()
    clear_dataset_cards()


def _validate(kind: str, task: str | None, sort: str, limit: int, page: int) -> None:
    tasks = MODEL_TASKS if kind == "models" else DATASET_TASKS
    if task is not None and task not in tasks:
        raise ConfigError(f"Unknown {kind[:-1]} task '{task}'; use one of {', '.join(tasks)}.")
    if sort not in SORTS:
        raise ConfigError(f"Unknown sort '{sort}'; use one of {', '.join(SORTS)}.")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {limit!r}.")
    if not isinstance(page, int) or page < 0:
        raise ConfigError(f"page must be 0 or more, not {page!r}.")


# ---- the Hub side ---------------------------------------------------------------------
_LISTINGS = TTLCache()


def _search(kind, query, task, sort, limit, page, token, timeout) -> SearchResult:
    query = (query or "").strip()
    reason = offline_reason()
    if reason is None:
        token = resolve_token(token)
        wait = hub_timeout(timeout)
        key = (kind, query.lower(), task, sort, limit, token_key(token), endpoint())
        listing = _LISTINGS.get(key) or _LISTINGS.put(key, _listing(kind, query, task, sort, limit))
        try:
            if not listing.ready((page + 1) * limit):
                # the deadline decides (and names the wait); the requests' own timeout, a
                # second later, only keeps an abandoned call from holding its socket forever
                run_with_deadline(lambda: listing.fill((page + 1) * limit, token, wait + 1), wait)
            items, more = listing.page(page, limit)
        except Exception as exc:
            _LISTINGS.pop(key)
            reason = unreachable_reason(exc)
            if reason is None:
                raise _search_error(exc) from exc
            mark_down(reason)
        else:
            make = _model_hit if kind == "models" else _dataset_hit
            return SearchResult(
                kind, query, [make(i) for i in items], False, None, page, page + 1 if more else None
            )
    return _offline_search(kind, query, task, sort, limit, page, reason)


def _search_error(exc: Exception) -> Exception:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status == 401:
            return translate(exc) or exc  # the one "refused the token" sentence
        return HubError(f"The Hub refused the search (HTTP {status}); change the query.")
    return exc


def _listing(kind: str, query: str, task: str | None, sort: str, limit: int) -> Listing:
    """The Hub queries behind one search: transformers models, one query per pipeline tag."""
    base: dict[str, Any] = {"sort": SORTS[sort], "limit": limit}
    if query:
        base["search"] = query
    if kind == "models":
        base.update(filter=["transformers"], expand=MODEL_EXPAND)
        tags = MODEL_TASKS[task] if task else (None,)
        queries = [{**base, **({"pipeline_tag": t} if t else {})} for t in tags]
    else:
        base["expand"] = DATASET_EXPAND
        if task:
            base["filter"] = [f"task_categories:{task}"]
        queries = [base]
    return Listing(f"{endpoint()}/api/{kind}", queries, SORTS[sort])


def _model_hit(item: dict[str, Any]) -> ModelHit:
    return ModelHit(
        id=item["id"],
        task=item.get("pipeline_tag"),
        downloads=item.get("downloads"),
        likes=item.get("likes"),
        last_modified=_short_time(item.get("lastModified")),
        gated=bool(item.get("gated")),
        library=item.get("library_name"),
        params=(item.get("safetensors") or {}).get("total"),
    )


def _dataset_hit(item: dict[str, Any]) -> DatasetHit:
    tags = list(item.get("tags") or [])
    sizes = [t.split(":", 1)[1] for t in tags if t.startswith("size_categories:")]
    return DatasetHit(
        id=item["id"],
        downloads=item.get("downloads"),
        likes=item.get("likes"),
        tags=tags,
        gated=bool(item.get("gated")),
        size_category=sizes[0] if sizes else None,
        task_categories=[t.split(":", 1)[1] for t in tags if t.startswith("task_categories:")],
        last_modified=_short_time(item.get("lastModified")),
    )


def _short_time(value: str | None) -> str | None:
    """ISO 8601 UTC to the second ('2024-05-01T12:00:00Z'), the form offline hits use."""
    if not value:
        return None
    return value.split(".")[0].rstrip("Z") + "Z"


# ---- offline answers --------------------------------------------------------------------
def _offline_search(kind, query, task, sort, limit, page, reason) -> SearchResult:
    if kind == "models":
        wanted = MODEL_TASKS[task] if task else None
        entries = [
            e
            for e in local_models()
            if matches(e, query) and (wanted is None or e["task"] in wanted)
        ]
        hits: list[Any] = [ModelHit(**e) for e in entries]
    else:
        entries = [
            e
            for e in local_datasets()
            if matches(e, query)
            and (task is None or not e["task_categories"] or task in e["task_categories"])
        ]
        hits = [DatasetHit(**e) for e in entries]
    field_name = {
        "downloads": "downloads",
        "likes": "likes",
        "trending": "likes",
        "updated": "last_modified",
    }[sort]
    hits.sort(key=lambda h: h.id)
    hits.sort(
        key=lambda h: (getattr(h, field_name) is not None, getattr(h, field_name) or 0),
        reverse=True,
    )
    start = page * limit
    more = len(hits) > start + limit
    return SearchResult(
        kind, query, hits[start : start + limit], True, reason, page, page + 1 if more else None
    )
