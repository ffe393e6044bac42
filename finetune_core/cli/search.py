"""`finetune search models|datasets [QUERY] [--task T] [--sort S] [--limit N] [--page P] [--json]`.

Prints an aligned table (with an "offline: reason" line when the answer came from local
sources) or, with --json, the contract `{"offline", "reason", "results": [...], ...}`.
Exit 0 whenever it answered, also from offline sources; 2 with one line for bad input;
1 with one line when the Hub refused (for example a bad token).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from finetune_core.errors import ConfigError, FinetuneError

SORTS = ("downloads", "likes", "trending", "updated")
TASKS = ("text-classification", "image-classification", "backbone")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `search` on the `finetune` sub-command parser."""
    parser = subparsers.add_parser(
        "search",
        help="search the Hub (or offline sources) for models or datasets",
        description="Search the Hugging Face Hub for models or datasets; without the Hub, "
        "search the local cache, local folders and the bundled model and demo data.",
    )
    parser.add_argument("kind", choices=("models", "datasets"))
    parser.add_argument("query", nargs="?", default="", help="words in the repo id")
    parser.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="backbone (models only): any model a classifier head can go on",
    )
    parser.add_argument("--sort", choices=SORTS, default="downloads")
    parser.add_argument("--limit", type=int, default=20, help="results per page (1-100)")
    parser.add_argument("--page", type=int, default=0, help="page number, from 0")
    parser.add_argument("--json", action="store_true", help="print the JSON contract")
    return parser


def run(args: argparse.Namespace) -> int:
    from finetune_core import hub

    search = hub.search_models if args.kind == "models" else hub.search_datasets
    try:
        result = search(
            args.query or "",
            task=args.task,
            sort=args.sort,
            limit=args.limit,
            page=getattr(args, "page", 0) or 0,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FinetuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render(result))
    return 0


def render(result: Any) -> str:
    """The aligned, human-readable table of a SearchResult."""
    lines = []
    if result.offline:
        lines.append(f"offline: {result.reason} (showing local sources)")
    if not result.results:
        lines.append("no results")
        return "\n".join(lines)
    header, rows = _rows(result)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    numeric = {"DOWNLOADS", "LIKES", "PARAMS"}
    for row in [header, *rows]:
        cells = [
            str(c).rjust(w) if header[i] in numeric else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    if result.next_page is not None:
        lines.append(f"more results: add --page {result.next_page}")
    return "\n".join(lines)


def _rows(result: Any) -> tuple[list[str], list[list[str]]]:
    models = result.kind == "models"
    size = "PARAMS" if models else "SIZE"
    header = ["ID", "TASK", "DOWNLOADS", "LIKES", size, "UPDATED", "GATED"]
    rows = [
        [
            h.id,
            h.task or "-",
            _num(h.downloads),
            _num(h.likes),
            _num(h.params) if models else h.size_category or "-",
            _day(h.last_modified),
            "gated" if h.gated else "",
        ]
        for h in result.results
    ]
    if result.offline:
        header.append("SOURCE")
        for row, hit in zip(rows, result.results, strict=True):
            row.append(hit.source)
    return header, rows


def _num(value: int | None) -> str:
    if value is None:
        return "-"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= limit:
            return f"{value / limit:.1f}{suffix}"
    return str(value)


def _day(value: str | None) -> str:
    return value[:10] if value else "-"
