"""The `finetune` command line: commands.py (ui, train, inspect, export), search.py."""

from finetune_core.cli.commands import main

__all__ = ["main"]
