"""mathchat: a math-tutoring chat that improves from its own use (ChatGLM-Math's Self-Critique loop)."""

__version__ = "0.1.0"
