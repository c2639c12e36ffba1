"""Run modes. Kept apart from the runner so that screens can name a mode cheaply."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    DRILL = "drill"
    REAL = "real"
    DRY_RUN = "dry-run"
