"""A modal answered once: every modal of the console is one (kept apart from ``modals`` so that
screens drawn before any plan loads can use it without importing the engine)."""

from __future__ import annotations

from typing import Any

from textual.await_complete import AwaitComplete
from textual.screen import ModalScreen


class AnswerOnce(ModalScreen[Any]):
    """A modal answered once. Textual's dismiss pops whatever screen is on top, so a key still
    queued for a modal already answered (a second y, a letter typed on) would pop the next
    question or the screen under it; such a key does nothing. Every modal of the console is
    one."""

    def dismiss(self, result: Any = None) -> AwaitComplete:
        if not self.is_active:
            return AwaitComplete()
        return super().dismiss(result)
