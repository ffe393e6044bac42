"""Quality on real public data, as a new user gets it: only a model and a dataset given.

    .venv/bin/python bench/real.py [--quick] [--only trec|goemotions] [--threads 2]
                                   [--skip-full] [--repeats 1]

Data (bench/data/SOURCES.md): TREC question types (6 classes, 5,452 train, 500 test) and
GoEmotions (28 emotions, multi-label, comma-joined, 5,000 train, 5,427 test), each a folder
with train.csv and test.csv: the runs select on a carve-out of train and report on test.
Model: all-MiniLM-L6-v2 (the bundled copy).

Variants, each the whole `finetune train` process (imports, loading, training, evaluation,
saving) timed from outside:
- defaults: `{model, dataset}` and nothing else;
- head + pooler: the previous default plan (every block frozen), otherwise defaults;
- full fine-tune: `freeze: none` (learning rate 5e-5 by the rule), otherwise defaults;
and, from the defaults run's eval.json, the quick baseline it fitted (TF-IDF + logistic
regression) and its seconds. The unit of time is one length-sorted, no-grad forward pass of
the backbone over the train rows, timed in its own process (the work only, not the imports):
issue 19's target is defaults within 6x of it with macro F1 >= 0.90 on TREC, and macro F1
>= 0.22 / micro F1 >= 0.33 on GoEmotions. Writes bench/results/real.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import common

DATA = common.ROOT / "bench" / "data"
DATASETS = {"trec": "single-label, 6 classes", "goemotions": "multi-label, 28 labels"}


def forward_pass(data: str, threads: int, max_rows: int | None) -> dict:
    """Child: one no-grad forward pass of the backbone over the train rows, longest first."""
    common.setup_env(threads)
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(threads)
    path = common.minilm_path()
    with open(Path(data) / "train.csv", newline="", encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)][:max_rows]
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    started = time.perf_counter()
    encoded = tokenizer(texts, truncation=True, max_length=128)
    order = sorted(range(len(texts)), key=lambda i: -len(encoded["input_ids"][i]))
    with torch.inference_mode():
        for start in range(0, len(order), 32):
            rows = [{k: encoded[k][i] for k in encoded} for i in order[start : start + 32]]
            model(**tokenizer.pad(rows, return_tensors="pt"))
    return {"seconds": time.perf_counter() - started, "rows": len(texts)}


def variants(quick: bool, skip_full: bool) -> dict[str, dict]:
    blocks = ["bert.embeddings"] + [f"bert.encoder.layer.{i}" for i in range(6)]
    out = {"defaults": {}, "head + pooler (previous default)": {"freeze": blocks}}
    if not skip_full:
        out["full fine-tune"] = {"freeze": "none"}
    if quick:
        out = {k: {**v, "max_train_samples": 1000} for k, v in out.items()}
    return out


def train(name: str, data: Path, extra: dict, folder: Path, threads: int) -> dict:
    """One whole `finetune train` process; its wall time and what its run folder says."""
    out = folder / name.split(" ")[0].replace("+", "plus")
    config = {"model": common.MINILM, "dataset": str(data), "output_dir": str(out), **extra}
    path = folder / f"{out.name}.json"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    env = {**os.environ, "FINETUNE_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "finetune_core", "train", "--config", str(path), "--quiet"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=common.ROOT)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed: {proc.stderr.strip()[-800:]}")
    report = json.loads((out / "eval.json").read_text())
    status = json.loads((out / "status.json").read_text())
    plan = status.get("freeze_plan") or {}
    return {
        "variant": name,
        "wall_s": wall,
        "accuracy": report["accuracy"],
        "f1_macro": report["f1_macro"],
        "f1_micro": report.get("f1_micro"),
        "plan": plan.get("name") or ("custom" if extra.get("freeze") else "auto"),
        "plan_estimate_s": plan.get("estimate_s"),
        "plan_budget_s": plan.get("budget_s"),
        "learning_rate": json.loads((out / "config.json").read_text())["learning_rate"],
        "baseline": report.get("baseline"),
        "report_split": report.get("report_split"),
        "selection_split": report.get("selection_split"),
        "warnings": status.get("warnings") or [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 training rows")
    parser.add_argument("--only", choices=list(DATASETS))
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--skip-full", action="store_true", help="no full fine-tune (slow)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    common.setup_env(args.threads)
    folder = common.scratch_dir("real-")
    results = {}
    for dataset in [args.only] if args.only else list(DATASETS):
        data = DATA / dataset
        rows, forwards = [], []
        names = list(variants(args.quick, args.skip_full))
        ask = {"data": str(data), "threads": args.threads, "max_rows": 1000 if args.quick else None}
        for name in ["forward", *common.rotations(names, args.repeats), "forward"]:
            if name == "forward":  # before and after the runs: the machine's speed drifts
                forwards.append(common.run_child(__file__, "forward_pass", ask)["seconds"])
                continue
            extra = variants(args.quick, args.skip_full)[name]
            row = train(name, data, extra, folder / f"{dataset}-{len(rows)}", args.threads)
            rows.append(row)
            print(f"{dataset}: {name}: {row['wall_s']:.0f} s, macro F1 {row['f1_macro']:.3f}")
        unit = common.median(forwards)
        merged = []
        for name in names:
            mine = [r for r in rows if r["variant"] == name]
            best = dict(mine[0])
            for key in ("wall_s", "accuracy", "f1_macro"):
                best[key] = common.median([r[key] for r in mine])
            best["x_forward"] = common.ratio(best["wall_s"], unit)
            merged.append(best)
        base = merged[0]["baseline"] or {}
        merged.append(
            {
                "variant": f"quick baseline ({base.get('name')})",
                "wall_s": base.get("seconds"),
                "x_forward": common.ratio(base.get("seconds"), unit),
                "accuracy": base.get("accuracy"),
                "f1_macro": base.get("f1_macro"),
                "f1_micro": base.get("f1_micro"),
            }
        )
        results[dataset] = {"forward_pass_s": unit, "forward_passes": forwards, "rows": merged}
        print(f"\n{dataset} ({DATASETS[dataset]}); one forward pass over train: {unit:.1f} s")
        columns = ["variant", "wall_s", "x_forward", "f1_macro", "f1_micro", "accuracy", "plan"]
        print(common.table(merged, columns))
    common.save("real", {"args": vars(args), "results": results})


if __name__ == "__main__":
    if not common.child_main({"forward_pass": forward_pass}):
        main()
