"""``tether agent run|goal|memory``: one governed run, a goal run, and the task memory.

A client of :mod:`tether.orchestrate` only. Output: the model's text on stdout (each turn as it
ends), tool lines and tether's own lines on stderr; ``--json`` prints one JSON object on stdout
instead of the text. Exit codes: 0 success (``SUCCESS`` / ``GOAL_MET``), 1 any other ending,
130 interrupted (the run is resumable from its state), 2 bad input (names the flag or file).

Everything is resolved from ``--cwd`` (the target project): the home, ``config.yaml``,
``.env`` (values the shell does not set), ``.mcp.json``, ``AGENTS.md``/``CLAUDE.md``, skills.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from tether.orchestrate import AgentRun, Budget, Project

__all__ = ["register"]

EXIT_INTERRUPTED = 130


@contextmanager
def bad_input(flag: str | None = None) -> Iterator[None]:
    """Turn tether's configuration errors (bad files, names, values) into usage errors (exit 2)."""
    from tether.errors import ConfigError

    try:
        yield
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint=flag) from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=flag) from None


def _project(cwd: Path, home: Path | None) -> Project:
    from tether.orchestrate import Project

    with bad_input("--cwd"):
        project = Project.at(cwd, home=home)
    for name, value in project.missing_env(os.environ).items():
        os.environ[name] = value  # the CLI owns its process: the project's .env fills the gaps
    return project


def _budget(
    max_iterations: int, token_limit: int, cost_limit_usd: float | None, wall_clock_s: float
) -> Budget:
    from tether.orchestrate import Budget

    for flag, value in (
        ("--max-iterations", max_iterations),
        ("--token-limit", token_limit),
        ("--cost-limit-usd", cost_limit_usd),
        ("--wall-clock-s", wall_clock_s),
    ):
        if value is not None and not value > 0:
            raise typer.BadParameter(f"must be positive, got {value}", param_hint=flag)
    return Budget(max_iterations, token_limit, cost_limit_usd, wall_clock_s)


def _store(project: Project, *, memory: bool, dry_run: bool) -> Any:
    """The store a run records to; a dry run only reads memory, and only from a store that
    already exists (it creates nothing)."""
    from tether.store import open_store, store_url

    if not dry_run:
        return open_store(project.home)
    exists = Path(store_url(project.home).removeprefix("sqlite://")).is_file()
    return open_store(project.home) if memory and exists else None


