"""Textual widgets of the console, one per file."""
