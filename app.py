"""Hugging Face Spaces / `python app.py` entry point: builds the dashboard and exposes `demo`."""

from finetune_core.ui.app import build, launch

demo = build()

if __name__ == "__main__":
    launch(demo=demo)
