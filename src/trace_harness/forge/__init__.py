"""Forge adapters: GitHub (PyGithub) and the local SQLite forge."""
