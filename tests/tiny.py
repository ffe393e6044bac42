"""Tiny real checkpoints and datasets built by the tests (no downloads).

BERT and ViT with hidden size 32 and 2 layers, saved with save_pretrained, with a real
WordPiece tokenizer whose vocabulary is written here, and a real ViT image processor.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

WORDS = {
    "pos": "good great love excellent happy wonderful fine superb nice best".split(),
    "neg": "bad awful hate terrible sad horrible poor worst ugly boring".split(),
    "neu": "table chair window paper river stone cloud street number green".split(),
}
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def vocab() -> list[str]:
    words = sorted({w for ws in WORDS.values() for w in ws} | {"the", "a", "is", "it", "was"})
    return SPECIAL + words


def make_bert(path: Path, *, num_labels: int | None = None, seed: int = 0) -> Path:
    """A 2-layer BERT (hidden 32) with its tokenizer; with num_labels, a classifier head too."""
    import torch
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        BertForSequenceClassification,
        BertTokenizerFast,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab()) + "\n")
    # transformers 5 ignores vocab_file here: pass the vocabulary itself
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab())}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    if num_labels:
        config.num_labels = num_labels
        model = BertForSequenceClassification(config)
    else:
        config.architectures = ["BertForMaskedLM"]
        model = BertForMaskedLM(config)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def make_vit(path: Path, *, seed: int = 0) -> Path:
    """A 2-layer ViT (hidden 32, 16x16 images, 8x8 patches) with its image processor."""
    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = ViTConfig(
        image_size=16,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    config.architectures = ["ViTModel"]
    torch.manual_seed(seed)
    ViTModel(config).save_pretrained(path)
    ViTImageProcessor(size={"height": 16, "width": 16}).save_pretrained(path)
    return path


def form(**values) -> dict:
    """The page's form values (what the Train tab's handlers take) for a quick run: every
    form field None, the usual defaults, then `values`."""
    from finetune_core.ui.form import form_keys  # gradio only for the tests that use it

    out = {key: None for key in form_keys()}
    out.update(
        validation_fraction=0.1,
        logging_steps=5,
        save_steps=50,
        save_total_limit=2,
        seed=42,
        device="auto",
        feature_cache=True,
        weight_decay=0.0,
        warmup_ratio=0.0,
        frozen=[],
    )
    out.update(values)
    return out


def text_rows(n: int = 60, *, seed: int = 0, classes=("pos", "neg", "neu")) -> list[dict]:
    """Sentences whose class is given by its words, so a tiny model can learn it."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = classes[i % len(classes)]
        words = rng.sample(WORDS[label], 3) + rng.sample(["the", "a", "is", "it", "was"], 2)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def write_csv(path: Path, rows: list[dict], rename: dict | None = None) -> Path:
    rename = rename or {}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = [rename.get(k, k) for k in rows[0]]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        for row in rows:
            writer.writerow(list(row.values()))
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_image_folder(path: Path, *, per_class: int = 8, seed: int = 0) -> Path:
    """An image folder, one sub-folder per class: red-ish and blue-ish 16x16 PNGs."""
    from PIL import Image

    rng = random.Random(seed)
    path = Path(path)
    for name, channel in (("red", 0), ("blue", 2)):
        folder = path / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            color = [rng.randint(0, 60) for _ in range(3)]
            color[channel] = rng.randint(180, 255)
            Image.new("RGB", (16, 16), tuple(color)).save(folder / f"{name}_{i}.png")
    return path


def longtail_rows(n: int = 60, *, seed: int = 0, longest: int = 40) -> list[dict]:
    """text_rows with long-tailed lengths (most a few words, some up to `longest`), as real
    text is: what length-sorted and length-grouped batches are for."""
    rng = random.Random(seed)
    rows = text_rows(n, seed=seed)
    for row in rows:
        extra = min(longest, int(rng.paretovariate(1.0)) - 1)
        row["text"] += "".join(" " + rng.choice(WORDS["neu"]) for _ in range(extra))
    return rows


def multi_rows(n: int = 120, *, seed: int = 0) -> list[dict]:
    """Multi-label rows: each sentence mixes words of one or two classes; its labels are those
    classes."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        labels = sorted(rng.sample(list(WORDS), 1 + i % 2))
        words = [w for label in labels for w in rng.sample(WORDS[label], 2)]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "labels": labels})
    return rows
