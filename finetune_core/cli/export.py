"""`finetune export RUN_DIR --format onnx [--quantize int8] [--max-examples N] [--json]`.

Writes RUN_DIR/onnx/ (see finetune_core/export/onnx.py) and prints the parity figures: the
float32 ONNX model against PyTorch on the evaluation set, and the int8 one beside it.
Exit 0 when exported, 1 with one line when it cannot be (no model yet, the export extra
missing, outputs outside the tolerance), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

FORMATS = ("onnx",)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `export` on the `finetune` sub-command parser."""
    parser = subparsers.add_parser(
        "export",
        help="export a run's model to ONNX, checked against PyTorch",
        description="Export RUN_DIR/model to RUN_DIR/onnx and check its outputs against "
        "PyTorch on the run's evaluation set.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder with a saved model")
    parser.add_argument("--format", choices=FORMATS, default="onnx")
    parser.add_argument("--quantize", choices=("int8",), default=None, help="also write int8")
    parser.add_argument(
        "--max-examples",
        type=int,
        default=None,
        metavar="N",
        help="evaluation examples to check (default 1000; 0 = all)",
    )
    parser.add_argument("--json", action="store_true", help="print export.json")
    return parser


def run(args: argparse.Namespace) -> int:
    from finetune_core.cli.commands import quiet_libraries
    from finetune_core.export.onnx import MAX_EXAMPLES, export_onnx
    from finetune_core.train import device

    device.configure_threads()
    quiet_libraries()  # no library bars or info logs between the figures
    limit = MAX_EXAMPLES if args.max_examples is None else (args.max_examples or None)
    result = export_onnx(
        args.run_dir,
        quantize=args.quantize,
        token=os.environ.get("HF_TOKEN") or None,  # headless: the user's own, for Hub data
        max_examples=limit,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    print(result.summary())
    print("\n".join(result.table()))
    print(f"use it: {result.folder / 'README.md'}")
    return 0
