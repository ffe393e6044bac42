"""Realistic lengths: text whose token counts follow a long tail (most short, a few at
max_length), as real messages do, and what length-aware batches and the feature cache save on
it. Everything is compared within this one invocation against a plain transformers.Trainer
script on the same data (see baselines.py), with accuracy beside the time.

    .venv/bin/python bench/longtail.py [--quick] [--rows 2000] [--threads N] [--repeats N]
    .venv/bin/python bench/longtail.py --make-data FILE [--rows N]   # just the CSV

Four comparisons (issue 15), all-MiniLM-L6-v2, max_length 128, batch 32:
1. cache pass: the feature cache's one pass over train + eval, longest first vs the data's
   own (random) order: seconds and padded tokens, same process, alternated;
2. head-only, 3 epochs: `finetune train` (cache, sorted passes) vs the plain script, whole
   process (imports, data, model, training, evaluation, save);
3. full fine-tune, 1 epoch: the project with and without group_by_length vs the plain script;
4. last two blocks trainable, 3 epochs: the project cached (block 4's output replayed) vs
   uncached; epochs after the first are what the cache speeds up.
Each variant runs in its own process (common.run_child), variants alternate (A B, B A, ...).
Writes bench/results/longtail.json.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import random
import sys
import time
from pathlib import Path

import baselines
import common

FILLER = (
    "i you we it the a to and of in is was for on that this with my your have be are not at "
    "so but just get got can will do me if now all out up about what when there one time "
    "know think good like back see well need want going day new still ok yes no here from "
    "any more some been would could should please thanks hi hello then after before really"
).split()
TOPICS = {
    "billing": "invoice refund charge payment card price paid bill receipt subscription".split(),
    "delivery": "package parcel courier tracking shipped arrive address delayed box driver".split(),
    "account": "password login email username locked reset profile verify signin settings".split(),
}


def make_rows(n: int, seed: int = 0) -> list[dict]:
    """Labelled messages: a lognormal body of words (median about 12) and one in twenty a
    long one (100-200 words, past 128 tokens); the topic shows in a few keywords, and one
    message in ten carries a keyword of another topic, so accuracy is not trivially 1."""
    rng = random.Random(seed)
    names = sorted(TOPICS)
    rows = []
    for i in range(n):
        label = names[i % len(names)]
        words = (
            rng.randint(100, 200) if rng.random() < 0.05 else 3 + int(rng.lognormvariate(2.3, 0.7))
        )
        text = [rng.choice(FILLER) for _ in range(words)]
        for _ in range(1 + words // 20):
            text[rng.randrange(words)] = rng.choice(TOPICS[label])
        if rng.random() < 0.1:
            other = rng.choice([t for t in names if t != label])
            text[rng.randrange(words)] = rng.choice(TOPICS[other])
        rows.append({"text": " ".join(text), "label": label})
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


# ---- 1. the cache pass, sorted vs random order (one child process) --------------------------
def cache_pass(repeats: int, **spec) -> dict:
    """The feature cache's build over train + eval, head-only cut, both orders alternated."""
    torch = baselines._start(spec)
    from transformers import DataCollatorWithPadding

    from finetune_core.train.cache.cut import Cut
    from finetune_core.train.cache.features import FeatureCache
    from finetune_core.train.cache.padded_rows import PaddedRows

    train, evals, tokenizer, names = baselines.prepare_data(spec)
    model = baselines.load_model({**spec, "freeze": "backbone"}, names).eval()
    rows = PaddedRows([train, evals], DataCollatorWithPadding(tokenizer), None)
    n, batch = len(rows.lengths), spec["batch_size"]
    out: dict[str, list] = {"sorted_s": [], "random_s": []}
    for _, order in zip(range(2 * repeats), itertools.cycle(["sorted", "random"]), strict=False):
        cache = FeatureCache(model, Cut(("bert",), "head only"))
        lengths = rows.lengths if order == "sorted" else None
        started = time.perf_counter()
        cache.build(rows.collate, n, lengths, batch // 2, torch.device(spec["device"]), Path("."))
        out[f"{order}_s"].append(time.perf_counter() - started)
        cache.close()
    for order in ("sorted", "random"):
        seq = sorted(range(n), key=lambda i: -rows.lengths[i]) if order == "sorted" else range(n)
        seq = list(seq)
        out[f"{order}_tokens"] = sum(
            max(rows.lengths[i] for i in seq[k : k + batch]) * len(seq[k : k + batch])
            for k in range(0, n, batch)
        )
    out["real_tokens"] = sum(rows.lengths)
    out["rows"] = n
    return out


def run_variants(variants: dict[str, dict], repeats: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {name: [] for name in variants}
    for name in common.rotations(list(variants), repeats):
        kind, spec = variants[name]
        print(f"  {name} ...", file=sys.stderr, flush=True)
        results[name].append(common.run_child(__file__, kind, spec))
    return results


def summary(name: str, runs: list[dict], base: list[dict] | None) -> dict:
    med = {k: common.median([r.get(k) for r in runs]) for k in ("process_s", "wall_s", "accuracy")}
    later = [b - a for r in runs for a, b in itertools.pairwise(r.get("epoch_end_s") or [])]
    row = {"variant": name, "n": len(runs), **med, "later_epoch_s": common.median(later)}
    if base is not None:
        row["process_x"] = common.ratio(
            med["process_s"], common.median([r["process_s"] for r in base])
        )
        row["wall_x"] = common.ratio(med["wall_s"], common.median([r["wall_s"] for r in base]))
    row["cache"] = (runs[0].get("cache") or "")[:60]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 rows, 1 repeat")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", default="1234", help="which comparisons, e.g. 14")
    parser.add_argument("--make-data", metavar="FILE")
    args = parser.parse_args()
    rows = 400 if args.quick else args.rows
    if args.make_data:
        write_csv(Path(args.make_data), make_rows(math.ceil(rows / 0.9), seed=0))
        return
    common.setup_env(args.threads)
    out = common.scratch_dir("longtail-")
    data = write_csv(out / "longtail.csv", make_rows(math.ceil(rows / 0.9), seed=0))  # 10% eval
    base = baselines.spec_of(
        model=common.minilm_path(),
        data=str(data),
        max_length=128,
        batch_size=32,
        threads=args.threads,
        device=args.device,
        out=str(out),
    )
    result: dict = {"rows": rows, "threads": args.threads, "tables": {}}
    if "1" in args.only:
        r = common.run_child(__file__, "cache_pass", {**base, "repeats": max(2, args.repeats)})
        row = {
            "rows": r["rows"],
            "sorted_s": common.median(r["sorted_s"]),
            "random_s": common.median(r["random_s"]),
            "sorted_tokens": r["sorted_tokens"],
            "random_tokens": r["random_tokens"],
            "real_tokens": r["real_tokens"],
        }
        row["speedup"] = common.ratio(row["random_s"], row["sorted_s"])
        result["tables"]["cache_pass"] = [row]
        print("\n## cache pass: longest first vs random order\n")
        print(common.table([row], list(row)))
    plans = {
        "2": ("head_only", 3, "backbone", 1e-3, {"project": {"feature_cache": True}}),
        "3": (
            "full",
            1,
            "none",
            5e-5,
            {"project": {}, "project_nogroup": {"group_by_length": False}},
        ),
        "4": (
            "last2",
            3,
            "last2",
            1e-4,
            {"project": {"feature_cache": True}, "project_uncached": {}},
        ),
    }
    for key, (name, epochs, freeze, lr, projects) in plans.items():
        if key not in args.only:
            continue
        spec = {**base, "epochs": epochs, "freeze": freeze, "lr": lr}
        variants = {v: ("project", {**spec, **extra}) for v, extra in projects.items()}
        variants["plain"] = ("plain", spec)
        print(f"\n## {name}: {epochs} epoch(s), freeze {freeze}\n", file=sys.stderr)
        runs = run_variants(variants, args.repeats)
        table = [summary(v, runs[v], runs["plain"]) for v in variants]
        result["tables"][name] = table
        print(f"\n## {name}: {epochs} epoch(s), freeze {freeze}, {rows} rows\n")
        print(common.table(table, list(table[0])))
    common.save("longtail", result)


if __name__ == "__main__":
    functions = {**baselines.VARIANTS, "cache_pass": cache_pass}
    if not common.child_main(functions):
        main()
