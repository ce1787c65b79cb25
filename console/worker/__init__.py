"""The engine side: the engine process (torch, transformers) and its jobs."""
