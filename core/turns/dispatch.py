"""Where a turn goes once it is written: to this process's runner, or, in a process that runs no
turns (STUDIO_RUN_TURNS=0: the page's server beside workers), to the shared queue, whose workers
are woken. Every entry hands its written turns here, so they all go the same way."""

from __future__ import annotations

from collections.abc import Callable

from core.config import Settings
from core.turns.queue import TurnQueue
from core.turns.run import TurnOutcome
from core.turns.runner import TurnRunner
from core.values import Turn, WaitingMessage


class Dispatch:
    def __init__(self, *, runner: TurnRunner, shared_queue: TurnQueue, settings: Callable[[], Settings]) -> None:
        self.runner = runner
        self.shared_queue = shared_queue
        self._settings = settings

    def go(self, turns: list[Turn]) -> list[Turn]:
        if not self._settings().run_turns:
            self.shared_queue.wake()  # queued with no holder: a worker takes them
            return turns
        for turn in turns:
            self.runner.submit(turn.id)
        return turns

    def first(self, made: list[Turn] | WaitingMessage) -> Turn | WaitingMessage:
        """The chat input's message: its first take sent off, or kept waiting (typed ahead)."""
        return made if isinstance(made, WaitingMessage) else self.go(made)[0]

    def one(self, turns: list[Turn]) -> Turn | None:
        """A waiting message sent on: its first turn, or None if nothing went."""
        made = self.go(turns)
        return made[0] if made else None

    def run(self, turn: Turn) -> TurnOutcome:
        """Synchronously, on this process's runner: for an entry with nobody waiting on a page."""
        return self.runner.submit(turn.id).result()
