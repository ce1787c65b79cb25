"""App-side engine clients, one interface: the local engine process, served engines, attached
processes."""
