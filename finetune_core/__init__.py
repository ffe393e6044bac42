"""finetune_core: the engine under the fine-tuning dashboard (no gradio here)."""

__version__ = "0.1.0"
