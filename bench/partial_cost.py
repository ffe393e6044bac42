"""Where a cached last-2-blocks epoch spends its time, and the most the cache can save.

all-MiniLM-L6-v2 with embeddings and blocks 0-3 frozen (the last2 plan of longtail.py), the
same long-tailed batches (32 rows, grouped by length, max_length 128), one process, variants
alternated per batch round:
- uncached: the whole model forward (frozen part in eval mode, no gradients) and backward;
- cached: block 3's output replayed as the feature cache replays it (each frozen block's
  forward returns the stored output), then forward and backward of what trains;
- frozen prefix: embeddings and blocks 0-3 alone, no gradients: what the cache removes.
uncached / cached is the speedup a cached epoch can show at best (no data loading, optimizer
or logging in either); the cached step is split into its forward and backward.

    .venv/bin/python bench/partial_cost.py [--rows 330] [--repeats 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import random
import time

import baselines
import common
import longtail


class _Captured(Exception):
    pass


def measure(rows: int, repeats: int, threads: int) -> dict:
    out = common.scratch_dir("partial-")
    data = longtail.write_csv(out / "d.csv", longtail.make_rows(math.ceil(rows / 0.9), seed=0))
    spec = baselines.spec_of(
        model=common.minilm_path(), data=str(data), max_length=128, threads=threads,
        batch_size=32, freeze="last2", out=str(out),
    )  # fmt: skip
    torch = baselines._start(spec)
    from transformers import DataCollatorWithPadding

    train, _, tokenizer, names = baselines.prepare_data(spec)
    model = baselines.load_model(spec, names)
    model.train()  # load_model keeps the frozen modules in eval mode
    collate = DataCollatorWithPadding(tokenizer)
    items = [train[i] for i in range(len(train))]
    order = sorted(range(len(items)), key=lambda i: -len(items[i]["input_ids"]))
    chunks = [order[k : k + 32] for k in range(0, len(order), 32)]
    random.Random(0).shuffle(chunks)  # grouped by length, in random order, as in training
    batches = [collate([items[i] for i in c]) for c in chunks]
    blocks = model.bert.encoder.layer
    cut = blocks[3]
    captured: list = []

    def hook(module, args, kwargs, output):
        captured.append(output)
        raise _Captured

    def prefix(batch):
        handle = cut.register_forward_hook(hook, with_kwargs=True)
        try:
            with torch.no_grad():
                model(**{k: v for k, v in batch.items() if k != "labels"})
        except _Captured:
            pass
        finally:
            handle.remove()
        return captured.pop()

    stored = [prefix(b) for b in batches]  # the cache, built outside the timing
    seconds = {"uncached": 0.0, "cached": 0.0, "cached_forward": 0.0, "frozen_prefix": 0.0}
    for _ in range(repeats):
        for batch, output in zip(batches, stored, strict=True):
            started = time.perf_counter()
            model(**batch).loss.backward()
            seconds["uncached"] += time.perf_counter() - started
            model.zero_grad(set_to_none=True)

            for block in blocks[:4]:
                block.forward = lambda *a, _out=output, **k: _out
            started = time.perf_counter()
            loss = model(**batch).loss
            forward = time.perf_counter() - started
            loss.backward()
            seconds["cached"] += time.perf_counter() - started
            seconds["cached_forward"] += forward
            for block in blocks[:4]:
                block.__dict__.pop("forward")
            model.zero_grad(set_to_none=True)

            started = time.perf_counter()
            prefix(batch)
            seconds["frozen_prefix"] += time.perf_counter() - started
    per_epoch = {k: v / repeats for k, v in seconds.items()}
    per_epoch["cached_backward"] = per_epoch["cached"] - per_epoch["cached_forward"]
    return {"rows": len(items), "batches": len(batches), **per_epoch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=330)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="120 rows, one repeat")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeats = 120, 1
    common.setup_env(args.threads)
    r = measure(args.rows, args.repeats, args.threads)
    r["speedup"] = common.ratio(r["uncached"], r["cached"])
    r["prefix_share"] = common.ratio(r["frozen_prefix"], r["uncached"])
    r["backward_per_forward"] = common.ratio(r["cached_backward"], r["cached_forward"])
    r["load_avg_1m"] = __import__("os").getloadavg()[0]
    print(f"\nlast-2-blocks step costs, seconds per epoch ({r['rows']} rows), medians n/a\n")
    print(common.table([r], list(r)))
    common.save("partial_cost", {"args": vars(args), "result": r})


if __name__ == "__main__":
    main()
