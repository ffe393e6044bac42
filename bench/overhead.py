"""Overhead: the same fine-tune run by this project, a plain transformers.Trainer script and a
minimal raw PyTorch loop.

    .venv/bin/python bench/overhead.py [--quick] [--device cpu|cuda] [--threads N] [--repeats N]

Workloads: a tiny random BERT (hidden 32, 2 layers, as tests/tiny.py builds it) fully
fine-tuned, and all-MiniLM-L6-v2 on the demo data (max_length 64) with the demo's freeze plan
(head + pooler) and the feature cache OFF, so all three do the same arithmetic. Each run is a
fresh subprocess (peak RSS per variant); variants alternate (A B C, B C A, ...) and the table
shows medians. wall = data + model + training + final eval + save (imports excluded);
train = the training loop alone (Trainer.train or the raw loop). Ratios are against the plain
Trainer; the target is the project within 5% of it. Writes bench/results/overhead.json.
"""

from __future__ import annotations

import argparse
import sys

import baselines
import common

VARIANTS = ["project", "plain", "raw"]


def workloads(args, scratch) -> dict[str, dict]:
    tiny_model, tiny_data = common.tiny_bert(scratch, rows=400 if args.quick else 1200)
    base = {"device": args.device, "threads": args.threads, "out": str(scratch)}
    return {
        "tiny-bert": baselines.spec_of(
            **base,
            model=tiny_model,
            data=tiny_data,
            max_length=32,
            epochs=2,
            lr=5e-3,
            freeze="none",
        ),
        "all-MiniLM-L6-v2": baselines.spec_of(
            **base,
            model=common.minilm_path(),
            data=str(common.DEMO_CSV),
            max_length=64,
            epochs=1 if args.quick else 2,
            freeze="demo",
            max_train_samples=96 if args.quick else None,
        ),
    }


def summarize(name: str, results: dict[str, list[dict]], epochs: float) -> list[dict]:
    rows = []
    keys = ("wall_s", "cpu_s", "train_s", "train_cpu_s", "peak_rss_mb", "cuda_peak_mb")
    plain = {k: common.median([r.get(k) for r in results["plain"]]) for k in keys}
    for variant in VARIANTS:
        runs = results[variant]
        m = {k: common.median([r.get(k) for r in runs]) for k in keys}
        samples = runs[0]["train_rows"] * epochs
        rows.append(
            {
                "model": name,
                "variant": variant,
                "n": len(runs),
                **m,
                "samples_per_s": samples / m["train_s"] if m["train_s"] else None,
                "wall_x": common.ratio(m["wall_s"], plain["wall_s"]),
                "cpu_x": common.ratio(m["cpu_s"], plain["cpu_s"]),
                "train_x": common.ratio(m["train_s"], plain["train_s"]),
                "train_cpu_x": common.ratio(m["train_cpu_s"], plain["train_cpu_s"]),
                "rss_x": common.ratio(m["peak_rss_mb"], plain["peak_rss_mb"]),
                "accuracy": common.median([r["accuracy"] for r in runs]),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, fewer repeats")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (all variants)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--models", default="tiny-bert,all-MiniLM-L6-v2", help="comma-separated")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 3)
    common.setup_env(args.threads)
    scratch = common.scratch_dir("overhead-")
    rows, raw_results = [], {}
    for name, spec in workloads(args, scratch).items():
        if name not in args.models.split(","):
            continue
        reps = 1 if args.quick and name != "tiny-bert" and not args.repeats else repeats
        results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for variant in common.rotations(VARIANTS, reps):
            r = common.run_child(__file__, variant, spec)
            results[variant].append(r)
            print(
                f"  {name:18} {variant:8} wall {r['wall_s']:.2f}s (cpu {r['cpu_s']:.2f}s) "
                f"train {r['train_s']:.2f}s (cpu {r['train_cpu_s']:.2f}s)",
                flush=True,
            )
        rows += summarize(name, results, spec["epochs"])
        raw_results[name] = {"spec": spec, "runs": results}
    columns = ["model", "variant", "n", "wall_s", "cpu_s", "train_s", "train_cpu_s"]
    columns += ["samples_per_s", "peak_rss_mb"]
    if args.device == "cuda":
        columns.append("cuda_peak_mb")
    columns += ["wall_x", "cpu_x", "train_x", "train_cpu_x", "rss_x", "accuracy"]
    print(f"\noverhead ({args.device}, {args.threads} thread(s), medians)\n")
    print(common.table(rows, columns))
    common.save("overhead", {"args": vars(args), "rows": rows, "runs": raw_results})


if __name__ == "__main__":
    if not common.child_main(baselines.VARIANTS):
        main()
    sys.exit(0)
