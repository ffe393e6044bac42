"""Quality on imbalanced data: the old defaults against the new ones (freeze auto, keep_best,
the learning-rate search) and class weights, on generated support-ticket text with one rare
class, and on a multi-label set with one rare label; all-MiniLM-L6-v2, CPU or GPU.

    .venv/bin/python bench/quality.py [--quick] [--threads N] [--seeds N]

The data is generated here (seeded): each ticket mixes two words of its topic with one word
of another topic and neutral filler, so the classes overlap as real tickets do; "security" is
3% of the rows. Per variant: macro F1 and accuracy (medians over seeds), the majority
baseline's macro F1, the time of the whole run (cache pass included; on a shared machine the
wall time is noisy, so the process's CPU seconds are given too), how many health warnings it
gave, the learning rate used and the search's seconds. Writes
bench/results/quality.json.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import common

TOPICS = {
    "billing": "invoice charge payment bill receipt subscription price card".split(),
    "shipping": "delivery package courier parcel tracking shipment address arrived".split(),
    "account": "password login username email profile signin reset verification".split(),
    "product": "broken screen battery warranty defect cracked charger button".split(),
    "security": "fraud hacked phishing stolen breach suspicious scam unauthorized".split(),
}
SHARE = {"billing": 0.35, "shipping": 0.27, "account": 0.2, "product": 0.15, "security": 0.03}
FILLER = "please help my the with since yesterday again today urgent thanks order".split()

NONE = {"class_weight": "none"}
OLD = {"freeze": "backbone", "learning_rate": 1e-3, "keep_best": False, **NONE}  # before #14
VARIANTS = {
    "old defaults (backbone, lr 1e-3)": OLD,
    "freeze auto, lr 1e-3": {"learning_rate": 1e-3, **NONE},
    "auto + lr search + keep_best": NONE,
    "new defaults (+ class_weight balanced)": {},
}


def ticket(rng: random.Random, topics: list[str]) -> str:
    words = [w for t in topics for w in rng.sample(TOPICS[t], 2)]
    other = rng.choice([t for t in TOPICS if t not in topics])
    words += [rng.choice(TOPICS[other]), *rng.sample(FILLER, 4)]
    rng.shuffle(words)
    return " ".join(words)


def single_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    names, weights = list(SHARE), list(SHARE.values())
    return [
        {"text": ticket(rng, [label]), "label": label} for label in rng.choices(names, weights, k=n)
    ]


def multi_rows(n: int, seed: int) -> list[dict]:
    """One or two topics a ticket; "security" on 4% of them."""
    rng = random.Random(seed)
    common_topics = [t for t in TOPICS if t != "security"]
    rows = []
    for _ in range(n):
        topics = rng.sample(common_topics, rng.choice((1, 2)))
        if rng.random() < 0.04:
            topics = [*topics[:1], "security"]
        rows.append({"text": ticket(rng, sorted(topics)), "labels": sorted(topics)})
    return rows


def run_variant(model: str, data: Path, out: Path, seed: int, quick: bool, extra: dict) -> dict:
    from finetune_core.config import RunConfig
    from finetune_core.train import run as train

    cfg = RunConfig.from_dict(
        {
            "model": model,
            "dataset": str(data),
            "output_dir": str(out),
            "epochs": 2 if quick else 4,
            "batch_size": 16,
            "max_length": 32,
            "validation_fraction": 0.2,
            "seed": seed,
            "save_steps": 10**6,
            **extra,
        }
    )
    started = common.clock()
    result = train.run(cfg, release_memory=False)
    seconds, cpu_seconds = common.since(started)
    report = json.loads((out / "eval.json").read_text())
    status = json.loads((out / "status.json").read_text())
    return {
        "f1_macro": report["f1_macro"],
        "accuracy": report["accuracy"],
        "f1_micro": report.get("f1_micro"),
        "majority_f1_macro": report.get("majority_f1_macro"),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "warnings": len(result.warnings),
        "learning_rate": json.loads((out / "config.json").read_text())["learning_rate"],
        "search_s": (status.get("learning_rate_search") or {}).get("seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and epochs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=None)
    args = parser.parse_args()
    common.setup_env(args.threads)
    common.quiet_libraries()
    import sys

    sys.path.insert(0, str(common.ROOT / "tests"))
    from tiny import write_csv, write_jsonl

    from finetune_core.train import device

    device.configure_threads()
    model = common.minilm_path()
    scratch = common.scratch_dir("quality-")
    n = 800 if args.quick else 2000
    seeds = list(range(args.seeds or (1 if args.quick else 3)))
    rows_out = []
    sets = {
        "imbalanced (5 classes, 3% rare)": (single_rows, write_csv, "d.csv", VARIANTS),
        "multi-label (5 labels, 4% rare)": (
            multi_rows,
            write_jsonl,
            "d.jsonl",
            {k: v for k, v in VARIANTS.items() if k != "old defaults (backbone, lr 1e-3)"},
        ),
    }
    for set_name, (make, write, file, variants) in sets.items():
        for name, extra in variants.items():
            results = []
            for seed in seeds:
                data = write(scratch / f"{set_name[:5]}-{seed}" / file, make(n, seed))
                out = scratch / f"{set_name[:5]}-{seed}-{len(rows_out)}"
                results.append(run_variant(model, data, out, seed, args.quick, extra))
            row = {"data": set_name, "variant": name, "seeds": len(results)}
            for key in results[0]:
                values = [r[key] for r in results if r[key] is not None]
                row[key] = common.median(values) if values else None
            rows_out.append(row)
            print(row, flush=True)
    columns = ["data", "variant", "f1_macro", "accuracy", "f1_micro", "majority_f1_macro"]
    columns += ["seconds", "cpu_seconds"]
    columns += ["warnings", "learning_rate", "search_s"]
    print(common.table(rows_out, columns))
    common.save("quality", {"rows": rows_out, "args": vars(args)})


if __name__ == "__main__":
    main()
