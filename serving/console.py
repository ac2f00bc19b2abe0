"""The operator console (Gradio): runs, datasets, candidates vs live, feedback; promote and roll back."""

from __future__ import annotations

import gradio as gr
from sqlalchemy.engine import Engine

from mathchat.settings import Settings
from serving.live_model import LiveModelSync
from serving.web_auth import WebAuth


def build_console(settings: Settings, db: Engine, sync: LiveModelSync, auth: WebAuth) -> gr.Blocks:
    with gr.Blocks(title="mathchat · operator") as console:
        gr.Markdown("# mathchat operator console")
    return console
