"""The `finetune` command: ui | train | inspect | search | export | predict.

    finetune train --config run.yaml [--epochs 2 --learning-rate 1e-3 ...]
    finetune train --resume runs/20261126-101500-bert-base-uncased
    finetune inspect bert-base-uncased --num-labels 4 [--json]
    finetune inspect assets/demo/support_tickets.csv [--json]
    finetune search models bert --task text-classification
    finetune export runs/20261126-101500-bert-base-uncased --format onnx --quantize int8
    finetune predict runs/20261126-101500-bert-base-uncased --input new.csv --output out.jsonl

Exit codes: 0 success, 1 a failure explained in one line, 2 bad usage, 3 run stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
import time

from finetune_core.cli import search as search_cli
from finetune_core.config import RunConfig
from finetune_core.errors import FinetuneError, RepoNotFoundError, RunError
from finetune_core.runs import RunDir, on_main_process, phases

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finetune", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="fine-tune headless from a config file and/or flags")
    train.add_argument("--config", help="JSON or YAML config (see the README for the keys)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped/failed/killed run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    # the dashboard's multi-process jobs: start the run a job queued in RUN_DIR (not a resume)
    train.add_argument("--start", metavar="RUN_DIR", help=argparse.SUPPRESS)
    for f in dataclasses.fields(RunConfig):
        if f.name not in ("label_names", "freeze_plan"):  # filled in by the run
            train.add_argument(f"--{f.name.replace('_', '-')}", dest=f"set_{f.name}", metavar="V")

    inspect = sub.add_parser("inspect", help="layer groups of a model, or columns of a dataset")
    inspect.add_argument("target", help="Hub id, local model folder, data file or folder")
    inspect.add_argument("--num-labels", type=int, default=2)
    inspect.add_argument("--dataset", action="store_true", help="treat TARGET as a dataset")
    inspect.add_argument("--config-name", help="dataset config name")
    inspect.add_argument("--json", action="store_true")

    ui = sub.add_parser("ui", help="open the dashboard")
    ui.add_argument("--host", default=None)
    ui.add_argument("--port", type=int, default=None)
    ui.add_argument("--share", action="store_true")

    from finetune_core.cli import export as export_cli
    from finetune_core.cli import predict as predict_cli

    export_cli.add_parser(sub)
    search_cli.add_parser(sub)
    predict_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "inspect":
            return cmd_inspect(args)
        if args.command == "ui":
            from finetune_core.ui.app import launch

            launch(host=args.host, port=args.port, share=args.share)
            return EXIT_OK
        if args.command == "export":
            from finetune_core.cli import export as export_cli

            return export_cli.run(args)
        if args.command == "search":
            return search_cli.run(args)
        if args.command == "predict":
            from finetune_core.cli import predict as predict_cli

            return predict_cli.run(args)
    except FinetuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


# ---- train --------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    overrides = {k[4:]: v for k, v in vars(args).items() if k.startswith("set_") and v is not None}
    run_dir = None
    if args.resume:
        cfg = None
    elif args.start:
        run_dir = RunDir(args.start)
        saved = run_dir.read_request()
        if saved is None:
            raise RunError(f"{args.start} has no request.json; it is not a queued run.")
        cfg = RunConfig.from_dict(saved)
    elif args.config:
        cfg = RunConfig.load(args.config).with_overrides(overrides)
    else:
        cfg = RunConfig.from_dict(overrides)
    from finetune_core.train import device  # after the config check: a bad value fails fast
    from finetune_core.train import run as train

    device.configure_threads()
    quiet_libraries()
    stop = threading.Event()
    _stop_on_signals(stop)
    bar = None if args.quiet else ProgressBar()
    # headless, the environment's token is the user's own (a page job's child gets the
    # page user's token here, never the host's: see jobs/launcher.py)
    token = os.environ.get("HF_TOKEN") or None
    result = train.run(
        cfg,
        stop_event=stop,
        resume_dir=args.resume,
        on_progress=bar,
        on_phase=bar.phase if bar else None,
        release_memory=False,
        token=token,
        run_dir=run_dir,
    )
    if bar:
        bar.close()
    if not on_main_process():
        return EXIT_OK if result.state == "completed" else EXIT_STOPPED
    if result.state == "stopped":
        print(f"stopped; resume with: finetune train --resume {result.run_dir}", file=sys.stderr)
        return EXIT_STOPPED
    print(done_line(result.metrics or {}, result.run_dir))
    for sentence in getattr(result, "warnings", None) or []:  # training health (status.json)
        print(f"warning: {sentence}", file=sys.stderr)
    return EXIT_OK


def done_line(metrics: dict, run_dir) -> str:
    """The last line: the model's scores on the report split, and the quick baseline's."""
    nan = float("nan")
    micro = f", micro F1 {metrics['f1_micro']:.4f}" if "f1_micro" in metrics else ""
    line = (
        f"done: accuracy {metrics.get('accuracy', nan):.4f}, "
        f"macro F1 {metrics.get('f1_macro', nan):.4f}{micro}"
    )
    if metrics.get("report_split"):
        line += f" on {metrics['report_split']} ({metrics.get('num_examples', 0):,} rows)"
    base = metrics.get("baseline") or {}
    if "f1_macro" in base:
        base_micro = f", micro F1 {base['f1_micro']:.4f}" if "f1_micro" in base else ""
        line += f"; quick baseline ({base['name']}): macro F1 {base['f1_macro']:.4f}{base_micro}"
    return f"{line}; run folder {run_dir}"


def quiet_libraries() -> None:
    """No library progress bars or info logs: our bar (train) or the figures (export) instead."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()


