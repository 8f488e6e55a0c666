"""Validation of submitted rules and action code, against the context of a real failing job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.explore.jobs import CODE, RULE, failing_context
from tether.errors import SubmissionRejected
from tether.explore.isolate import ActionSignature
from tether.explore.validate import probe_contexts, validate_submission
from tether.rules.load import load_text

EXISTING = load_text(
    "name: old-config\nwhen:\n  - {fact: stderr, contains: 'cannot open config file'}\n"
    "then: [{action: touch, params: {path: x}}]\n"
)
TOUCH = {"touch": ActionSignature("touch", ("path",), ("path",), False, "Touch a file.")}


@pytest.fixture
def context(tmp_path: Path) -> dict[str, Any]:
    return failing_context(tmp_path / "work")


def check(context: dict[str, Any], rule: str, code: str | None = CODE, **kw: Any) -> Any:
    return validate_submission(
        rule,
        code,
        context=context,
        rules=kw.get("rules", EXISTING),
        actions=kw.get("actions", TOUCH),
    )


def test_a_careful_rule_with_its_action_is_valid_and_captures_the_path(context) -> None:
    sub = check(context, RULE)
    assert sub.rule.name == "missing-config-file"
    assert sub.captures == {"path": "conf/app.ini"}
    assert list(sub.actions) == ["create_config_file"]
    assert sub.actions["create_config_file"].required == ("path",)
    assert sub.action_code == CODE


def test_an_existing_action_needs_no_code(context) -> None:
    rule = RULE.replace("create_config_file", "touch")
    assert check(context, rule, None).action_code is None


def reject(
    context: dict[str, Any], rule: str, code: str | None = CODE, **kw: Any
) -> SubmissionRejected:
    with pytest.raises(SubmissionRejected) as info:
        check(context, rule, code, **kw)
    return info.value


@pytest.mark.parametrize(
    ("rule", "check_name", "words"),
    [
        ("name: x\nwhen: [\n", "yaml", "malformed YAML"),
        ("- just\n- a list of strings\n", "yaml", "expected a mapping"),
        (RULE.replace("    regex:", "    regexp:"), "schema", "unknown field 'regexp'"),
        (RULE.replace("[^']+)'", "[^']+)(?<=x)'"), "regex", "no look-around"),
        (
            RULE.replace(
                'then:\n  - action: create_config_file\n    params: {path: "{path}"}\n', ""
            ),
            "schema",
            "then",
        ),
        (RULE + "---\nname: second\n", "yaml", "another document"),
    ],
)
def test_malformed_or_schema_breaking_rules_are_named(context, rule, check_name, words) -> None:
    error = reject(context, rule)
    assert error.check == check_name
    if words:
        assert words in str(error)


def test_a_rule_that_does_not_match_the_failure_names_the_fact_and_shows_the_text(context) -> None:
    error = reject(context, RULE.replace("cannot open config file", "cannot read settings file"))
    assert error.check == "match"
    assert "when[0] (stderr regex" in str(error)
    assert "cannot open config file 'conf/app.ini'" in str(error)  # the tail it was tested on


def test_a_fact_on_a_missing_key_lists_the_keys(context) -> None:
    error = reject(context, RULE.replace("fact: stderr", "fact: error_text"))
    assert error.check == "match" and "no key 'error_text'" in str(error) and "stderr" in str(error)


def test_a_placeholder_that_is_not_captured_is_refused(context) -> None:
    error = reject(context, RULE.replace("(?P<path>", "(?P<file>"))
    assert (error.check, error.field) == ("params", "then[0].params.path")
    assert "captures: file" in str(error)


@pytest.mark.parametrize(
    "when",
    [
        '  - {fact: stderr, regex: ".*"}\n',
        '  - {fact: stderr, regex: "(?P<path>.*)"}\n  - {fact: stdout, regex: "^"}\n',
        '  - {fact: stderr, contains: "a"}\n',
    ],
)
def test_facts_that_match_anything_are_refused(context, when) -> None:
    rule = f"name: broad\nwhen:\n{when}then: [{{action: touch, params: {{path: x}}}}]\n"
    error = reject(context, rule, None)
    assert error.check == "too_broad"


def test_a_rule_holding_for_any_failure_of_the_same_command_is_refused(context) -> None:
    rule = (
        "name: same-command\nwhen:\n  - {fact: command, contains: job.py}\n"
        "  - {fact: exit_code, equals: '1'}\nthen: [{action: touch, params: {path: x}}]\n"
    )
    error = reject(context, rule, None)
    assert error.check == "too_broad" and "unrelated failure" in str(error)


def test_probes_keep_the_job_and_change_the_failure(context) -> None:
    first, second = probe_contexts(context)
    assert first["command"] == context["command"] and first["exit_code"] == context["exit_code"]
    assert "config file" not in first["stderr"] and second["stderr"] == ""


def test_a_duplicate_when_names_the_existing_rule(context) -> None:
    rule = (
        "name: new-config\nwhen:\n  - {fact: stderr, contains: 'cannot open config file'}\n"
        "then: [{action: touch, params: {path: y}}]\n"
    )
    error = reject(context, rule, None)
    assert error.check == "duplicate" and "old-config" in str(error)
    assert "use_existing_rule('old-config')" in str(error)


def test_a_taken_rule_name_is_refused(context) -> None:
    error = reject(context, RULE.replace("name: missing-config-file", "name: old-config"))
    assert error.check == "name" and "already exists" in str(error)


def test_an_unknown_action_lists_the_known_ones(context) -> None:
    error = reject(context, RULE, None)
    assert error.check == "action" and "create_config_file" in str(error) and "touch" in str(error)


def test_code_redefining_an_existing_action_is_refused(context) -> None:
    code = CODE.replace('@action("create_config_file")', '@action("touch")')
    error = reject(context, RULE.replace("create_config_file", "touch"), code)
    assert error.check == "action" and "read-only" in str(error)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("def broken(:\n", "not valid Python"),
        ("import tether_no_such_module_xyz\n", "ModuleNotFoundError"),
        (
            "from tether import action\n\ndef create_config_file(path: str) -> None: ...\n",
            "registers no action",
        ),
        ("import time\ntime.sleep(60)\n", "did not finish in time"),
    ],
)
def test_code_that_does_not_import_cleanly_is_refused(context, code, words, monkeypatch) -> None:
    monkeypatch.setattr("tether.explore.isolate.IMPORT_TIMEOUT_S", 1.5)
    error = reject(context, RULE, code)
    assert error.check == "code" and words in str(error)


def test_code_writing_outside_its_directory_at_import_is_refused_and_nothing_is_written(
    context, tmp_path: Path
) -> None:
    target = tmp_path / "outside.txt"
    code = CODE + f"\nopen({str(target)!r}, 'w').write('pwned')\n"
    error = reject(context, RULE, code)
    assert error.check == "code" and "outside.txt" in str(error) and "refused" in str(error)
    assert not target.exists()


def test_a_step_passing_params_the_action_does_not_take_is_refused(context) -> None:
    rule = RULE.replace('params: {path: "{path}"}', 'params: {path: "{path}", mode: "600"}')
    error = reject(context, rule)
    assert error.check == "signature" and "mode" in str(error)


def test_a_step_missing_a_required_param_is_refused(context) -> None:
    error = reject(context, RULE.replace('params: {path: "{path}"}', "params: {}"))
    assert error.check == "signature" and "requires path" in str(error)
