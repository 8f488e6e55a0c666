"""Recovering one shell command: run it, turn a non-zero exit into a failure context, and drive
the recovery flow over re-runs of it (what ``tether run`` and ``Tether.run_command`` do)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.recover.drive import JobServices, run_sync
from tether.recover.flow import recovery
from tether.recover.model import Failure, JobResult

if TYPE_CHECKING:
    from tether.process.command import CommandResult
    from tether.recover.drive import EngineServices
    from tether.recover.model import Outcome, RecoverySettings
    from tether.recover.shell import CommandJob

__all__ = ["CommandRecovery", "recover_command"]


@dataclass(frozen=True)
class CommandRecovery:
    """How recovering a command ended.

    Attributes:
        last: the last run's result (its ``exit_code`` is what to exit with).
        outcome: the recovery's outcome; ``None`` when the first run passed or recovery
            stopped on an internal error.
        failure: the first run's failure, ``None`` when it passed.
        internal_error: tether's own error that stopped recovery (the job's result stands).
    """

    last: CommandResult
    outcome: Outcome | None = None
    failure: Failure | None = None
    internal_error: Exception | None = None


def recover_command(
    job: CommandJob,
    services: EngineServices,
    settings: RecoverySettings,
    *,
    wait: Callable[[float], None],
    clock: Callable[[], float],
    context: Mapping[str, Any] | None = None,
    tail_lines: int | None = None,
    first: CommandResult | None = None,
) -> CommandRecovery:
    """Run ``job`` (unless ``first`` is its first result already) and recover it when it fails.

    Args:
        job: the command to run and re-run.
        services: the engine's answers to the flow's requests.
        settings: recovery settings (their ``target`` defaults to the command line).
        wait: sleeps a number of seconds (backoff).
        clock: monotonic seconds.
        context: extra facts joined to every failure context.
        tail_lines: keep only the last N lines of stdout and stderr in the context.
        first: a first run of ``job`` already made (it is not repeated).

    Raises:
        Exception: an error marked ``__tether_propagate__`` (a teardown hook asked for it).
    """
    extra = dict(context or {})
    if not settings.target:
        settings.target = job.command
    results: list[CommandResult] = []

    def judge(result: CommandResult) -> JobResult:
        results.append(result)
        if result.exit_code == 0:
            return JobResult(value=result)
        facts = job.context(result)
        if tail_lines is not None:
            for key in ("stdout", "stderr"):
                facts[key] = "\n".join(facts[key].splitlines()[-tail_lines:])
        return JobResult(failure=Failure({**facts, **extra}, result.exit_code))

    def run_job() -> JobResult:
        return judge(job.run())

    initial = judge(first) if first is not None else run_job()
    if initial.failure is None:
        return CommandRecovery(results[-1])
    try:
        gen = recovery(initial.failure, settings, clock=clock)
        outcome = run_sync(gen, JobServices(services, run_job, wait))
    except Exception as exc:
        if getattr(exc, "__tether_propagate__", False):
            raise
        return CommandRecovery(results[-1], failure=initial.failure, internal_error=exc)
    return CommandRecovery(results[-1], outcome, initial.failure)
