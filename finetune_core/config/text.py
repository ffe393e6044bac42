"""Config text as it arrives (a file, the script API, an upload, a README's front matter):
JSON or YAML, bounded in size, depth and list length, and without YAML anchors or aliases,
so a few hundred hostile bytes cannot take gigabytes or minutes to parse. Every parse of
text a person or a visitor wrote goes through `parse_text`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from finetune_core.errors import ConfigError

MAX_CONFIG_BYTES = 1_000_000  # a real config is a few hundred bytes
MAX_LIST_ITEMS = 100_000  # as many as num_labels allows (label_names)
MAX_DEPTH = 20  # a config is flat: a list of names at most


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases: a few hundred bytes of nested `&a`/`*a`
    expand to gigabytes (a "billion laughs"), so they are refused before anything expands."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ConfigError(
                f"{self._source} uses a YAML anchor or alias (& or *) at line "
                f"{event.start_mark.line + 1}; write the values out instead."
            )
        return super().compose_node(parent, index)


def parse_text(text: str, source: str = "config") -> Any:
    """Parse JSON or YAML text (YAML is a superset of JSON), bounded in size, depth and list
    length, without YAML anchors or aliases, so any answer comes back at once."""
    if len(text) > MAX_CONFIG_BYTES:
        raise _too_big(source, len(text))
    if not text.strip():
        return {}
    loader = _PlainLoader(text)
    loader._source = source
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source} is not valid YAML or JSON{where}; fix its syntax.") from None
    except RecursionError:
        data = _TOO_DEEP
    finally:
        loader.dispose()
    _check_shape(data, source)
    return data


_TOO_DEEP = object()


def _too_big(source: str, size: int) -> ConfigError:
    return ConfigError(
        f"{source} is {size:,} characters long, over the limit of {MAX_CONFIG_BYTES:,}; a "
        "config needs only its keys."
    )


def _check_shape(data: Any, source: str) -> None:
    """Refuse structures no config has: deep nesting, very long lists."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if value is _TOO_DEEP or depth > MAX_DEPTH:
            raise ConfigError(
                f"{source} is nested more than {MAX_DEPTH} levels deep; a config is a flat "
                "mapping of keys to values."
            )
        if isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
            raise ConfigError(
                f"{source} has a list of {len(value):,} items, over the limit of "
                f"{MAX_LIST_ITEMS:,}; shorten it."
            )
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            stack.extend((child, depth + 1) for child in children)


def read(path: Path) -> str:
    """A config file's text; one far over the limit is refused before it is read."""
    if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES * 4:  # utf-8: <= 4 B/char
        raise _too_big(str(path), path.stat().st_size)
    return path.read_text(encoding="utf-8")
