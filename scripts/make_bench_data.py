"""Build bench/data/ from snapshots of two public GitHub repositories (see bench/data/SOURCES.md).

    python scripts/make_bench_data.py TREC_REPO_GIT_DIR GOEMOTIONS_REPO_GIT_DIR

Each argument is a git directory (a bare clone is enough): the files are read with `git show`,
so the commits named in SOURCES.md reproduce the CSVs byte for byte.
"""

from __future__ import annotations

import csv
import random
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "bench" / "data"
TREC_COMMIT = "d61ded09c99c0199d8c5bca946cd65864de2b296"
GOEMOTIONS_COMMIT = "b75f9d3a8b76bc1060687925b04ca98a1b8ea66b"
GOEMOTIONS_TRAIN_ROWS = 5000


def show(repo: str, commit: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "-C", repo, "show", f"{commit}:{path}"], check=True, capture_output=True
    ).stdout


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def trec(repo: str) -> None:
    """The coarse question types (6 classes); the raw files are Latin-1 text."""
    for split in ("train", "test"):
        rows = []
        raw = show(repo, TREC_COMMIT, f"data/raw/TREC.{split}").decode("latin-1")
        for line in raw.splitlines():
            label, text = line.split(" ", 1)
            rows.append([text.strip(), label.split(":", 1)[0]])
        write(OUT / "trec" / f"{split}.csv", ["text", "label"], rows)


def goemotions(repo: str) -> None:
    """28 emotions, multi-label: labels written as people write them, comma-joined names.
    Train: a seeded sample of 5,000 of the 43,410 rows; test: all 5,427 rows."""
    names = show(repo, GOEMOTIONS_COMMIT, "data/original/labels.txt").decode().split()

    def read(split: str) -> list[list[str]]:
        rows = []
        raw = show(repo, GOEMOTIONS_COMMIT, f"data/original/{split}.tsv").decode()
        for line in raw.splitlines():
            text, ids, _ = line.split("\t")
            rows.append([text, ",".join(names[int(i)] for i in ids.split(","))])
        return rows

    train = read("train")
    random.Random(0).shuffle(train)
    write(OUT / "goemotions" / "train.csv", ["text", "labels"], train[:GOEMOTIONS_TRAIN_ROWS])
    write(OUT / "goemotions" / "test.csv", ["text", "labels"], read("test"))


if __name__ == "__main__":
    trec(sys.argv[1])
    goemotions(sys.argv[2])
