"""Math-Critique: (question, optional reference, answer) -> explanation + 1-10 score, as in ChatGLM-Math."""
