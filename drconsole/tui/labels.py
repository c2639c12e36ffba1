"""What the console calls each run mode, in one place: the home title, the inputs form and the
run screen all say the same words, so an operator never reads two names for one mode."""

from __future__ import annotations

from drconsole.engine.modes import Mode

MODE_LABELS = {
    Mode.DRILL: "DRILL (practice targets only)",
    Mode.DRY_RUN: "DRY-RUN (calls nothing)",
    Mode.REAL: "REAL: ACTS ON PRODUCTION",
}
