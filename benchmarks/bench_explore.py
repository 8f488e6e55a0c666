"""The learning curve: real failures through ``tether run --explore``, explored once per family.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_explore.py [--variants 3] [--seed 7] [--keep]

A stream of real failures — four families, ``--variants`` variants each with
different names, paths and ports, shuffled (seeded) — goes through the real
``tether`` command (``tether run --explore -- python job.py``), one fresh job
directory per failure, one shared home:

- ``module``: a vendored module (``vendor/<name>.py``) is not installed into ``lib/``
  (``ModuleNotFoundError: No module named '<name>'``);
- ``file``: a data file is missing, its ``.example`` template is there
  (``FileNotFoundError ... '<path>'``);
- ``port``: a stale process (started by the benchmark) holds the port the job listens on
  (``cannot listen on 127.0.0.1:<port>: [Errno 98] Address already in use``);
- ``env``: an environment variable is missing; ``.env.example`` has its default
  (``KeyError: '<NAME>'`` from ``os.environ``).

The model is :class:`tether.testing.ScriptedModel` behind the CLI's test seam
(``llm: "scripted:<file>"``), scripted as a careful engineer: it reads the
failure in its prompt, looks at the job, and submits a rule with regex captures
for what varies, plus an action that really fixes the failure (copies the
vendored module, restores the template, stops the process holding the port,
adds the default). Its token counts are estimated from the text it was sent and
wrote (4 characters per token). Everything else is real: the jobs, the
validation (isolated import of the action), the verification re-run, the
promotion, the next resolve.

A second stream starts from a sloppy model that first submits wrong rules — no
match, a regex RE2 refuses, a duplicate ``when``, a match-everything rule, then
a valid rule whose action does not fix — with ``--allow-escalation`` handing
over to the careful engineer; the table shows where each was caught.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

NAMES = {
    "module": ["reportlib", "geohash_tools", "invoicer", "pdfstitch", "tzshim", "csvkit_lite"],
    "file": [
        "data/sales.csv",
        "data/2024/q1.csv",
        "reports/input.json",
        "cfg/seed.yaml",
        "data/users.tsv",
        "fixtures/orders.json",
    ],
    "env": [
        "PAYMENTS_API_URL",
        "REDIS_DSN",
        "FEATURE_FLAGS_PATH",
        "SMTP_RELAY",
        "S3_BUCKET",
        "AUDIT_LOG_LEVEL",
    ],
}

# -- the jobs (real programs that really fail) -------------------------------------------------

MODULE_JOB = (
    'import sys\nsys.path.insert(0, "lib")\nimport {name}\nprint("{name}", {name}.VERSION)\n'
)
FILE_JOB = 'from pathlib import Path\nrows = open("{path}").read().splitlines()\nprint(len(rows), "rows")\n'
PORT_JOB = """\
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", {port}))
except OSError as exc:
    sys.exit(f"cannot listen on 127.0.0.1:{port}: {{exc}}")
s.listen()
print("listening on {port}")
"""
ENV_JOB = """\
import os
from pathlib import Path
if Path(".env").exists():
    for line in Path(".env").read_text().splitlines():
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip())
url = os.environ["{name}"]
print("{name} =", url)
"""
HOLDER = """\
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("ready", flush=True)
time.sleep(600)
"""

# -- the models (loaded by the CLI through a home's model file, see model_file) ----------------

RULES: dict[str, tuple[str, str]] = {
    "module": (
        """\
name: vendored-module-not-installed
description: A vendored module is not installed into lib/; copy it from vendor/.
tags: [python, deps]
when:
  - fact: stderr
    regex: "ModuleNotFoundError: No module named '(?P<module>[A-Za-z_][A-Za-z0-9_]*)'"
    examples: ["ModuleNotFoundError: No module named 'reportlib'"]
then:
  - action: install_vendored_module
    params: {module: "{module}"}
