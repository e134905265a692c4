"""supervise.py: what a signal does in each phase of a job, and the drain on interruption."""

from __future__ import annotations

import signal
import sys

import pytest

from glue_runtime.errors import GlueError, Interrupted
from glue_runtime.process import ConnectorProcess
from glue_runtime.secrets import Redactor
from glue_runtime.supervise import FINISHED, RUNNING, Signals, Supervisor
from glue_runtime.timeouts import Timeouts

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def outer_handler():
    """A handler the host process had before the job: Signals must hand it back."""
    seen: list[int] = []
    old = signal.signal(signal.SIGHUP, lambda signum, frame: seen.append(signum))
    try:
        yield seen
    finally:
        signal.signal(signal.SIGHUP, old)


def test_a_signal_before_the_connectors_start_goes_to_the_handler_from_before(outer_handler):
    interrupts: list[str] = []
    signals = Signals(interrupts.append)
    with signals.installed():
        signal.raise_signal(signal.SIGHUP)
    assert outer_handler == [signal.SIGHUP] and interrupts == []


def test_a_signal_while_running_interrupts_and_after_the_end_is_only_logged(outer_handler, caplog):
    interrupts: list[str] = []
    signals = Signals(interrupts.append)
    with signals.installed():
        signals.phase = RUNNING
        signal.raise_signal(signal.SIGHUP)
        signals.phase = FINISHED
        signal.raise_signal(signal.SIGHUP)
    assert interrupts == ["SIGHUP"] and outer_handler == []
    assert "SIGHUP received after the job finished: finishing its clean-up" in caplog.text
    signal.raise_signal(signal.SIGHUP)  # the handler from before is back
    assert outer_handler == [signal.SIGHUP]


def test_the_first_signal_stops_the_tap_the_second_every_connector():
    errors: list[GlueError] = []
    frozen: list[bool] = []
    sup = Supervisor(Timeouts(), fail=errors.append, freeze=lambda: frozen.append(True))
    sup.tap = ConnectorProcess("tap", SLEEPER, stdin=False, redactor=Redactor())
    sup.targets = [ConnectorProcess("target", SLEEPER, stdin=True, redactor=Redactor())]
    try:
        sup.interrupt("SIGINT")
        assert sup.tap.wait(60) == -signal.SIGTERM
        assert isinstance(errors[0], Interrupted) and frozen == []
        assert sup.stop_asked_at is not None  # the tap's drain timeout runs from here
        assert sup.targets[0].proc.poll() is None  # the targets drain: still running
        sup.interrupt("SIGINT")
        assert sup.targets[0].wait(60) == -signal.SIGTERM
        assert frozen == [True] and len(errors) == 1
    finally:
        for p in (sup.tap, *sup.targets):
            p.stop(grace=1)
            p.close()
