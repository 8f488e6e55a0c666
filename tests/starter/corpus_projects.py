"""The "projects" families' corpus: npm and venv dependencies, src layout, and the opt-in packs.

Every case builds a real scenario in an empty directory and returns the argv
that really fails there (or passes, or fails for an unrelated reason: the
``not-fired`` cases). Installs never reach a network: npm dependencies are
``file:./vendor/...`` packages, pip finds a wheel built here in ``vendor/``
(``--no-index --find-links vendor`` in the requirements file). The tests
(``test_projects_corpus.py``) and ``benchmarks/bench_starter.py`` run them
through ``Tether.run_command``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.starter.corpus import Case, Expect
from tether import Tether
from tether.starter import load_starter

PYTHON = sys.executable

CASES: list[Case] = []


def engine_with_packs(home: Path, packs: tuple[str, ...], sleep: list[float]) -> Tether:
    """An engine over the starter pack plus ``packs``, enabled through ``config.yaml``.

    Until the engine reads ``engine.packs``, the packs' rules are added to its book here.
    """
    if packs:
        (home / "config.yaml").write_text(f"engine:\n  packs: [{', '.join(packs)}]\n")
    engine = Tether(home=home, sleep=sleep.append)
    for rule in load_starter(packs):
        if rule.name not in engine.book:
            engine.book.add(rule)
    return engine


def case(
    family: str,
    name: str,
    expect: Expect,
    needs: tuple[str, ...] = (),
    packs: tuple[str, ...] = (),
) -> Callable[[Callable[[Path], list[str]]], Callable[[Path], list[str]]]:
    """Register the decorated setup as a case of ``CASES``."""

    def register(setup: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
        CASES.append(Case(family, name, setup, expect, packs=packs, needs=needs))
        return setup

    return register


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (parents made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def sh(argv: list[str], cwd: Path) -> None:
    """Run a setup command; it must succeed."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv}: {done.stderr}"


# -- npm ----------------------------------------------------------------------------------------

NPM = "npm-deps"


def npm_project(d: Path, *, declare: bool = True, lockfile: bool = False) -> None:
    """A project with local packages ``left-pad`` (a module) and ``fakelint`` (a binary) in vendor/."""
    write(d / "vendor/left-pad/package.json", '{"name": "left-pad", "version": "1.0.0"}\n')
    write(d / "vendor/left-pad/index.js", "module.exports = (s, n) => String(s).padStart(n);\n")
    write(
        d / "vendor/fakelint/package.json",
        '{"name": "fakelint", "version": "1.0.0", "bin": {"fakelint": "bin/lint.js"}}\n',
    )
    write(d / "vendor/fakelint/bin/lint.js", '#!/usr/bin/env node\nconsole.log("lint ok");\n')
    manifest: dict[str, object] = {
        "name": "demo",
        "version": "1.0.0",
        "scripts": {"lint": "fakelint", "fmt": "prettier-ish ."},
    }
    if declare:
        manifest["dependencies"] = {"left-pad": "file:./vendor/left-pad"}
        manifest["devDependencies"] = {"fakelint": "file:./vendor/fakelint"}
    write(d / "package.json", json.dumps(manifest, indent=2) + "\n")
    if lockfile:
        sh(["npm", "install", "--no-audit", "--no-fund", "--package-lock-only"], d)


@case(NPM, "require-declared", "recovered", needs=("node", "npm"))
def _npm_require(d: Path) -> list[str]:
    npm_project(d)
    write(d / "index.js", 'console.log(require("left-pad")("x", 3));\n')
    return ["node", "index.js"]


@case(NPM, "esm-import-declared", "recovered", needs=("node", "npm"))
def _npm_esm(d: Path) -> list[str]:
    npm_project(d)
    write(d / "index.mjs", 'import pad from "left-pad";\nconsole.log(pad("x", 3));\n')
    return ["node", "index.mjs"]


@case(NPM, "npm-run-binary", "recovered", needs=("node", "npm"))
def _npm_run_binary(d: Path) -> list[str]:
    npm_project(d)
    return ["npm", "run", "lint"]


@case(NPM, "npm-ci-with-lockfile", "recovered", needs=("node", "npm"))
def _npm_ci(d: Path) -> list[str]:
    npm_project(d, lockfile=True)
    return ["npm", "run", "lint"]


@case(NPM, "passing", "not-fired", needs=("node",))
def _npm_passing(d: Path) -> list[str]:
    npm_project(d)
    return ["node", "-e", "console.log(1)"]