""",
        '''\
import shutil
from pathlib import Path

from tether import action


@action("install_vendored_module")
def install_vendored_module(module: str) -> str:
    """Copy vendor/<module>.py into lib/ (the job's import path)."""
    source = Path("vendor") / f"{module}.py"
    if not source.exists():
        raise FileNotFoundError(f"no vendored copy of {module} at {source}")
    Path("lib").mkdir(exist_ok=True)
    shutil.copy2(source, Path("lib") / source.name)
    return f"installed {module} from vendor/"
''',
    ),
    "file": (
        """\
name: data-file-missing-restore-template
description: A data file is missing but its .example template exists; restore it.
tags: [files]
when:
  - fact: stderr
    regex: 'FileNotFoundError: \\[Errno 2\\] No such file or directory: ''(?P<path>[^'']+)'''
then:
  - action: restore_from_template
    params: {path: "{path}"}
""",
        '''\
import shutil
from pathlib import Path

from tether import action


@action("restore_from_template")
def restore_from_template(path: str) -> str:
    """Create <path> from <path>.example."""
    template = Path(path + ".example")
    if not template.exists():
        raise FileNotFoundError(f"no template {template}")
    shutil.copy2(template, path)
    return f"restored {path} from {template}"
''',
    ),
    "port": (
        """\
name: port-held-by-stale-process
description: A stale process still listens on the job's port; stop it.
tags: [network]
when:
  - fact: stderr
    regex: 'cannot listen on 127\\.0\\.0\\.1:(?P<port>\\d+): \\[Errno 98\\] Address already in use'
then:
  - action: free_port
    params: {port: "{port}"}
""",
        '''\
import os
import signal
import time
from pathlib import Path

from tether import action


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


@action("free_port")
def free_port(port: int) -> str:
    """Stop the process listening on 127.0.0.1:<port> (SIGTERM) and wait for the port."""
    inodes = _listening_inodes(port)
    stopped = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                os.kill(int(pid), signal.SIGTERM)
                stopped.append(pid)
                break
    deadline = time.monotonic() + 5
    while _listening_inodes(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not stopped:
        raise RuntimeError(f"no process found listening on port {port}")
    return f"stopped pid {', '.join(stopped)} holding port {port}"
''',
    ),
    "env": (
        """\
name: env-var-missing-use-example-default
description: An environment variable the job reads is unset; take its default from .env.example.
tags: [config, env]
when:
  - fact: stderr
    contains: "os.environ["
  - fact: stderr
    regex: "KeyError: '(?P<name>[A-Z][A-Z0-9_]*)'"
then:
  - action: add_env_default
    params: {name: "{name}"}
""",
        '''\
from pathlib import Path

from tether import action


@action("add_env_default")
def add_env_default(name: str) -> str:
    """Append <name>'s default line from .env.example to .env."""
    for line in Path(".env.example").read_text().splitlines():
        if line.split("=", 1)[0].strip() == name:
            with Path(".env").open("a") as fh:
                fh.write(line + "\\n")
            return f"added {name} to .env"
    raise KeyError(f"{name} has no default in .env.example")
''',
    ),
}
"""What the careful engineer submits per family: the rule and its action."""


def _family(text: str) -> str | None:
    if "No module named" in text:
        return "module"
    if "Address already in use" in text:
        return "port"
    if "os.environ[" in text and "KeyError" in text:
        return "env"
    if "No such file or directory" in text:
        return "file"
    return None


def _sent(request: Any) -> str:
    return json.dumps([m.parts for m in request.messages], default=str)


def _turn(request: Any, tool: str, **arguments: Any) -> Any:
    """A tool call, with usage estimated from the text sent and written (4 characters a token)."""
    from tether.testing import Turn, call

    usage = (len(_sent(request)) // 4, len(json.dumps(arguments)) // 4 + 40)
    return Turn(tool_calls=(call(tool, **arguments),), usage=usage)


def careful(request: Any) -> Any:
    """The careful engineer: reads the failure, looks at the job, submits rule + action."""
    failure = _sent(request).split("THE FAILURE:", 1)[-1][:6000]
    turns = sum(1 for m in request.messages if getattr(m, "kind", "") == "response")
    kind = _family(failure)
    if kind is None:
        return _turn(request, "give_up", reason="not a failure I know how to fix")
    if turns == 0:
        return _turn(request, "read_file", path="job.py")
    rule, code = RULES[kind]
    return _turn(request, "submit_rule", rule_yaml=rule, action_code=code)


_SLOPPY_RULE = """\
name: module-from-vendor
when:
  - fact: stderr
    regex: "No module named '(?P<module>[A-Za-z_]+)'"
then:
  - action: copy_module
    params: {module: "{module}"}
"""
_NOOP = '''\
from tether import action


@action("copy_module")
def copy_module(module: str) -> str:
    """Says it copied the module; does nothing."""
    return f"copied {module}"
'''
WRONG = [
    ("no match", _SLOPPY_RULE.replace("No module named", "No package called")),
    ("bad regex", _SLOPPY_RULE.replace("[A-Za-z_]+)'", "[A-Za-z_]+)(?<=e)'")),
    ("duplicate when", "name: module-again\nwhen:\n  - {fact: stderr, contains: ModuleNotFoundError}\n"
                       "then:\n  - {action: copy_module, params: {module: x}}\n"),
    ("match everything", "name: anything-goes\nwhen:\n  - {fact: stderr, regex: '.*'}\n"
                         "then:\n  - {action: copy_module, params: {module: x}}\n"),
    ("action that does not fix", _SLOPPY_RULE),
]  # fmt: skip
"""What the sloppy model submits, in order."""


def sloppy(request: Any) -> Any:
    """Submits each of :data:`WRONG` in turn, whatever it is told."""
    turns = sum(1 for m in request.messages if getattr(m, "kind", "") == "response")
    _, rule = WRONG[min(turns, len(WRONG) - 1)]
    return _turn(request, "submit_rule", rule_yaml=rule, action_code=_NOOP)


def model_file(home: Path, name: str, function: str) -> None:
    """Write ``home/<name>``: a model file for the ``scripted:`` seam playing ``function``."""
    (home / name).write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from tether.testing import ScriptedModel\n"
        f"from bench_explore import {function}\n\nMODEL = ScriptedModel([{function}] * 12)\n"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_job(work: Path, kind: str, variant: str) -> subprocess.Popen[bytes] | None:
    """Lay out one failing job in ``work``; a port job also gets its (real) stale holder."""
    work.mkdir(parents=True)
    holder = None
    if kind == "module":
        (work / "vendor").mkdir()
        (work / "vendor" / f"{variant}.py").write_text('VERSION = "1.0"\n')
        job = MODULE_JOB.format(name=variant)
    elif kind == "file":
        target = work / variant
        target.parent.mkdir(parents=True, exist_ok=True)
        Path(str(target) + ".example").write_text("id,amount\n1,10\n")
        job = FILE_JOB.format(path=variant)
    elif kind == "port":
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, variant], stdout=subprocess.PIPE)
        assert holder.stdout is not None
        holder.stdout.readline()  # "ready": the port is held
        job = PORT_JOB.format(port=variant)
    else:
        (work / ".env.example").write_text(
            f"OTHER=1\n{variant}=https://example.invalid/{variant.lower()}\n"
        )
        job = ENV_JOB.format(name=variant)
    (work / "job.py").write_text(job)
    return holder


def tether(
    args: list[str], work: Path, home: Path
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "TETHER_HOME": str(home), "PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tether", *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    return proc, time.perf_counter() - started


def observations(home: Path) -> list[dict[str, Any]]:
    path = home / "observations.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def llm_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        if isinstance(r.get("llm"), dict):
            out.append(r["llm"])
        elif r.get("kind") == "exploration":
            out.append(r)
    return out


def learning_curve(base: Path, variants: int, seed: int) -> None:
    home = base / "home"
    home.mkdir()
    model_file(home, "engineer.py", "careful")
    (home / "config.yaml").write_text(
        'engine:\n  llm: "scripted:engineer.py"\n  starter_rules: false\n'
    )
    rng = random.Random(seed)
    stream = [(kind, NAMES[kind][i]) for kind in ("module", "file", "env") for i in range(variants)]
    stream += [("port", str(free_port())) for _ in range(variants)]
    rng.shuffle(stream)
    print(
        f"## stream 1: {len(stream)} real failures, 4 families x {variants} variants (seed {seed})\n"
    )
    print(
        "| # | family | variant | exit | explored | tokens | rejected (validation) | rejected (verification) | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for n, (kind, variant) in enumerate(stream, 1):
        work = base / f"job-{n:02d}"
        holder = make_job(work, kind, variant)
        before = len(observations(home))
        try:
            proc, seconds = tether(["run", "--explore", "--", sys.executable, "job.py"], work, home)
        finally:
            if holder is not None:
                holder.kill()
                holder.wait()
        new = llm_records(observations(home)[before:])
        explored = "exploring with" in proc.stderr
        tokens = sum(r.get("input_tokens", 0) + r.get("output_tokens", 0) for r in new)
        validation = sum(len(r.get("rejections", [])) for r in new)
        verification = sum(1 for r in new if r.get("outcome") == "failure")
        rows.append((kind, proc.returncode, explored, tokens, validation, verification, seconds))
        print(f"| {n} | {kind} | {variant} | {proc.returncode} | {'yes' if explored else 'no'} | {tokens:,} | "
              f"{validation} | {verification} | {seconds:.2f} |")  # fmt: skip
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
    print(
        "\n| family | failures | recovered | explorations (target 1) | tokens | tokens after the first |"
    )
    print("|---|---|---|---|---|---|")
    for kind in ("module", "file", "port", "env"):
        mine = [r for r in rows if r[0] == kind]
        print(f"| {kind} | {len(mine)} | {sum(r[1] == 0 for r in mine)} | {sum(r[2] for r in mine)} | "
              f"{sum(r[3] for r in mine):,} | {sum(r[3] for r in mine[1:]):,} |")  # fmt: skip
    half = len(rows) // 2
    print("\n| over the stream | tokens per failure | explorations |")
    print("|---|---|---|")
    for label, part in (("first half", rows[:half]), ("second half", rows[half:])):
        print(
            f"| {label} | {statistics.mean(r[3] for r in part):,.0f} | {sum(r[2] for r in part)} |"
        )
    explored_s = [r[6] for r in rows if r[2]]
    resolved_s = [r[6] for r in rows if not r[2] and r[1] == 0]
    print("\n| time to recovery (whole `tether run`, s) | n | median | max |")
    print("|---|---|---|---|")
    for label, times in (
        ("explored (first of a family)", explored_s),
        ("resolved by the promoted rule", resolved_s),
    ):
        if times:
            print(f"| {label} | {len(times)} | {statistics.median(times):.2f} | {max(times):.2f} |")
    print(f"\nverification rejections: {sum(r[5] for r in rows)}; "
          f"validation rejections: {sum(r[4] for r in rows)}\n")  # fmt: skip


def wrong_rules(base: Path) -> None:
    home = base / "home-sloppy"
    (home / "rules").mkdir(parents=True)
    (home / "actions").mkdir()
    (home / "rules" / "module-missing-report.rule.yaml").write_text(
        "name: module-missing-report\ndescription: Report a missing module (fixes nothing).\n"
        "when:\n  - {fact: stderr, contains: ModuleNotFoundError}\n"
        "then:\n  - {action: report_missing_module}\n"
    )
    (home / "actions" / "report.py").write_text(
        "from tether import action\n\n\n@action('report_missing_module')\n"
        'def report_missing_module() -> str:\n    """Only reports."""\n    return \'reported\'\n'
    )
    model_file(home, "sloppy.py", "sloppy")
    model_file(home, "engineer.py", "careful")
    (home / "config.yaml").write_text(
        'engine:\n  llm: "scripted:sloppy.py"\n  llm_secondary: "scripted:engineer.py"\n'
        "  starter_rules: false\n"
    )
    work = base / "job-sloppy"
    make_job(work, "module", "ledgerkit")
    proc, seconds = tether(
        ["run", "--explore", "--allow-escalation", "--", sys.executable, "job.py"], work, home
    )
    records = llm_records(observations(home))
    print("## stream 2: a sloppy model first, escalation to the careful one\n")
    print("| submission | caught by | kept |")
    print("|---|---|---|")
    labels = ["no match", "bad regex", "duplicate when", "match everything"]
    first = records[0] if records else {}
    for label, message in zip(labels, first.get("rejections", []), strict=False):
        print(f"| {label} | validation: {message.split(':', 1)[0]} | no |")
    if first.get("outcome") == "failure":
        print(
            "| action that does not fix | verification: the job failed the same way after it ran | no |"
        )
    if len(records) > 1 and records[1].get("outcome") == "success":
        print(f"| careful engineer (secondary) | - | yes: {records[1].get('rule')} |")
    kept = sorted(p.name for p in (home / "rules").iterdir())
    print(
        f"\nexit code {proc.returncode} in {seconds:.2f}s; rules on disk afterwards: {', '.join(kept)}\n"
    )
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", type=int, default=3, help="variants per family (max 6)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tether-bench-explore-"))
    try:
        learning_curve(base, min(args.variants, 6), args.seed)
        wrong_rules(base)
    finally:
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
