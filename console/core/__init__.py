"""Shared pure code, importable by both processes: no textual, no torch, no I/O but files."""
