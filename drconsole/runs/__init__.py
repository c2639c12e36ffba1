"""Run directories as others see them: for now, the driver's lock (``runs.lock``)."""
