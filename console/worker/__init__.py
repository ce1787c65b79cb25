"""The engine side: the worker process that loads, runs and unloads a model (torch lives here)."""
