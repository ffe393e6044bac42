"""A Hub listing (/api/models, /api/datasets) read lazily page by page, as one sorted stream.

The Hub pages with a cursor in a `Link: <...>; rel="next"` header. A listing may merge
several queries sorted by the same key (the "backbone" task asks once per pipeline tag):
items are taken from whichever query has the largest next value, so page N is the same
however it is reached, and each query's next Hub page is fetched only when needed. Calls
carry no retry (huggingface_hub's backoff would sleep for seconds); hub.py adds the deadline.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class _Query:
    """One Hub listing followed through its cursor links."""

    def __init__(self, url: str, params: dict[str, Any]) -> None:
        self.url: str | None = url
        self.params: dict[str, Any] | None = params
        self.buffer: deque[dict[str, Any]] = deque()
        self.started = False

    @property
    def done(self) -> bool:
        return self.started and self.url is None

    def fetch(self, token: str | None, timeout: float) -> None:
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        headers = build_hf_headers(token=token, library_name="finetune-dashboard")
        response = get_session().get(self.url, params=self.params, headers=headers, timeout=timeout)
        hf_raise_for_status(response)
        self.started = True
        self.buffer.extend(response.json())
        self.url = response.links.get("next", {}).get("url")
        self.params = None  # the next link carries the whole query


class Listing:
    """The merged, sorted (descending by `key`), de-duplicated items of some Hub queries."""

    def __init__(self, url: str, queries: list[dict[str, Any]], key: str) -> None:
        self.key = key
        self.queries = [_Query(url, params) for params in queries]
        self.items: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def exhausted(self) -> bool:
        return all(q.done and not q.buffer for q in self.queries)

    def ready(self, count: int) -> bool:
        """True when the first `count` items (or all there are) are already here."""
        return len(self.items) >= count or self.exhausted()

    def fill(self, count: int, token: str | None, timeout: float) -> None:
        """Fetch pages until `count` items are here or every query is exhausted."""
        with self._lock:
            fresh = [q for q in self.queries if not q.started]
            if len(fresh) > 1:  # first pages in parallel: one round trip, not one per query
                _parallel([lambda q=q: q.fetch(token, timeout) for q in fresh])
            while len(self.items) < count:
                for query in self.queries:
                    if not query.buffer and not query.done:
                        query.fetch(token, timeout)
                live = [q for q in self.queries if q.buffer]
                if not live:
                    return
                item = max(live, key=lambda q: self._value(q.buffer[0])).buffer.popleft()
                if item["id"] not in self._seen:
                    self._seen.add(item["id"])
                    self.items.append(item)

    def page(self, page: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Items of page `page` (from 0) and whether more may follow."""
        end = (page + 1) * limit
        return self.items[page * limit : end], len(self.items) > end or not self.exhausted()

    def _value(self, item: dict[str, Any]) -> Any:
        value = item.get(self.key)
        return value if value is not None else ("" if self.key == "lastModified" else 0)


def _parallel(calls: list) -> None:
    errors: list[BaseException] = []

    def run(call) -> None:
        try:
            call()
        except BaseException as exc:  # re-raised in the caller's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
