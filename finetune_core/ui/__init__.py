"""The Gradio dashboard (the only package that imports gradio)."""