def _stop_on_signals(stop: threading.Event) -> None:
    """First SIGINT/SIGTERM: stop after this step and save; a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        print("\nstopping after this step (again to abort)", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


class ProgressBar:
    """A terminal progress bar on stderr: a live line on a tty, a line per 10% elsewhere.
    Training steps by default; `unit="rows"` counts rows (`finetune predict`), no epoch."""

    def __init__(self, width: int = 30, unit: str = "it"):
        self.width = width
        self.unit = unit
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last_decile = -1
        self.first_step: int | None = None
        self.last_phase: str | None = None

    def phase(self, name: str, done: int | None, total: int | None) -> None:
        """A line per phase (loading, caching, evaluating), live counts on a terminal."""
        if name == phases.TRAINING:
            return
        if name not in phases.ALL:  # a sentence (RunWriter.say), not a phase
            print(
                ("\r" if self.tty else "") + name + ("\033[K" if self.tty else ""), file=sys.stderr
            )
            return
        count = f" {done}/{total} examples" if done is not None and total else ""
        if self.tty:
            print(f"\r{name}{count}\033[K", end="", file=sys.stderr, flush=True)
        elif name != self.last_phase:
            print(f"{name}...", file=sys.stderr, flush=True)
        self.last_phase = name

    def __call__(self, step: int, max_steps: int, epoch: float | None) -> None:
        if not on_main_process() or not max_steps:
            return
        steps = self.unit == "it"
        if self.first_step is None:  # rows: the first call (0 done) is the start
            self.first_step = step - 1 if steps else step
            self.start = time.monotonic()  # the rate counts training steps, not loading
        frac = min(1.0, step / max_steps)
        elapsed = time.monotonic() - self.start
        done = max(1, step - self.first_step) if steps else step - self.first_step
        filled = int(frac * self.width)
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {step}/{max_steps}"
        if steps:
            line += f" epoch {epoch or 0:.2f}"
        if done > 0:
            eta = elapsed / done * (max_steps - step)
            line += f"  {done / max(elapsed, 1e-9):.1f} {self.unit}/s  eta {eta:.0f}s"
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif int(frac * 10) > self.last_decile:
            self.last_decile = int(frac * 10)
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


# ---- inspect ------------------------------------------------------------------------
def cmd_inspect(args: argparse.Namespace) -> int:
    from finetune_core import model
    from finetune_core.data import load as data

    if args.dataset or _looks_like_data(args.target):
        return _print_dataset(data.summarize(args.target, args.config_name), args.json)
    try:
        summary = model.inspect_model(args.target, num_labels=args.num_labels)
    except RepoNotFoundError:  # no such model: perhaps a dataset of that name
        if data.is_local(args.target):
            raise
        return _print_dataset(data.summarize(args.target, args.config_name), args.json)
    if args.json:
        out = {"model": summary.model, "total_params": summary.total_params}
        out["groups"] = [
            {"name": g.name, "kind": g.kind, "params": g.params} for g in summary.groups
        ]
        print(json.dumps(out, indent=2))
        return EXIT_OK
    print(f"model {summary.model} ({summary.task}); {summary.total_params:,} parameters")
    width = max(len(g.name) for g in summary.groups)
    print(f"{'group':<{width}}  {'kind':<10}  {'params':>12}")
    for g in summary.groups:
        print(f"{g.name:<{width}}  {g.kind:<10}  {g.params:>12,}")
    return EXIT_OK


def _looks_like_data(target: str) -> bool:
    from pathlib import Path

    from finetune_core.data.load import DATA_SUFFIXES

    path = Path(target).expanduser()
    if path.is_file():
        return True
    return (path.is_dir() and not (path / "config.json").exists()) or (
        not path.exists() and path.suffix.lower() in DATA_SUFFIXES
    )


def _print_dataset(summary, as_json: bool) -> int:
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
        return EXIT_OK
    d = summary.to_dict()
    print(f"dataset {d['dataset']} ({d['task']})")
    print("splits: " + ", ".join(f"{k} ({v:,} rows)" for k, v in d["splits"].items()))
    print("columns: " + ", ".join(f"{k} [{v}]" for k, v in d["features"].items()))
    print(f"text: {d['text_column']}  image: {d['image_column']}  label: {d['label_column']}")
    counts = d["class_counts"]
    labels = [f"{n} ({counts[n]})" if n in counts else n for n in d["label_names"]]
    multi = ", multi-label" if d.get("problem_type") == "multi_label" else ""
    if d.get("label_delimiter"):
        multi += f", joined by '{d['label_delimiter']}'"
    print(f"labels ({d['num_labels']}{multi}): " + ", ".join(labels))
    if d.get("label_note"):
        print(f"note: {d['label_note']}")
    for warning in d.get("warnings") or []:
        print(f"warning: {warning}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
