"""Serving: policy engines (vLLM, transformers), the vLLM supervisor, sampling, Math-Critique, the chat UI."""
