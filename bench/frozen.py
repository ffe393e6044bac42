"""Frozen backbone: head-only (and head + pooler, the demo's plan) fine-tuning of
all-MiniLM-L6-v2 on the demo data for several epochs, plain transformers.Trainer (the frozen
backbone recomputed every epoch) against this project with its frozen-feature cache.

    .venv/bin/python bench/frozen.py [--quick] [--device cpu|cuda] [--threads N] [--repeats N]

Per-epoch times come from the same clock in both: seconds since the Trainer was set up, read
at each end-of-epoch evaluation (the project's metrics.jsonl "time" of its eval lines; a
callback in the plain script), so epoch 1 of the project includes building the cache. Also
measured, in its own subprocess: one inference pass of the model over train + eval, the
floor for any K-epoch run that needs the backbone's outputs once. Targets: later epochs at
least 50x faster than uncached; the K-epoch total a little more than one forward pass; the same
final accuracy. Checkpoints are saved every 50 steps in both, as the project does by default
(--save-steps N changes both; 87 MB a save, so they show in a cached epoch's time). Writes
bench/results/frozen.json (frozen-saveN.json with another --save-steps).
"""

from __future__ import annotations

import argparse
import itertools
import sys

import baselines
import common

PLANS = {"head": "backbone", "head+pooler": "demo"}


def epoch_times(ends: list[float]) -> tuple[float, list[float]]:
    """(first epoch, later epochs) from cumulative end-of-epoch times."""
    return ends[0], [b - a for a, b in itertools.pairwise(ends)]


def row(plan: str, variant: str, runs: list[dict], forward_s: float | None) -> dict:
    firsts, laters, totals = [], [], []
    for r in runs:
        first, later = epoch_times(r["epoch_end_s"])
        firsts.append(first)
        laters += later
        totals.append(r["epoch_end_s"][-1])
    total = common.median(totals)
    return {
        "plan": plan,
        "variant": variant,
        "n": len(runs),
        "epoch1_s": common.median(firsts),
        "later_epoch_s": common.median(laters),
        "later_min_s": min(laters) if laters else None,
        "later_max_s": max(laters) if laters else None,
        "total_s": total,
        "total_vs_forward": common.ratio(total, forward_s),
        "cache_build_s": common.median([r.get("cache_build_s") for r in runs]),
        "accuracy": common.median([r["accuracy"] for r in runs]),
        "peak_rss_mb": common.median([r["peak_rss_mb"] for r in runs]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 train rows, 3 epochs")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (all variants)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument(
        "--save-steps", type=int, default=50, help="checkpoint every N steps (the default 50)"
    )
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 2)
    common.setup_env(args.threads)
    scratch = common.scratch_dir("frozen-")
    base = baselines.spec_of(
        model=common.minilm_path(),
        data=str(common.DEMO_CSV),
        max_length=64,
        epochs=args.epochs or (3 if args.quick else 5),
        max_train_samples=128 if args.quick else None,
        device=args.device,
        threads=args.threads,
        save_steps=args.save_steps,
        out=str(scratch),
    )
    forward = common.run_child(__file__, "forward", base)
    print(f"  one forward pass over {forward['rows']} rows: {forward['forward_s']:.2f}s")
    rows, raw = [], {"forward": forward}
    for plan, freeze in PLANS.items():
        spec = {**base, "freeze": freeze}
        results: dict[str, list[dict]] = {"plain": [], "project": []}
        for variant in common.rotations(list(results), repeats):
            child_spec = {**spec, "feature_cache": variant == "project"}
            r = common.run_child(__file__, variant, child_spec)
            results[variant].append(r)
            ends = ", ".join(f"{t:.2f}" for t in r["epoch_end_s"])
            print(f"  {plan:12} {variant:8} epoch ends [{ends}] s, accuracy {r['accuracy']:.3f}")
        plain = row(plan, "plain Trainer", results["plain"], forward["forward_s"])
        cached = row(plan, "project (cache)", results["project"], forward["forward_s"])
        cached["later_speedup"] = common.ratio(plain["later_epoch_s"], cached["later_epoch_s"])
        cached["total_speedup"] = common.ratio(plain["total_s"], cached["total_s"])
        rows += [plain, cached]
        raw[plan] = {"spec": spec, "runs": results}
    columns = [
        "plan",
        "variant",
        "n",
        "epoch1_s",
        "later_epoch_s",
        "later_max_s",
        "later_speedup",
        "total_s",
        "total_speedup",
        "total_vs_forward",
        "accuracy",
    ]
    print(
        f"\nfrozen backbone ({args.device}, {args.threads} thread(s), {base['epochs']} epochs, "
        f"one forward pass = {forward['forward_s']:.2f}s, medians)\n"
    )
    print(common.table(rows, columns))
    name = "frozen" if args.save_steps == 50 else f"frozen-save{args.save_steps}"
    common.save(name, {"args": vars(args), "rows": rows, "runs": raw})


if __name__ == "__main__":
    if not common.child_main(baselines.VARIANTS):
        main()
    sys.exit(0)