@case(NPM, "undeclared-package", "not-fired", needs=("node", "npm"))
def _npm_undeclared(d: Path) -> list[str]:
    npm_project(d, declare=False)
    write(d / "index.js", 'require("left-pad");\n')
    return ["node", "index.js"]


@case(NPM, "relative-module", "not-fired", needs=("node", "npm"))
def _npm_relative(d: Path) -> list[str]:
    npm_project(d)
    write(d / "index.js", 'require("./lib/missing");\n')
    return ["node", "index.js"]


@case(NPM, "npm-run-undeclared-binary", "not-fired", needs=("node", "npm"))
def _npm_undeclared_binary(d: Path) -> list[str]:
    npm_project(d)
    return ["npm", "run", "fmt"]


@case(NPM, "unrelated-node-error", "not-fired", needs=("node", "npm"))
def _npm_unrelated(d: Path) -> list[str]:
    npm_project(d)
    write(d / "index.js", 'throw new Error("Cannot reach the database");\n')
    return ["node", "index.js"]


# -- Python: the project's venv -----------------------------------------------------------------

VENV = "python-venv"


def wheel(directory: Path, dist: str, module: str, body: str = "VALUE = 7\n") -> Path:
    """Build a real (pure-Python) wheel of ``dist`` providing ``module`` into ``directory``."""
    stem = dist.replace("-", "_")
    info = f"{stem}-1.0.dist-info"
    files = {
        f"{module}/__init__.py": body,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tether-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(f"{info}/RECORD", record)
    return path


def venv_project(d: Path, *, manifest: str = "requirements", declare: bool = True) -> str:
    """A project with a ``.venv`` (no pip) and ``demo_dep`` in ``vendor/``; returns the venv python."""
    sh([PYTHON, "-m", "venv", "--without-pip", ".venv"], d)
    wheel(d / "vendor", "demo-dep", "demo_dep")
    write(d / "app.py", "import demo_dep\nprint(demo_dep.VALUE)\n")
    name = "demo-dep==1.0" if declare else "something-else==1.0"
    if manifest == "requirements":
        write(d / "requirements.txt", f"--no-index\n--find-links vendor\n{name}\n")
    else:  # a direct reference to the local wheel: pip needs no index
        url = (d / "vendor" / "demo_dep-1.0-py3-none-any.whl").as_uri()
        spec = f"demo-dep @ {url}" if declare else name
        write(
            d / "pyproject.toml",
            f'[project]\nname = "demo"\nversion = "0"\ndependencies = ["{spec}"]\n',
        )
    return str(d / ".venv" / "bin" / "python")


@case(VENV, "requirements-txt", "recovered")
def _venv_requirements(d: Path) -> list[str]:
    return [venv_project(d), "app.py"]


@case(VENV, "pyproject-toml", "recovered")
def _venv_pyproject(d: Path) -> list[str]:
    return [venv_project(d, manifest="pyproject"), "app.py"]


@case(VENV, "undeclared", "not-fired")
def _venv_undeclared(d: Path) -> list[str]:
    return [venv_project(d, declare=False), "app.py"]


@case(VENV, "not-the-venv-interpreter", "not-fired")
def _venv_other_python(d: Path) -> list[str]:
    venv_project(d)
    return [PYTHON, "-I", "app.py"]


@case(VENV, "unrelated-error", "not-fired")
def _venv_unrelated(d: Path) -> list[str]:
    python = venv_project(d)
    write(d / "app.py", "raise SystemExit('config is broken')\n")
    return [python, "app.py"]


@case(VENV, "passing", "not-fired")
def _venv_passing(d: Path) -> list[str]:
    python = venv_project(d)
    write(d / "app.py", "print('ok')\n")
    return [python, "app.py"]


# -- Python: src layout -------------------------------------------------------------------------

SRC = "python-src-layout"


def src_project(d: Path) -> None:
    """``src/srcdemo`` and a test importing it."""
    write(d / "src/srcdemo/__init__.py", "VALUE = 42\n")
    write(
        d / "tests/test_value.py",
        "import srcdemo\n\ndef test_value():\n    assert srcdemo.VALUE == 42\n",
    )


@case(SRC, "python-import", "recovered")
def _src_python(d: Path) -> list[str]:
    src_project(d)
    return [PYTHON, "-c", "import srcdemo; print(srcdemo.VALUE)"]


@case(SRC, "pytest-collection", "recovered")
def _src_pytest(d: Path) -> list[str]:
    src_project(d)
    return [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]


@case(SRC, "pytest-module-not-in-src", "not-fired")
def _src_not_in_src(d: Path) -> list[str]:
    src_project(d)
    write(d / "tests/test_value.py", "import elsewhere_pkg\n\ndef test_value():\n    pass\n")
    return [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]


@case(SRC, "pytest-failing-assert", "not-fired")
def _src_failing_test(d: Path) -> list[str]:
    src_project(d)
    write(d / "tests/test_value.py", "def test_value():\n    assert 1 == 2\n")
    return [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]


# -- pack: git-upstream -------------------------------------------------------------------------

GIT = "pack-git-upstream"


def git_repo(d: Path, branch: str = "feature/x-1", remote: bool = True) -> None:
    """A repository with one commit on ``branch`` and, when ``remote``, a bare ``origin`` beside it."""
    sh(["git", "init", "-q", "-b", "main", "."], d)
    ident = ["-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "commit.gpgsign=false"]
    sh(["git", *ident, "commit", "-q", "--allow-empty", "-m", "start"], d)
    sh(["git", "switch", "-q", "-c", branch], d)
    if remote:
        origin = d.parent / f"{d.name}-origin.git"
        sh(["git", "init", "-q", "--bare", str(origin)], d)
        sh(["git", "remote", "add", "origin", str(origin)], d)


@case(GIT, "push-new-branch", "recovered", needs=("git",), packs=("git-upstream",))
def _git_push(d: Path) -> list[str]:
    git_repo(d)
    return ["git", "push"]


@case(GIT, "push-without-remote", "not-fired", needs=("git",), packs=("git-upstream",))
def _git_no_remote(d: Path) -> list[str]:
    git_repo(d, remote=False)
    return ["git", "push"]


# -- pack: dotenv --------------------------------------------------------------------------------

DOTENV = "pack-dotenv"
LOAD_DOTENV = (
    "import os\n"
    "for line in open('.env') if os.path.exists('.env') else []:\n"
    "    k, _, v = line.strip().partition('=')\n"
    "    os.environ.setdefault(k, v)\n"
)


@case(DOTENV, "python-environ", "recovered", packs=("dotenv",))
def _dotenv_python(d: Path) -> list[str]:
    write(d / ".env.example", "# copy to .env\nDATABASE_URL=sqlite:///dev.db\nDEBUG=1\n")
    write(d / ".env", "DEBUG=1")
    write(d / "app.py", LOAD_DOTENV + "print(os.environ['DATABASE_URL'])\n")
    return [PYTHON, "app.py"]


@case(DOTENV, "shell-unbound", "recovered", needs=("bash",), packs=("dotenv",))
def _dotenv_shell(d: Path) -> list[str]:
    write(d / ".env.example", "export API_TOKEN=changeme\n")
    write(d / "run.sh", 'set -eu\nif [ -f .env ]; then . ./.env; fi\necho "token $API_TOKEN"\n')
    return ["bash", "run.sh"]


@case(DOTENV, "not-in-example", "not-fired", packs=("dotenv",))
def _dotenv_absent(d: Path) -> list[str]:
    write(d / ".env.example", "DEBUG=1\n")
    write(d / "app.py", LOAD_DOTENV + "print(os.environ['DATABASE_URL'])\n")
    return [PYTHON, "app.py"]


@case(DOTENV, "dict-keyerror", "not-fired", packs=("dotenv",))
def _dotenv_dict(d: Path) -> list[str]:
    write(d / ".env.example", "DATABASE_URL=x\n")
    write(d / "app.py", "settings = {}\nprint(settings['DATABASE_URL'])\n")
    return [PYTHON, "app.py"]


# -- pack: json-trailing-commas ------------------------------------------------------------------

JSON = "pack-json-trailing-commas"
TRAILING = '{\n  "name": "a, b",\n  "list": [1, 2,],\n  "url": "http://x/,}",\n}\n'


@case(JSON, "python-json-load", "recovered", packs=("json-trailing-commas",))
def _json_python(d: Path) -> list[str]:
    write(d / "config.json", TRAILING)
    write(d / "app.py", "import json\nprint(json.load(open('config.json'))['name'])\n")
    return [PYTHON, "app.py"]


@case(JSON, "jq", "recovered", needs=("jq",), packs=("json-trailing-commas",))
def _json_jq(d: Path) -> list[str]:
    write(d / "config.json", TRAILING)
    return ["jq", ".name", "config.json"]


@case(JSON, "node-require", "recovered", needs=("node",), packs=("json-trailing-commas",))
def _json_require(d: Path) -> list[str]:
    write(d / "config.json", TRAILING)
    return ["node", "-e", 'console.log(require("./config.json").name)']


@case(JSON, "node-json-parse", "recovered", needs=("node",), packs=("json-trailing-commas",))
def _json_parse(d: Path) -> list[str]:
    write(d / "config.json", TRAILING)
    write(
        d / "app.js",
        'const fs = require("fs");\nJSON.parse(fs.readFileSync("config.json", "utf8"));\n',
    )
    return ["node", "app.js"]


@case(JSON, "other-syntax-error", "not-fired", packs=("json-trailing-commas",))
def _json_other(d: Path) -> list[str]:
    write(d / "config.json", '{"name": "a",\n "list": [1, 2,],\n "x": tru}\n')
    write(d / "app.py", "import json\nprint(json.load(open('config.json')))\n")
    return [PYTHON, "app.py"]


@case(JSON, "symlink-out-of-job", "not-fired", packs=("json-trailing-commas",))
def _json_symlink(d: Path) -> list[str]:
    outside = write(d.parent / "outside-json" / "config.json", TRAILING)
    (d / "config.json").symlink_to(outside)
    write(d / "app.py", "import json\nprint(json.load(open('config.json')))\n")
    return [PYTHON, "app.py"]


# -- pack: yaml-tabs ----------------------------------------------------------------------------

YAML = "pack-yaml-tabs"
LOAD_YAML = "import yaml\nprint(yaml.safe_load(open('config.yaml')))\n"


@case(YAML, "tab-indentation", "recovered", packs=("yaml-tabs",))
def _yaml_tabs(d: Path) -> list[str]:
    write(
        d / "config.yaml",
        "server:\n\thost: localhost\n\tports:\n\t\t- 80\n\t\t- 443\nname: 'a\tb'\n",
    )
    write(d / "app.py", LOAD_YAML)
    return [PYTHON, "app.py"]


@case(YAML, "width-changes-meaning", "not-fired", packs=("yaml-tabs",))
def _yaml_ambiguous(d: Path) -> list[str]:
    write(d / "config.yaml", "text: |\n  line one\n\tindented with a tab\nkey: 1\n")
    write(d / "app.py", LOAD_YAML)
    return [PYTHON, "app.py"]


# -- pack: pytest-duplicate-basenames -----------------------------------------------------------

DUP = "pack-pytest-duplicate-basenames"


@case(DUP, "two-test-dirs", "recovered", packs=("pytest-duplicate-basenames",))
def _dup_basenames(d: Path) -> list[str]:
    for sub in ("api", "cli"):
        write(d / "tests" / sub / "test_util.py", "def test_ok():\n    assert True\n")
    return [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]


@case(DUP, "failing-test", "not-fired", packs=("pytest-duplicate-basenames",))
def _dup_failing(d: Path) -> list[str]:
    write(d / "tests" / "api" / "test_util.py", "def test_ok():\n    assert False\n")
    return [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]


# -- pack: port-in-use --------------------------------------------------------------------------

PORT = "pack-port-in-use"
HOLDER = (
    "const s = require('http').createServer(() => {});\n"
    "s.listen(Number(process.argv[2]), '127.0.0.1');\n"
    "setTimeout(() => process.exit(0), 20000).unref();\n"
    "setInterval(() => {}, 1000);\n"
)
SERVER = (
    "const s = require('http').createServer(() => {});\n"
    "s.listen(Number(process.argv[2]), '127.0.0.1', () => { console.log('up'); s.close(); });\n"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_holder(where: Path, port: int, host: str = "127.0.0.1") -> subprocess.Popen[bytes]:
    """A node process in ``where`` listening on ``port`` (it exits by itself after 20 s)."""
    write(where / "holder.js", HOLDER.replace("'127.0.0.1'", repr(host)))
    proc = subprocess.Popen(
        ["node", "holder.js", str(port)],
        cwd=where,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"the holder never listened on {port}")


@case(PORT, "leftover-in-job", "recovered", needs=("node",), packs=("port-in-use",))
def _port_leftover(d: Path) -> list[str]:
    port = free_port()
    start_holder(d / "run", port)
    write(d / "server.js", SERVER)
    return ["node", "server.js", str(port)]


@case(PORT, "holder-outside-job", "not-fired", needs=("node",), packs=("port-in-use",))
def _port_outside(d: Path) -> list[str]:
    port = free_port()
    start_holder(d.parent / "other-project", port)
    write(d / "server.js", SERVER)
    return ["node", "server.js", str(port)]
