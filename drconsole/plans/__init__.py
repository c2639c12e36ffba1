"""Plans: the pydantic model of a runbook, YAML loading with positions, references, validation."""
