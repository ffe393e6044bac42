"""Memory: peak RSS (and CUDA peak memory where CUDA is used) of head-only against full
fine-tuning of all-MiniLM-L6-v2 on the demo data, through `finetune train`.

    .venv/bin/python bench/memory.py [--quick] [--device cpu|cuda] [--threads N]

Variants, each in a fresh subprocess so the peak is its own: head only with and without the
feature cache, head + pooler (the demo's plan) with the cache, and full fine-tuning (nothing
frozen). Also shown: the process's RSS before the run (libraries imported), so the run's own
share is visible. Full fine-tuning adds gradients and AdamW state for every weight (3x the
weights' size) and the activations kept for the backward pass; head-only keeps neither.
Writes bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import sys

import baselines
import common

VARIANTS = {
    "head only, cache": {"freeze": "backbone", "feature_cache": True},
    "head only, no cache": {"freeze": "backbone", "feature_cache": False},
    "head + pooler, cache": {"freeze": "demo", "feature_cache": True},
    "full fine-tune": {"freeze": "none", "feature_cache": False, "lr": 5e-5},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 train rows")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (all variants)")
    args = parser.parse_args()
    common.setup_env(args.threads)
    scratch = common.scratch_dir("memory-")
    base = baselines.spec_of(
        model=common.minilm_path(),
        data=str(common.DEMO_CSV),
        max_length=64,
        epochs=1,
        max_train_samples=64 if args.quick else None,
        device=args.device,
        threads=args.threads,
        out=str(scratch),
    )
    rows, raw = [], {}
    for name, variant in VARIANTS.items():
        r = common.run_child(__file__, "project", {**base, **variant})
        raw[name] = r
        rows.append(
            {
                "variant": name,
                "trainable_params": r["trainable_params"],
                "rss_before_mb": r["rss_before_mb"],
                "peak_rss_mb": r["peak_rss_mb"],
                "run_rss_mb": r["peak_rss_mb"] - r["rss_before_mb"],
                "cuda_peak_mb": r.get("cuda_peak_mb"),
                "train_s": r["train_s"],
            }
        )
        print(f"  {name:22} peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    full = rows[-1]
    for row in rows:
        row["peak_vs_full"] = common.ratio(row["peak_rss_mb"], full["peak_rss_mb"])
        row["run_vs_full"] = common.ratio(row["run_rss_mb"], full["run_rss_mb"])
        if row["cuda_peak_mb"] is not None:
            row["cuda_vs_full"] = common.ratio(row["cuda_peak_mb"], full["cuda_peak_mb"])
    columns = ["variant", "trainable_params", "rss_before_mb", "peak_rss_mb", "run_rss_mb"]
    columns += ["peak_vs_full", "run_vs_full", "train_s"]
    if args.device == "cuda":
        columns += ["cuda_peak_mb", "cuda_vs_full"]
    print(f"\nmemory ({args.device}, {base['max_train_samples'] or 'all'} train rows, 1 epoch)\n")
    print(common.table(rows, columns))
    common.save("memory", {"args": vars(args), "rows": rows, "runs": raw})


if __name__ == "__main__":
    if not common.child_main(baselines.VARIANTS):
        main()
    sys.exit(0)
