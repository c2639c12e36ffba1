"""Run reports (Markdown, JSON) built from a journal alone."""
