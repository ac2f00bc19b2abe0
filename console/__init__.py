"""The operator's console: the Gradio page, the operator JSON API, and the views, tables and plots they show.

It reads the store through ``feedback.reads`` / ``feedback.registry``, switches models through
``serving.live_model`` and launches cycles through ``training.scheduler``; nothing below imports it.
"""
