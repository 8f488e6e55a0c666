"""Secrets printed by a real failing job never reach ``observations.jsonl`` (or anything in the home).

The secrets are random per test run and reach tether only through what the
job really prints, raises or is called with; recovery itself still gets the
real values (an action receives the true capture), only the records are redacted.
"""

from __future__ import annotations

import json
import secrets
import string
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import write_rule
from tether import Tether
from tether.store.redact import REDACTED


def rule(home: Path, name: str, fact: str, regex: str, action: str, params: dict[str, str]) -> None:
    text = {"name": name, "when": [{"fact": fact, "regex": regex}],
            "then": [{"action": action, "params": params}]}  # fmt: skip
    write_rule(home, name, yaml.safe_dump(text))


def records(home: Path) -> tuple[str, list[dict[str, Any]]]:
    raw = (home / "observations.jsonl").read_text(encoding="utf-8")
    return raw, [json.loads(line) for line in raw.splitlines()]


def assert_nowhere_in_home(home: Path, secret: str) -> None:
    for path in home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"{secret!r} leaked into {path}"


def random_text(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


JOB = r"""
import os, sys
from pathlib import Path
if not Path("session").exists():
    print(f"deploy: token {os.environ['DEPLOY_TOKEN']} rejected: session expired", file=sys.stderr)
    sys.exit(1)
print("deployed")
"""


def test_value_of_a_secret_named_env_var_is_redacted(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    token = random_text(32)
    monkeypatch.setenv("DEPLOY_TOKEN", token)
    rule(home, "renew-session", "stderr", r"deploy: token (?P<token>\S+) rejected", "renew_session",
         {"token": "{token}"})  # fmt: skip
    t = Tether(home, starter_rules=False, sleep=sleeps.append)
    received: list[str] = []

    @t.action("renew_session")
    def renew_session(token: str) -> None:
        received.append(token)
        Path("session").write_text("ok\n")

    # the token is also on the command line, which becomes the observation's target
    result, outcome = t.run_command([sys.executable, "-c", JOB, "--token", token], cwd=tmp_path,
                                    stream=False)  # fmt: skip

    assert result.exit_code == 0 and outcome is not None and outcome.recovered
    assert received == [token]  # the action got the real value
    raw, [obs] = records(home)
    assert token not in raw
    assert obs["captures"] == {"token": REDACTED}
    assert obs["target"].endswith(f"--token {REDACTED}")
    assert_nowhere_in_home(home, token)


KEYED_JOB = r"""
import sys
from pathlib import Path
key = (Path("keys") / "current").read_text().strip()
if not Path("keys", "valid").exists():
    print(f"openai.AuthenticationError: Incorrect API key provided: {key}", file=sys.stderr)
    sys.exit(1)
print("ok")
"""


def test_sk_keys_are_redacted_from_captures_and_action_errors(
    tmp_path: Path, home: Path, sleeps: list[float]
) -> None:
    key = "sk-proj-" + random_text(40)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "current").write_text(key + "\n")
    regex = r"Incorrect API key provided: (?P<key>\S+)"
    rule(home, "rotate-key", "stderr", regex, "rotate_key", {"key": "{key}"})
    rule(home, "mark-key-valid", "stderr", regex, "mark_valid", {})
    t = Tether(home, starter_rules=False, sleep=sleeps.append)

    @t.action("rotate_key")
    def rotate_key(key: str) -> None:
        # really fails, with the key in its message: no rotation record for this key
        (Path("keys") / f"{key}.next").read_text()

    @t.action("mark_valid")
    def mark_valid() -> None:
        (Path("keys") / "valid").write_text("")

    settings = t.settings(rules=["rotate-key", "mark-key-valid"])
    result, outcome = t.run_command([sys.executable, "-c", KEYED_JOB], cwd=tmp_path, stream=False,
                                    settings=settings)  # fmt: skip

    assert result.exit_code == 0 and outcome is not None and outcome.recovered
    assert [a.outcome for a in outcome.attempts] == ["action_error", "success"]
    assert key in (outcome.attempts[0].error or "")  # the error really carried the key
    raw, (first, second) = records(home)
    assert key not in raw and key[8:] not in raw
    assert first["captures"] == {"key": REDACTED}
    assert first["outcome"] == "action_error" and REDACTED in first["error"]
    assert second["captures"] == {"key": REDACTED}
    assert_nowhere_in_home(home, key)


DB_JOB = r"""
import sys
from pathlib import Path
dsn = sys.argv[sys.argv.index("--dsn") + 1]
if not Path("db.ready").exists():
    print(f"could not connect: {dsn}: server is starting up", file=sys.stderr)
    sys.exit(2)
print("migrated")
"""


def test_password_assignments_are_redacted(tmp_path: Path, home: Path, sleeps: list[float]) -> None:
    password = random_text(20)
    rule(home, "wait-for-db", "stderr", r"could not connect: (?P<dsn>.+): server is starting up",
         "wait_for_db", {"dsn": "{dsn}"})  # fmt: skip
    t = Tether(home, starter_rules=False, sleep=sleeps.append)
    received: list[str] = []

    @t.action("wait_for_db")
    def wait_for_db(dsn: str) -> None:
        received.append(dsn)
        Path("db.ready").write_text("")

    dsn = f"host=db.internal user=app password={password}"
    result, outcome = t.run_command([sys.executable, "-c", DB_JOB, "--dsn", dsn], cwd=tmp_path,
                                    stream=False)  # fmt: skip

    assert result.exit_code == 0 and outcome is not None and outcome.recovered
    assert received == [dsn]
    raw, [obs] = records(home)
    assert password not in raw
    assert obs["captures"] == {"dsn": f"host=db.internal user=app password={REDACTED}"}
    assert f"password={REDACTED}" in obs["target"]
    assert_nowhere_in_home(home, password)


def test_secret_in_a_marked_functions_error_is_redacted(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    token = random_text(24)
    monkeypatch.setenv("CACHE_AUTH_TOKEN", token)
    rule(home, "create-cache", "error", r"No such file or directory: '(?P<path>[^']+)'",
         "create_cache", {"path": "{path}"})  # fmt: skip
    t = Tether(home, starter_rules=False, sleep=sleeps.append)

    @t.action("create_cache")
    def create_cache(path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("{}")

    @t.mark
    def load_cache(root: Path) -> str:
        import os

        return (root / os.environ["CACHE_AUTH_TOKEN"] / "index.json").read_text()

    assert load_cache(tmp_path) == "{}"
    raw, [obs] = records(home)
    assert token not in raw
    assert obs["captures"]["path"].endswith(f"/{REDACTED}/index.json")
    assert_nowhere_in_home(home, token)


ENV_FILE_JOB = r"""
import sys
from pathlib import Path
settings = Path(".env").read_text()
if not Path("db.ready").exists():
    print(f"invalid database settings: {settings.strip()}", file=sys.stderr)
    sys.exit(1)
"""


def test_secret_named_assignments_in_output_are_redacted(
    tmp_path: Path, home: Path, sleeps: list[float]
) -> None:
    password = random_text(20)
    (tmp_path / ".env").write_text(f"DB_PASSWORD={password}\n")
    rule(home, "wait-for-db", "stderr", r"invalid database settings: (?P<settings>.+)",
         "wait_for_db", {})  # fmt: skip
    t = Tether(home, starter_rules=False, sleep=sleeps.append)
    t.action("wait_for_db")(lambda: Path("db.ready").write_text(""))

    _, outcome = t.run_command([sys.executable, "-c", ENV_FILE_JOB], cwd=tmp_path,
                                    stream=False)  # fmt: skip

    assert outcome is not None and outcome.recovered
    raw, _ = records(home)
    assert password not in raw
