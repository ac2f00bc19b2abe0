"""Feedback: SQL models, the store, migrations and TRL-format exports."""
