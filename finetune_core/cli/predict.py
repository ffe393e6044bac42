"""`finetune predict RUN_DIR --input FILE [--output FILE] [--quiet] [--batch-size N]`.

Predicts every row of a CSV/TSV/JSON/JSONL/Parquet file (the run's text or image column) or
every image of a folder with the run's model (finetune_core/predict/file.py), one record per
row in input order: JSON Lines by default, CSV when the output name ends in .csv (.tsv: TSV).
Without --output the records go to standard output; the progress bar and the last line go
to standard error, so `finetune predict RUN --input x.csv > out.jsonl` keeps the data clean.
Exit 0 when every row is predicted, 1 with one line when the input or the run cannot be used
(nothing is written then), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `predict` on the `finetune` sub-command parser."""
    parser = subparsers.add_parser(
        "predict",
        help="predict a file (or an image folder) with a run's model",
        description="Predict every row of FILE with RUN_DIR's model: one JSON Lines record "
        '{"prediction", "scores"} per row, in order (CSV when --output ends in .csv); a '
        "multi-label run applies its stored thresholds.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder with a saved model")
    parser.add_argument(
        "--input",
        required=True,
        metavar="FILE",
        help=".csv, .tsv, .json, .jsonl or .parquet with the run's text (or image) column, "
        "or a folder of images",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        default=None,
        help="where the predictions go (.jsonl, or .csv/.tsv); default: standard output",
    )
    parser.add_argument("--batch-size", type=int, default=32, metavar="N")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or last line")
    return parser


def run(args: argparse.Namespace) -> int:
    from finetune_core.cli.commands import EXIT_OK, EXIT_USAGE, ProgressBar, quiet_libraries
    from finetune_core.predict.file import predict_file
    from finetune_core.train import device

    if args.batch_size < 1:
        print(f"error: --batch-size must be at least 1, not {args.batch_size}.", file=sys.stderr)
        return EXIT_USAGE
    device.configure_threads()
    quiet_libraries()  # no library bars between our bar and the records
    bar = None if args.quiet else ProgressBar(unit="rows")
    result = predict_file(
        args.run_dir,
        args.input,
        args.output if args.output else sys.stdout,
        (lambda done, total: bar(done, total, None)) if bar else None,
        batch_size=args.batch_size,
    )
    if bar:
        bar.close()
        print(result.summary(), file=sys.stderr)
    return EXIT_OK
