"""The "shell" families' corpus: output directories, templates, locks, configure, +x, merge conflicts.

Every case builds a real scenario in an empty directory and returns the argv
that really fails there (or passes, or fails for an unrelated reason: the
``not-fired`` cases). The tests (``test_shell_corpus.py``) and
``benchmarks/bench_starter.py`` run them through ``Tether.run_command``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.starter.corpus import Case, Expect

PYTHON = sys.executable
SCRIPT = "#!/bin/sh\necho built\n"
HELLO_C = "int main(void) { return 0; }\n"

CASES: list[Case] = []


def case(
    family: str, name: str, expect: Expect, needs: tuple[str, ...] = ()
) -> Callable[[Callable[[Path], list[str]]], Callable[[Path], list[str]]]:
    """Register the decorated setup as a case of ``CASES``."""

    def register(setup: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
        CASES.append(Case(family, name, setup, expect, needs=needs))
        return setup

    return register


def write(path: Path, text: str, mode: int | None = None) -> Path:
    """Write ``text`` to ``path`` (parents made), optionally with permission bits ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


def dead_pid() -> int:
    """The pid of a real process that has exited (and been reaped)."""
    proc = subprocess.Popen([PYTHON, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- missing output directories ---------------------------------------------------------------

OUT = "missing-output-dir"


@case(OUT, "python-open-a", "recovered")
def _python_open_a(d: Path) -> list[str]:
    write(d / "app.py", "with open('out/log.txt', 'a') as fh:\n    fh.write('x')\n")
    return [PYTHON, "app.py"]


@case(OUT, "python-open-w-variable", "recovered")
def _python_open_w(d: Path) -> list[str]:
    write(d / "app.py", "p = 'build/report.txt'\nf = open(p, mode='w')\nf.write('x')\n")
    return [PYTHON, "app.py"]


@case(OUT, "python-write-text", "recovered")
def _python_write_text(d: Path) -> list[str]:
    write(d / "app.py", "import pathlib\npathlib.Path('out/y.txt').write_text('x')\n")
    return [PYTHON, "app.py"]


@case(OUT, "python-open-read", "not-fired")
def _python_open_read(d: Path) -> list[str]:
    write(d / "app.py", "print(open('out/x.txt').read())\n")
    return [PYTHON, "app.py"]


@case(OUT, "python-read-text", "not-fired")
def _python_read_text(d: Path) -> list[str]:
    write(d / "app.py", "import pathlib\nprint(pathlib.Path('out/y.txt').read_text())\n")
    return [PYTHON, "app.py"]


@case(OUT, "python-open-outside", "not-fired")
def _python_open_outside(d: Path) -> list[str]:
    write(d / "app.py", "open('../elsewhere/sub/out.txt', 'w')\n")
    return [PYTHON, "app.py"]


@case(OUT, "dash-redirect", "recovered", needs=("dash",))
def _dash_redirect(d: Path) -> list[str]:
    return ["dash", "-c", "echo hi > out/x.txt"]


@case(OUT, "dash-script-append", "recovered", needs=("dash",))
def _dash_script(d: Path) -> list[str]:
    write(d / "build.sh", "echo one\necho two >> logs/build.log\n")
    return ["dash", "build.sh"]


@case(OUT, "bash-redirect", "recovered", needs=("bash",))
def _bash_redirect(d: Path) -> list[str]:
    return ["bash", "-c", "echo hi > out/x.txt && cat out/x.txt"]


@case(OUT, "bash-script-redirect", "recovered", needs=("bash",))
def _bash_script(d: Path) -> list[str]:
    write(d / "build.sh", "echo one\necho two > dist/two.txt\n")
    return ["bash", "build.sh"]


@case(OUT, "bash-read-redirect", "not-fired", needs=("bash",))
def _bash_read(d: Path) -> list[str]:
    return ["bash", "-c", "cat < out/x.txt > copy.txt"]


@case(OUT, "bash-redirect-outside", "not-fired", needs=("bash",))
def _bash_outside(d: Path) -> list[str]:
    return ["bash", "-c", "echo hi > ../elsewhere/sub/x.txt"]


@case(OUT, "node-writeFileSync", "recovered", needs=("node",))
def _node_write(d: Path) -> list[str]:
    return ["node", "-e", "require('fs').writeFileSync('out/x.txt', 'x')"]


@case(OUT, "node-createWriteStream", "recovered", needs=("node",))
def _node_stream(d: Path) -> list[str]:
    return ["node", "-e", "require('fs').createWriteStream('out/x.txt').write('x')"]


@case(OUT, "node-promises-writeFile", "recovered", needs=("node",))
def _node_promises(d: Path) -> list[str]:
    return ["node", "-e", "require('fs').promises.writeFile('out/x.txt', 'x')"]


@case(OUT, "node-readFileSync", "not-fired", needs=("node",))
def _node_read(d: Path) -> list[str]:
    return ["node", "-e", "require('fs').readFileSync('out/x.txt')"]


@case(OUT, "gcc-link", "recovered", needs=("gcc",))
def _gcc_link(d: Path) -> list[str]:
    write(d / "h.c", HELLO_C)
    return ["gcc", "-o", "out/h", "h.c"]


@case(OUT, "gcc-compile", "recovered", needs=("gcc",))
def _gcc_compile(d: Path) -> list[str]:
    write(d / "h.c", HELLO_C)
    return ["gcc", "-c", "h.c", "-o", "obj/h.o"]


@case(OUT, "gcc-syntax-error", "not-fired", needs=("gcc",))
def _gcc_error(d: Path) -> list[str]:
    write(d / "h.c", "int main(void) { return 0 }\n")
    return ["gcc", "-c", "h.c", "-o", "h.o"]


@case(OUT, "cp", "recovered")
def _cp(d: Path) -> list[str]:
    write(d / "app.js", "1\n")
    return ["cp", "app.js", "dist/app.js"]


@case(OUT, "mv", "recovered")
def _mv(d: Path) -> list[str]:
    write(d / "app.js", "1\n")
    return ["mv", "app.js", "dist/app.js"]


@case(OUT, "touch", "recovered")
def _touch(d: Path) -> list[str]:
    return ["touch", "logs/run.log"]


@case(OUT, "cp-missing-source", "not-fired")
def _cp_missing(d: Path) -> list[str]:
    return ["cp", "nope.js", "dist/app.js"]


@case(OUT, "tar-create", "recovered", needs=("tar",))
def _tar_create(d: Path) -> list[str]:
    write(d / "h.c", HELLO_C)
    return ["tar", "-cf", "dist/src.tar", "h.c"]


@case(OUT, "tar-extract-C", "recovered", needs=("tar", "bash"))
def _tar_extract(d: Path) -> list[str]:
    write(d / "h.c", HELLO_C)
    subprocess.run(["tar", "-cf", "src.tar", "h.c"], cwd=d, check=True)
    return ["bash", "-c", "tar -xf src.tar -C unpacked && test -f unpacked/h.c"]


@case(OUT, "tar-extract-missing-archive", "not-fired", needs=("tar",))
def _tar_missing(d: Path) -> list[str]:
    return ["tar", "-xf", "dist/src.tar"]


@case(OUT, "tar-create-from-missing-C", "not-fired", needs=("tar",))
def _tar_from_missing(d: Path) -> list[str]:
    return ["tar", "-cf", "/dev/null", "-C", "nodir", "."]


@case(OUT, "passing", "not-fired")
def _passing(d: Path) -> list[str]:
    return ["sh", "-c", "mkdir -p out && echo hi > out/x.txt"]


# -- config from a template -------------------------------------------------------------------

CONFIG = "config-template"


@case(CONFIG, "python-read", "recovered")
def _py_config(d: Path) -> list[str]:
    write(d / "app.py", "print(open('settings.toml').read(), end='')\n")
    write(d / "settings.toml.sample", 'name = "demo"\n')
    return [PYTHON, "app.py"]


@case(CONFIG, "python-read-no-template", "not-fired")
def _py_config_none(d: Path) -> list[str]:
    write(d / "app.py", "print(open('settings.toml').read())\n")
    return [PYTHON, "app.py"]


@case(CONFIG, "node-require", "recovered", needs=("node",))
def _node_require(d: Path) -> list[str]:
    write(d / "index.js", "console.log(require('./config.json').port)\n")
    write(d / "config.json.example", '{"port": 8080}\n')
    return ["node", "index.js"]


@case(CONFIG, "node-require-nested", "recovered", needs=("node",))
def _node_require_nested(d: Path) -> list[str]:
    write(d / "src" / "index.js", "console.log(require('../conf/app.json').port)\n")
    write(d / "conf" / "app.example.json", '{"port": 8080}\n')
    return ["node", "src/index.js"]


@case(CONFIG, "node-require-package", "not-fired", needs=("node",))
def _node_require_pkg(d: Path) -> list[str]:
    write(d / "index.js", "require('leftpad-nonexistent')\n")
    return ["node", "index.js"]


@case(CONFIG, "make-include", "recovered", needs=("make",))
def _make_include(d: Path) -> list[str]:
    write(d / "Makefile", "include config.mk\nall:\n\t@echo $(X)\n")
    write(d / "config.mk.dist", "X = 1\n")
    return ["make"]


@case(CONFIG, "make-missing-target", "not-fired", needs=("make",))
def _make_target(d: Path) -> list[str]:
    write(d / "Makefile", "all: gen.c\n\t@echo ok\n")
    return ["make"]


@case(CONFIG, "bash-source", "recovered", needs=("bash",))
def _bash_source(d: Path) -> list[str]:
    write(d / "env.sh.sample", "X=1\n")
    return ["bash", "-c", 'source env.sh && test "$X" = 1']


@case(CONFIG, "bash-script-source", "recovered", needs=("bash",))
def _bash_script_source(d: Path) -> list[str]:
    write(d / "env.sh.example", "X=1\n")
    write(d / "run.sh", 'set -e\n. ./env.sh\ntest "$X" = 1\n')
    return ["bash", "run.sh"]


@case(CONFIG, "dash-dot", "recovered", needs=("dash",))
def _dash_dot(d: Path) -> list[str]:
    write(d / "env.sh.template", "X=1\n")
    return ["dash", "-c", '. ./env.sh; test "$X" = 1']


@case(CONFIG, "bash-run-missing-script", "not-fired", needs=("bash",))
def _bash_missing(d: Path) -> list[str]:
    write(d / "deploy.sh.example", "echo deploy\n")
    return ["bash", "-c", "./deploy.sh"]


# -- stale locks ------------------------------------------------------------------------------

LOCK = "stale-lock"
MKDIR_LOCK = "mkdir job.lock && echo $$ > job.lock/pid && echo locked && rm -r job.lock"


@case(LOCK, "mkdir-lock-dead-pid", "recovered")
def _mkdir_lock(d: Path) -> list[str]:
    write(d / "job.lock" / "pid", f"{dead_pid()}\n")
    return ["sh", "-c", MKDIR_LOCK]


@case(LOCK, "mkdir-lock-no-pid", "not-fired")
def _mkdir_lock_empty(d: Path) -> list[str]:
    (d / "job.lock").mkdir()
    return ["sh", "-c", MKDIR_LOCK]


@case(LOCK, "mkdir-existing-dir", "not-fired")
def _mkdir_existing(d: Path) -> list[str]:
    write(d / "build" / "pid", f"{dead_pid()}\n")
    return ["mkdir", "build"]


@case(LOCK, "noclobber-bash", "recovered", needs=("bash",))
def _noclobber_bash(d: Path) -> list[str]:
    write(d / "deploy.lock", f"{dead_pid()}\n")
    return ["bash", "-c", "set -C; echo $$ > deploy.lock && echo deploying"]


@case(LOCK, "noclobber-dash", "recovered", needs=("dash",))
def _noclobber_dash(d: Path) -> list[str]:
    write(d / "deploy.lock", f"{dead_pid()}\n")
    return ["dash", "-c", "set -C; echo $$ > deploy.lock && echo deploying"]


@case(LOCK, "noclobber-live-pid", "not-fired", needs=("bash",))
def _noclobber_live(d: Path) -> list[str]:
    write(d / "deploy.lock", "1\n")  # init: always running
    return ["bash", "-c", "set -C; echo $$ > deploy.lock"]


@case(LOCK, "noclobber-output-file", "not-fired", needs=("bash",))
def _noclobber_output(d: Path) -> list[str]:
    write(d / "out.txt", f"{dead_pid()}\n")
    return ["bash", "-c", "set -C; echo 1 > out.txt"]


# -- ./configure never run --------------------------------------------------------------------

CONFIGURE = "configure"
CONFIGURE_SH = '#!/bin/sh\necho "checking... ok"\nprintf "all:\\n\\t@echo built\\n" > Makefile\n'


@case(CONFIGURE, "make-no-makefile", "recovered", needs=("make",))
def _configure(d: Path) -> list[str]:
    write(d / "configure", CONFIGURE_SH, 0o755)
    return ["make"]


@case(CONFIGURE, "no-configure", "not-fired", needs=("make",))
def _no_configure(d: Path) -> list[str]:
    write(d / "README", "nothing to build\n")
    return ["make"]


@case(CONFIGURE, "configure-fails", "not-fired", needs=("make",))
def _configure_fails(d: Path) -> list[str]:
    write(d / "configure", "#!/bin/sh\necho 'error: no C compiler' >&2\nexit 1\n", 0o755)
    return ["make"]


# -- scripts without +x -----------------------------------------------------------------------

EXEC = "script-not-executable"


@case(EXEC, "direct", "recovered")
def _direct(d: Path) -> list[str]:
    write(d / "build.sh", SCRIPT, 0o644)
    return ["./build.sh"]


@case(EXEC, "make", "recovered", needs=("make",))
def _make_exec(d: Path) -> list[str]:
    write(d / "Makefile", "all:\n\t./gen.sh\n")
    write(d / "gen.sh", SCRIPT, 0o644)
    return ["make", "-s"]


@case(EXEC, "npm-script", "recovered", needs=("npm",))
def _npm_exec(d: Path) -> list[str]:
    write(d / "package.json", '{"name": "x", "version": "1.0.0", "scripts": {"build": "./x.sh"}}\n')
    write(d / "x.sh", SCRIPT, 0o644)
    return ["npm", "run", "--silent", "build"]


@case(EXEC, "not-a-script", "not-fired")
def _not_script(d: Path) -> list[str]:
    write(d / "notes.txt", "text\n", 0o644)
    return ["./notes.txt"]


# -- merge-conflict markers (recognised, never fixed) -----------------------------------------

MERGE = "merge-conflict"


def conflicted(d: Path, name: str, ours: str, theirs: str, base: str) -> None:
    """Make ``name`` in ``d`` conflicted by a real ``git merge`` (a repository in ``d``)."""
    env_args = ["-c", "user.name=t", "-c", "user.email=t@x", "-c", "init.defaultBranch=main"]

    def git(*args: str) -> None:
        subprocess.run(["git", *env_args, *args], cwd=d, check=True, capture_output=True)

    git("init", "-q")
    write(d / name, base)
    git("add", name)
    git("commit", "-qm", "base")
    git("checkout", "-qb", "other")
    write(d / name, theirs)
    git("commit", "-qam", "theirs")
    git("checkout", "-q", "main")
    write(d / name, ours)
    git("commit", "-qam", "ours")
    subprocess.run(["git", *env_args, "merge", "other"], cwd=d, capture_output=True)


@case(MERGE, "python", "recognised", needs=("git",))
def _merge_python(d: Path) -> list[str]:
    conflicted(d, "app.py", "x = 3\nprint(x)\n", "x = 2\nprint(x)\n", "x = 1\nprint(x)\n")
    return [PYTHON, "app.py"]


@case(MERGE, "bash", "recognised", needs=("git", "bash"))
def _merge_bash(d: Path) -> list[str]:
    conflicted(d, "run.sh", "echo three\n", "echo two\n", "echo one\n")
    return ["bash", "run.sh"]


@case(MERGE, "dash", "recognised", needs=("git", "dash"))
def _merge_dash(d: Path) -> list[str]:
    conflicted(d, "run.sh", "echo three\n", "echo two\n", "echo one\n")
    return ["dash", "run.sh"]


@case(MERGE, "node-json", "recognised", needs=("git", "node"))
def _merge_json(d: Path) -> list[str]:
    conflicted(d, "c.json", '{"a": 3}\n', '{"a": 2}\n', '{"a": 1}\n')
    return ["node", "-e", "require('./c.json')"]


@case(MERGE, "yaml", "recognised", needs=("git",))
def _merge_yaml(d: Path) -> list[str]:
    conflicted(d, "c.yaml", "a: 3\n", "a: 2\n", "a: 1\n")
    return [PYTHON, "-c", "import yaml; yaml.safe_load(open('c.yaml'))"]


@case(MERGE, "python-syntax-error", "not-fired")
def _python_syntax(d: Path) -> list[str]:
    write(d / "app.py", "x = = 1\n")
    return [PYTHON, "app.py"]


@case(MERGE, "yaml-tab-error", "not-fired")
def _yaml_error(d: Path) -> list[str]:
    write(d / "c.yaml", "a: 1\n  b: 2\n")
    return [PYTHON, "-c", "import yaml; yaml.safe_load(open('c.yaml'))"]