def _printer(json_output: bool) -> Callable[[dict[str, Any]], None]:
    """Trace events to the terminal: turn text to stdout, tool lines to stderr."""

    def on_event(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "llm.call" and not json_output and event.get("text"):
            sys.stdout.write(str(event["text"]).rstrip("\n") + "\n")
            sys.stdout.flush()
        elif kind == "tool.call":
            args = json.dumps(event.get("arguments"), default=str)
            print(f"tether ▸ {event.get('tool')} {args[:160]}", file=sys.stderr)
        elif kind == "tool.result" and event.get("status") != "ok":
            print(f"tether ✗ {event.get('tool')}: {event.get('status')}", file=sys.stderr)

    return on_event


def _agent(
    prompt: str,
    project: Project,
    *,
    model: Any,
    skill: str | None,
    allow_commands: bool,
    budget: Budget,
    task: str | None,
    memory: bool,
    on_event: Callable[[dict[str, Any]], None] | None,
    run_id: str | None = None,
    tools: list[Any] | None = None,
    pinned: tuple[str, ...] = (),
    delegation: Any = None,
) -> AgentRun:
    from tether.orchestrate import AgentRun

    with bad_input("--skill" if skill else "--model"):
        return AgentRun(
            prompt,
            project=project,
            model=model,
            skill=skill,
            allow_commands=allow_commands,
            budget=budget,
            task=task,
            memory=memory,
            on_event=on_event,
            run_id=run_id,
            tools=tools,
            pinned=pinned,
            delegation=delegation,
        )


def _offered(root: Path, allow_commands: bool) -> list[Any]:
    """The workspace tools of ``root``; ``run_command`` only with ``--allow-commands``."""
    from tether.tools.builtin import Workspace

    return [t for t in Workspace(root).tools() if allow_commands or t.name != "run_command"]


def _show_plan(plan: dict[str, Any], json_output: bool) -> None:
    if json_output:
        typer.echo(json.dumps({"dry_run": True, **plan}, indent=2, default=str))
        return
    budget = plan["budget"]
    lines = [
        f"model:   {plan['model']}",
        f"tools:   {', '.join(plan['tools'])}",
        f"mcp:     {', '.join(plan['mcp_servers']) or '(none)'}",
        "budget:  " + ", ".join(f"{k}={v}" for k, v in budget.items() if v is not None),
        f"task:    {plan['task_key']}",
    ]
    for key in ("verify", "evaluator", "max_rounds", "protect"):
        if plan.get(key) not in (None, [], ()):
            lines.append(f"{key + ':':<9}{plan[key]}")
    lines += ["system prompt:", plan["system_prompt"], "(dry run: nothing was run or recorded)"]
    typer.echo("\n".join(lines))


def run(
    prompt: str = typer.Argument(..., help="What the agent should do."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="provider/model (default: engine.llm)."
    ),
    cwd: Path = typer.Option(Path("."), "--cwd", help="The target project (config, .env, tools)."),
    home: Path | None = typer.Option(None, "--home", "-d", help="tether home."),
    skill: str | None = typer.Option(None, "--skill", help="Preload this skill."),
    max_iterations: int = typer.Option(20, "--max-iterations", help="Iteration ceiling."),
    token_limit: int = typer.Option(200_000, "--token-limit", help="Token ceiling (input+output)."),
    cost_limit_usd: float | None = typer.Option(None, "--cost-limit-usd", help="USD ceiling."),
    wall_clock_s: float = typer.Option(1800.0, "--wall-clock-s", help="Seconds ceiling."),
    allow_commands: bool = typer.Option(
        False, "--allow-commands", help="Offer run_command (never offered without this)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show model, tools, budgets, system prompt; run nothing."
    ),
    task: str | None = typer.Option(
        None, "--task", help="Task key for memory (default: from the prompt)."
    ),
    memory: bool = typer.Option(False, "--memory", help="Show the task's memory to the model."),
    agent_name: str | None = typer.Option(
        None, "--agent", help="Run as the sub-agent agents/NAME.md (its tools, prompt, ceilings)."
    ),
    worktree: bool = typer.Option(
        False, "--worktree", help="Run in a new git worktree of the project (kept if it has work)."
    ),
    base: str = typer.Option("HEAD", "--base", help="The worktree's base commit or branch."),
) -> None:
    """Run one governed agent over the project's workspace (exit 0 success, 1 not, 130 Ctrl-C)."""
    from contextlib import ExitStack

    from tether.orchestrate import Delegation, Worktree, find_agents
    from tether.orchestrate.dispatch import as_agent, inbox_on_kept

    project = _project(cwd, home)
    budget = _budget(max_iterations, token_limit, cost_limit_usd, wall_clock_s)
    with bad_input("--agent"):
        catalog = find_agents(project.root, project.home)
        sub = catalog.get(agent_name) if agent_name is not None else None
    for problem in catalog.errors:
        print(f"tether: warning: skipped: {problem}", file=sys.stderr)
    store = _store(project, memory=memory, dry_run=dry_run)
    isolate = worktree or (sub is not None and sub.isolation == "worktree")
    if isolate and dry_run:
        isolate = False  # a dry run makes nothing, a worktree included
        print("tether ▸ dry run: no worktree is made", file=sys.stderr)
    trees = Worktree(project.home, on_kept=inbox_on_kept(store)) if isolate else None
    with ExitStack() as stack:
        iso = None
        if trees is not None:
            with bad_input("--worktree"):
                iso = stack.enter_context(trees.isolate(project.root, base=base, agent=agent_name))
        root = Path(iso.workspace.root) if iso is not None else project.root
        tools = _offered(root, allow_commands)
        pinned: tuple[str, ...] = ()
        if sub is not None:
            with bad_input("--agent"):
                narrowed = as_agent(sub, tools, budget)
            tools, budget, pinned = narrowed.tools, narrowed.budget, narrowed.pinned
            model = model or narrowed.model
        delegation = None
        if sub is None and catalog.agents:  # the model may hand tasks to the project's agents
            delegation = Delegation(
                catalog,
                tools=tools,
                worktrees=Worktree(project.home, on_kept=inbox_on_kept(store))
                if store is not None
                else None,
                repo=Path(root),
                trace_dir=project.home / "traces",
                on_event=_printer(json_output),
            )
        agent = _agent(
            prompt,
            project,
            model=model,
            skill=skill,
            allow_commands=allow_commands,
            budget=budget,
            task=task,
            memory=memory,
            on_event=_printer(json_output),
            tools=tools,
            pinned=pinned,
            delegation=delegation,
        )
        if dry_run:
            _show_plan(agent.plan(store).to_dict(), json_output)
            return
        where = f", worktree {iso.record.path}" if iso is not None else ""
        print(
            f"tether ▸ agent run {agent.run_id} (trace {agent.trace_path}{where})", file=sys.stderr
        )
        result = agent.run(store)
    if iso is not None and iso.record.status == "kept":
        print(
            f"tether ▸ worktree kept: {iso.record.path} ({iso.record.reason}); "
            f"see tether agent worktrees list",
            file=sys.stderr,
        )
    _finish(result, json_output)


def resume(
    run_id: str = typer.Argument(..., help="The interrupted run's id (printed by agent run)."),
    cwd: Path = typer.Option(Path("."), "--cwd", help="The target project."),
    home: Path | None = typer.Option(None, "--home", "-d", help="tether home."),
    model: str | None = typer.Option(None, "--model", "-m", help="Override the saved model."),
    more_iterations: int = typer.Option(
        0, "--more-iterations", help="Add to the iteration ceiling."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Continue an interrupted or ceiling-stopped agent run from its saved state."""
    from tether.orchestrate import AgentRun
    from tether.orchestrate.project import load_model

    project = _project(cwd, home)
    if more_iterations < 0:
        raise typer.BadParameter("must not be negative", param_hint="--more-iterations")
    with bad_input("RUN_ID"):
        chosen = load_model(model, project) if model is not None else None
        result = AgentRun.resume(
            run_id,
            project=project,
            model=chosen,
            on_event=_printer(json_output),
            extend={"max_iterations": more_iterations} if more_iterations else None,
        )
    _finish(result, json_output)


def _finish(result: Any, json_output: bool) -> None:
    if json_output:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
    print(
        f"tether ▸ {result.status}: {result.reason} "
        f"({result.loop.iterations} iterations, {result.tokens} tokens)",
        file=sys.stderr,
    )
    if result.status == "ABORTED":
        print(
            f"tether ▸ resumable: tether agent resume {result.run_id} (state {result.state_path})",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(0 if result.ok else 1)


def goal(
    condition: str = typer.Argument(..., help="The goal condition, in words."),
    prompt: str = typer.Argument(..., help="What the worker should do."),
    verify: str | None = typer.Option(
        None,
        "--verify",
        help="Shell command that decides: exit 0 after a round = met (recommended).",
    ),
    verify_timeout_s: float = typer.Option(
        600.0, "--verify-timeout-s", help="Verifier time limit."
    ),
    max_rounds: int = typer.Option(3, "--max-rounds", help="Most worker rounds."),
    evaluator_model: str | None = typer.Option(
        None,
        "--evaluator-model",
        help="Independent evaluator (default without --verify: engine.llm_secondary).",
    ),
    protect: list[str] = typer.Option(
        [], "--protect", help="Path the worker must not change (repeatable)."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Worker provider/model."),
    cwd: Path = typer.Option(Path("."), "--cwd", help="The target project."),
    home: Path | None = typer.Option(None, "--home", "-d", help="tether home."),
    skill: str | None = typer.Option(None, "--skill", help="Preload this skill."),
    max_iterations: int = typer.Option(20, "--max-iterations", help="Iteration ceiling per round."),
    token_limit: int = typer.Option(
        200_000, "--token-limit", help="Tokens for the whole goal run."
    ),
    cost_limit_usd: float | None = typer.Option(
        None, "--cost-limit-usd", help="USD for the whole goal run."
    ),
    wall_clock_s: float = typer.Option(
        3600.0, "--wall-clock-s", help="Seconds for the whole goal run."
    ),
    allow_commands: bool = typer.Option(False, "--allow-commands", help="Offer run_command."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; run nothing."),
    task: str | None = typer.Option(None, "--task", help="Task key for memory."),
    memory: bool = typer.Option(False, "--memory", help="Show the task's memory to the worker."),
) -> None:
    """Run worker rounds until CONDITION is verified (exit 0 GOAL_MET, 1 otherwise, 130 Ctrl-C)."""
    from tether.orchestrate import Evaluator, Goal, task_key
    from tether.orchestrate.project import load_model

    project = _project(cwd, home)
    budget = _budget(max_iterations, token_limit, cost_limit_usd, wall_clock_s)
    with bad_input("--evaluator-model"):
        judge_model = evaluator_model or (None if verify else project.configured_secondary())
        if verify is None and judge_model is None:
            raise typer.BadParameter(
                "nothing decides the goal: give --verify CMD (recommended) or --evaluator-model "
                "(or set engine.llm_secondary)",
                param_hint="--verify",
            )
        evaluator = Evaluator(load_model(judge_model, project)) if judge_model else None
    with bad_input("--protect"):
        spec = Goal(
            condition,
            verify=verify,
            verify_timeout_s=verify_timeout_s,
            evaluator=evaluator,
            max_rounds=max_rounds,
            protect=protect,
        )
    key = task or task_key(condition + "\n" + prompt)
    printer = _printer(json_output)
    with bad_input("--model"):
        worker_model = load_model(model, project)  # once: every round talks to the same model

    def make_run(round_prompt: str, room: Budget, run_id: str) -> AgentRun:
        return _agent(
            round_prompt,
            project,
            model=worker_model,
            skill=skill,
            allow_commands=allow_commands,
            budget=room,
            task=key,
            memory=memory,
            on_event=printer,
            run_id=run_id,
        )

    store = _store(project, memory=memory, dry_run=dry_run)
    if dry_run:
        plan = make_run(spec.first_prompt(prompt), budget, "dry-run").plan(store).to_dict()
        plan.update(
            verify=verify,
            evaluator=evaluator.model if evaluator else None,
            max_rounds=max_rounds,
            protect=list(protect),
        )
        _show_plan(plan, json_output)
        return

    def on_round(done: Any) -> None:
        verdict = f"; {done.note}" if done.note else ""
        print(f"tether ▸ round {done.index}: {done.loop_status}{verdict}", file=sys.stderr)

    result = spec.run(
        prompt,
        make_run=make_run,
        budget=budget,
        workspace=project.root,
        store=store,
        task_key=key,
        on_round=on_round,
    )
    if json_output:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
    spent = result.spending
    print(
        f"tether ▸ {result.status}: {result.reason}\n"
        f"tether ▸ spent: worker {spent.worker_tokens} tokens, evaluator {spent.evaluator_tokens} "
        f"tokens in {spent.evaluator_calls} calls, verifier {spent.verifier_runs} runs "
        f"({spent.verifier_s:.1f}s)",
        file=sys.stderr,
    )
    if result.status == "ABORTED":
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(0 if result.met else 1)


memory_app = typer.Typer(
    name="memory",
    help="Task memory: what earlier runs of each task ended with (verified statuses).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@memory_app.command("show")
def memory_show(
    task: str | None = typer.Option(None, "--task", help="Only this task."),
    cwd: Path = typer.Option(Path("."), "--cwd", help="The target project."),
    home: Path | None = typer.Option(None, "--home", "-d", help="tether home."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the remembered tasks, newest first."""
    from tether.orchestrate import Memory

    project = _project(cwd, home)
    store = _store(project, memory=True, dry_run=True)  # read only: a missing store is no tasks
    tasks = Memory(store).tasks(task) if store is not None else []
    if json_output:
        typer.echo(json.dumps([t.to_dict() for t in tasks], indent=2, default=str))
        return
    if not tasks:
        typer.echo("no tasks remembered")
        return
    for t in tasks:
        typer.echo(f"{t.task_key}  {t.status}  runs={t.runs}  last={t.last_run_id}  {t.title}")
        for r in t.history:
            typer.echo(f"    {r['run_id']}  {r['kind']}  {r['status']}  {r['reason'][:120]}")


@memory_app.command("reset")
def memory_reset(
    yes: bool = typer.Option(False, "--yes", help="Really forget."),
    task: str | None = typer.Option(None, "--task", help="Only this task."),
    cwd: Path = typer.Option(Path("."), "--cwd", help="The target project."),
    home: Path | None = typer.Option(None, "--home", "-d", help="tether home."),
) -> None:
    """Forget every task (or one, with --task); needs --yes."""
    from tether.orchestrate import Memory
    from tether.store import open_store

    if not yes:
        raise typer.BadParameter(
            "this forgets task memory; pass --yes to confirm", param_hint="--yes"
        )
    project = _project(cwd, home)
    gone = Memory(open_store(project.home)).reset(task)
    typer.echo(f"forgot {gone} task(s)")


def register(app: typer.Typer) -> None:
    """Add ``run``, ``resume``, ``goal`` and the ``memory`` group to the ``tether agent`` group."""
    app.command(name="run")(run)
    app.command(name="resume")(resume)
    app.command(name="goal")(goal)
    app.add_typer(memory_app, name="memory")
