"""The CLI verbs: each renders the same samples and results as the TUI, headless."""

