"""Precision of the shell families' rules on real failures: which rules hold, and what they capture.

The write rules must not hold for the read-side twin and the reverse; captures
are always set. Every context here comes from running the real tool in tmp_path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.starter.corpus_shell import CASES
from tests.starter.support import captures, need, real_context, rule_names
from tether import Tether
from tether.starter import STARTER_DIR

BY_ID = {case.id: case for case in CASES}
SHELL_RULES = {
    path.name.removesuffix(".rule.yaml")
    for pattern in (
        "missing-output-directory-*",
        "config-from-template*",
        "shell-missing-path*",
        "stale-*",
        "configure-not-run",
        "script-not-executable",
        "merge-conflict-*",
        "git-index-lock",
    )
    for path in STARTER_DIR.glob(pattern + ".rule.yaml")
}
"""The rules of the shell families (the other starter rules are the projects families')."""


def context_of(case_id: str, work: Path) -> dict[str, object]:
    """The real failure context of corpus case ``case_id``, built in ``work``."""
    case = BY_ID[case_id]
    for tool in case.needs:
        need(tool)
    return real_context(case.setup(work), work)


@pytest.mark.parametrize(
    ("case_id", "rules", "path"),
    [
        ("missing-output-dir/python-open-a", ["missing-output-directory-python"], "out/log.txt"),
        ("missing-output-dir/python-open-w-variable", ["missing-output-directory-python"], None),
        ("missing-output-dir/python-write-text", ["missing-output-directory-python"], "out/y.txt"),
        ("missing-output-dir/python-open-read", ["config-from-template-python"], "out/x.txt"),
        ("missing-output-dir/python-read-text", ["config-from-template-python"], "out/y.txt"),
        ("missing-output-dir/dash-redirect", ["missing-output-directory-dash"], "out/x.txt"),
        ("missing-output-dir/dash-script-append", ["missing-output-directory-dash"], None),
        ("missing-output-dir/bash-redirect", ["shell-missing-path"], "out/x.txt"),
        ("missing-output-dir/bash-script-redirect", ["shell-missing-path-script"], None),
        ("missing-output-dir/node-writeFileSync", ["missing-output-directory-node"], "out/x.txt"),
        ("missing-output-dir/node-createWriteStream", ["missing-output-directory-node"], None),
        ("missing-output-dir/node-promises-writeFile", ["missing-output-directory-node"], None),
        ("missing-output-dir/node-readFileSync", [], None),
        ("missing-output-dir/gcc-compile", ["missing-output-directory-ld"], "obj/h.o"),
        ("missing-output-dir/gcc-syntax-error", [], None),
        ("missing-output-dir/mv", ["missing-output-directory-coreutils"], "dist/app.js"),
        ("missing-output-dir/cp-missing-source", [], None),
        ("missing-output-dir/tar-create", ["missing-output-directory-tar"], "dist/src.tar"),
        ("config-template/node-require", ["config-from-template-node"], "./config.json"),
        ("config-template/node-require-package", [], None),
        ("config-template/make-include", ["config-from-template-make"], "config.mk"),
        ("config-template/make-missing-target", [], None),
        ("config-template/dash-dot", ["config-from-template-dash"], "./env.sh"),
        ("config-template/bash-source", ["shell-missing-path"], "env.sh"),
        ("config-template/bash-run-missing-script", [], None),
        ("stale-lock/mkdir-lock-dead-pid", ["stale-lock-directory"], "job.lock"),
        ("stale-lock/mkdir-existing-dir", [], None),
        ("stale-lock/noclobber-bash", ["stale-noclobber-lock"], "deploy.lock"),
        ("stale-lock/noclobber-dash", ["stale-noclobber-lock"], "deploy.lock"),
        ("configure/make-no-makefile", ["configure-not-run"], None),
        ("script-not-executable/npm-script", ["script-not-executable"], "./x.sh"),
        ("merge-conflict/python", ["merge-conflict-python"], None),
        ("merge-conflict/bash", ["merge-conflict-shell"], "run.sh"),
        ("merge-conflict/dash", ["merge-conflict-shell"], "run.sh"),
        ("merge-conflict/node-json", ["merge-conflict-json"], None),
        ("merge-conflict/yaml", ["merge-conflict-yaml"], "c.yaml"),
        ("merge-conflict/python-syntax-error", [], None),
    ],
)
def test_rules_that_hold(
    case_id: str, rules: list[str], path: str | None, work: Path, engine: Tether
) -> None:
    context = context_of(case_id, work)
    held = [name for name in rule_names(engine, context) if name in SHELL_RULES]
    assert held == rules, context["stderr"]
    if rules and path is not None:
        assert captures(engine, rules[0], context).get("path") == path


def test_the_python_template_rule_never_holds_for_a_write(work: Path, engine: Tether) -> None:
    """Today's bug: config-from-template-python held for open(path, 'w')."""
    for number, source in enumerate(
        ["open('out/a.toml', 'w')", "open('out/a.toml', mode='x')", "open('out/a.toml', 'ab')"]
    ):
        script = work / f"w{number}.py"
        script.write_text(source + "\n")
        context = real_context([shutil.which("python3") or "python3", script.name], work)
        assert rule_names(engine, context) == ["missing-output-directory-python"], source


def test_the_script_rule_captures_script_and_line(work: Path, engine: Tether) -> None:
    context = context_of("missing-output-dir/bash-script-redirect", work)
    assert captures(engine, "shell-missing-path-script", context) == {
        "script": "build.sh",
        "line": "2",
        "path": "dist/two.txt",
    }


def test_node_require_captures_the_requiring_file(work: Path, engine: Tether) -> None:
    context = context_of("config-template/node-require-nested", work)
    got = captures(engine, "config-from-template-node", context)
    assert got["path"] == "../conf/app.json"
    assert Path(got["origin"]) == (work / "src" / "index.js").resolve()
