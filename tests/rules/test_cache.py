"""The rule cache: warm loads rebuild rules from their cached dumps, and no change to a file is
ever missed (times, size, inode, content hash, tether's version), with rows of deleted files
pruned. Real files, a real SQLite store, real failing commands."""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers import write_rule
from tether.errors import RuleError
from tether.rules.book import RuleBook
from tether.rules.load import CACHE_SCHEMA, RACY_WINDOW_NS, cache_key, load_dir, load_text
from tether.store.sqlite import SQLiteStore

RICH = r"""
- name: cat-missing
  description: a file to read is missing
  tags: [shell, io]
  when:
    - fact: exit_code
      equals: 1
    - fact: stderr
      regex: "cat: (?P<path>\\S+): No such file or directory"
      examples: ["cat: conf/app.ini: No such file or directory"]
  then:
    - action: copy_template
      params: {path: "{path}", modes: [r, w], nested: {depth: 2, ratio: 0.5, enabled: true, nothing: null}}
- name: flaky-network
  collection: net
  when:
    - {fact: stderr, contains: "Connection reset by peer"}
  retry: {attempts: 4, backoff_s: 0.5, jitter: false}
- name: ask-the-model
  when: [{fact: stderr, regex: '(?i)segmentation fault'}]
  llm_config:
    prompt_template: file://prompts/segv.md
    tools: [read_file]
    constraints: {max_tool_calls: 3, wall_clock_s: 20}
  notes: only on linux
"""


def failure(tmp_path: Path) -> dict[str, object]:
    """The context of a real failing ``cat``."""
    proc = subprocess.run(
        ["cat", "conf/app.ini"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1 and "No such file" in proc.stderr
    return {"command": "cat conf/app.ini", "exit_code": proc.returncode, "stderr": proc.stderr}


def rows(db: Path) -> dict[str, list[dict[str, object]]]:
    """The cached rows by file path (keys without their layout tag; untagged rows as they are)."""
    con = sqlite3.connect(db)
    try:
        found = con.execute("SELECT path, data_json FROM rule_cache")
        return {p.removeprefix(cache_key("")): json.loads(d) for p, d in found}
    finally:
        con.close()


def set_row(db: Path, path: Path, edit: dict[str, object], rules: object = None) -> None:
    """Change the header (and optionally the rules) of a file's cached row, as a later process
    would find it."""
    con = sqlite3.connect(db)
    try:
        key = cache_key(str(path))
        [(text,)] = con.execute("SELECT data_json FROM rule_cache WHERE path = ?", (key,))
        data = json.loads(text)
        data[0].update(edit)
        if rules is not None:
            data[1:] = rules
        con.execute("UPDATE rule_cache SET data_json = ? WHERE path = ?", (json.dumps(data), key))
        con.commit()
    finally:
        con.close()


def age_row(db: Path, path: Path) -> None:
    """Make the row look written long after the file's last change (not racily clean)."""
    st = path.stat()
    set_row(db, path, {"checked_ns": max(st.st_mtime_ns, st.st_ctime_ns) + 2 * RACY_WINDOW_NS})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "tether.db")
    yield store
    store.close()


def test_a_warm_load_gives_the_rules_a_cold_load_gives(
    home: Path, store: SQLiteStore, tmp_path: Path
) -> None:
    path = write_rule(home, "rich", RICH)
    cold = load_dir(home / "rules", cache=store)
    assert not cold.errors and str(path) in rows(store.path)
    age_row(store.path, path)

    warm = load_dir(home / "rules", cache=store)

    assert [r.model_dump() for r in warm.rules] == [r.model_dump() for r in cold.rules]
    assert warm.rules == cold.rules
    assert all(r.source == path for r in warm.rules)
    assert warm.rules[1].retry is not None and warm.rules[1].retry.attempts == 4
    llm = warm.rules[2].llm_config
    assert llm is not None and llm.constraints.max_tool_calls == 3 and llm.use_secondary is False
    assert warm.rules[0].model_fields_set >= {"name", "when", "then"}
    context = failure(tmp_path)
    [match] = RuleBook(warm.rules).matching(context)
    assert match.rule.name == "cat-missing" and match.captures == {"path": "conf/app.ini"}
    assert RuleBook(cold.rules).matching(context) == [match]
    # the warm rules are real models: a change through the API validates nothing, dumps back
    warm.rules[0].tags.append("extra")
    assert "extra" in warm.rules[0].to_yaml()


def test_a_warm_load_reads_the_cache_not_the_file(home: Path, store: SQLiteStore) -> None:
    path = write_rule(home, "r", "name: r\nwhen: [{fact: a, equals: '1'}]\nthen: [{action: y}]\n")
    load_dir(home / "rules", cache=store)
    [dump] = rows(store.path)[str(path)][1:]
    assert isinstance(dump, dict)
    age_row(store.path, path)
    set_row(store.path, path, {}, [{**dump, "description": "from the cache"}])

    [rule] = load_dir(home / "rules", cache=store).rules

    assert rule.description == "from the cache"  # times, size and inode unchanged: trusted


def test_a_rewrite_in_the_same_clock_tick_is_seen(home: Path, store: SQLiteStore) -> None:
    """A file system clock may not tick between two writes: times and size then match the row,
    and only the content hash tells the files apart."""
    path = write_rule(home, "r", "name: r\nwhen: [{fact: a, equals: '1'}]\nthen: [{action: y}]\n")
    [before] = load_dir(home / "rules", cache=store).rules
    path.write_text("name: r\nwhen: [{fact: a, equals: '2'}]\nthen: [{action: y}]\n")
    st = path.stat()
    # the row as a coarse clock would leave it: the rewritten file's times, the old content
    con = sqlite3.connect(store.path)
    con.execute("UPDATE rule_cache SET mtime_ns = ?, size_bytes = ?", (st.st_mtime_ns, st.st_size))
    con.commit()
    con.close()
    set_row(store.path, path, {"ctime_ns": st.st_ctime_ns, "inode": st.st_ino})

    [after] = load_dir(home / "rules", cache=store).rules

    assert (before.when[0].equals, after.when[0].equals) == ("1", "2")
    assert rows(store.path)[str(path)][1]["when"] == [{"fact": "a", "equals": "2"}]


def test_an_edit_of_the_same_size_within_the_second_is_seen(home: Path, store: SQLiteStore) -> None:
    path = write_rule(home, "r", "name: r\nwhen: [{fact: a, equals: '1'}]\nthen: [{action: y}]\n")
    first = load_dir(home / "rules", cache=store).rules
    mtime_ns = path.stat().st_mtime_ns
    path.write_text("name: r\nwhen: [{fact: a, equals: '7'}]\nthen: [{action: y}]\n")
    os.utime(path, ns=(mtime_ns, mtime_ns))  # same modification time, same size

    second = load_dir(home / "rules", cache=store).rules

    assert [r.when[0].equals for r in first + second] == ["1", "7"]


def test_a_racily_clean_file_that_did_not_change_is_served_and_its_row_refreshed(
    home: Path, store: SQLiteStore
) -> None:
    path = write_rule(home, "r", "name: r\nwhen: [{fact: a, equals: '1'}]\nthen: [{action: y}]\n")
    load_dir(home / "rules", cache=store)
    [dump] = rows(store.path)[str(path)][1:]
    assert isinstance(dump, dict)
    set_row(store.path, path, {"checked_ns": 0}, [{**dump, "description": "cached"}])
    set_row(store.path, path, {"checked_ns": path.stat().st_mtime_ns})  # racily clean

    [rule] = load_dir(home / "rules", cache=store).rules

    assert rule.description == "cached"  # same hash: the cached rules are used
    header = rows(store.path)[str(path)][0]
    assert int(str(header["checked_ns"])) > path.stat().st_mtime_ns  # re-stamped after the check
    assert rows(store.path)[str(path)][1]["__analysis__"]  # the row keeps its analyses


def test_rows_of_another_version_are_not_used(home: Path, store: SQLiteStore) -> None:
    path = write_rule(home, "r", "name: r\nwhen: [{fact: a, equals: '1'}]\nthen: [{action: y}]\n")
    load_dir(home / "rules", cache=store)
    header = rows(store.path)[str(path)][0]
    assert str(header["__cache__"]).startswith(CACHE_SCHEMA)
    [dump] = rows(store.path)[str(path)][1:]
    assert isinstance(dump, dict)
    age_row(store.path, path)
    set_row(store.path, path, {"__cache__": "rules/2 tether/0.0.1"}, [{**dump, "notes": "old"}])

    [rule] = load_dir(home / "rules", cache=store).rules

    assert rule.notes is None
    assert rows(store.path)[str(path)][0]["__cache__"] == header["__cache__"]


def test_rows_of_deleted_and_renamed_files_are_pruned(home: Path, store: SQLiteStore) -> None:
    text = "name: {0}\nwhen: [{{fact: a, equals: '1'}}]\nthen: [{{action: y}}]\n"
    a = write_rule(home, "a", text.format("a"))
    b = write_rule(home, "b", text.format("b"))
    other = write_rule(home / "elsewhere", "c", text.format("c"))
    load_dir(home / "rules", cache=store)
    load_dir(other.parent, cache=store)
    assert set(rows(store.path)) == {str(a), str(b), str(other)}

    a.unlink()
    b.rename(b.with_name("b2.rule.yaml"))
    names = [r.name for r in load_dir(home / "rules", cache=store).rules]

    assert names == ["b"]
    assert set(rows(store.path)) == {str(b.with_name("b2.rule.yaml")), str(other)}
    b.with_name("b2.rule.yaml").unlink()
    assert load_dir(home / "rules", cache=store).rules == []
    assert set(rows(store.path)) == {str(other)}  # another folder's rows stay


def test_deleting_one_file_of_an_unchanged_folder_prunes_its_row(
    home: Path, store: SQLiteStore
) -> None:
    text = "name: {0}\nwhen: [{{fact: a, equals: '1'}}]\nthen: [{{action: y}}]\n"
    a, b = (write_rule(home, n, text.format(n)) for n in "ab")
    load_dir(home / "rules", cache=store)
    nested = write_rule(home / "rules", "deeper", text.format("deeper"))  # rules/rules/
    load_dir(nested.parent, cache=store)

    a.unlink()
    assert [r.name for r in load_dir(home / "rules", cache=store).rules] == ["b"]

    assert set(rows(store.path)) == {str(b), str(nested)}  # a subfolder is not this folder


def test_rows_an_older_tether_wrote_are_neither_misread_nor_kept(
    home: Path, store: SQLiteStore
) -> None:
    """The layout before the tag: ``path -> (mtime_ns, size, [rule dumps])``, trusted on times
    and size alone. Its rows hold no header; they are never read as this layout's rows."""
    path = write_rule(home, "r", "name: r\nwhen: [{fact: a, equals: '1'}]\nthen: [{action: y}]\n")
    st = path.stat()
    stale = [{"name": "r", "when": [{"fact": "a", "equals": "old"}], "then": [{"action": "y"}]}]
    store.put_many([(str(path), st.st_mtime_ns, st.st_size, stale)])

    [rule] = load_dir(home / "rules", cache=store).rules

    assert rule.when[0].equals == "1"
    con = sqlite3.connect(store.path)
    keys = [k for (k,) in con.execute("SELECT path FROM rule_cache")]
    con.close()
    assert keys == [cache_key(str(path))]  # the old row is gone, the old tether re-parses


def test_a_file_broken_after_caching_is_reported_not_served(home: Path, store: SQLiteStore) -> None:
    path = write_rule(home, "r", "name: r\nwhen: [{fact: a, equals: '1'}]\nthen: [{action: y}]\n")
    load_dir(home / "rules", cache=store)
    path.write_text("name: r\nwhen: [{fact: a, regex: '(?<=x)y'}]\nthen: [{action: y}]\n")

    result = load_dir(home / "rules", cache=store)

    assert result.rules == []
    [error] = result.errors
    assert (error.file, error.rule, error.field) == (str(path), "r", "when[0].regex")
    assert "RE2" in str(error)


def test_params_json_would_change_are_never_cached(home: Path, store: SQLiteStore) -> None:
    path = write_rule(
        home,
        "r",
        "name: r\nwhen: [{fact: a, equals: '1'}]\nthen: [{action: y, params: {since: 2024-05-01}}]\n",
    )
    [cold] = load_dir(home / "rules", cache=store).rules
    [warm] = load_dir(home / "rules", cache=store).rules

    assert str(path) not in rows(store.path)
    assert cold == warm and isinstance(warm.then[0].params["since"], datetime.date)


def test_a_warm_load_in_a_fresh_process_compiles_no_regex_and_validates_nothing(
    home: Path, tmp_path: Path
) -> None:
    write_rule(home, "rich", RICH)
    script = (
        "import sys\n"
        "from tether.rules.load import load_dir\n"
        "from tether.rules.model import Rule, compile_regex\n"
        "from tether.store.sqlite import SQLiteStore\n"
        f"store = SQLiteStore({str(tmp_path / 'c.db')!r})\n"
        f"result = load_dir({str(home / 'rules')!r}, cache=store)\n"
        "assert not result.errors, result.errors\n"
        "print(compile_regex.cache_info().currsize, len(result.rules))\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert runs[0].stdout.split() == ["2", "3"]  # cold: both regexes compiled (validated)
    assert runs[1].stdout.split() == ["0", "3"]  # warm: none until a rule is matched


PARAMS = [
    "{a: 1, b: [x, 'y', 2.5, null, true, 2024-01-01, 0o17, .inf, ~]}",
    "{x: &m {a: 1, b: [1, 2]}, y: {<<: *m, b: 3}}",
    "{a: &x [1, {k: v}], b: *x}",
    "{s: !!set {a, b}, o: !!omap [a: 1, b: 2]}",
    "{a: !!binary aGVsbG8=, b: !!str 12, c: !!int '7'}",
    "{m: {1: a, 1.5: b, null: c, yes: d, 'yes': e}}",
    "{a: 1, a: 2}",
    "{t: 2001-12-14t21:59:43.10-05:00, e: '', f: -0.0, g: 0x1F}",
]


@pytest.mark.parametrize("params", PARAMS)
def test_yaml_is_read_exactly_as_pyyaml_reads_it(params: str) -> None:
    text = f"name: r\nwhen: [{{fact: a, equals: '1'}}]\nthen: [{{action: y, params: {params}}}]\n"
    expected = yaml.load(text, Loader=yaml.SafeLoader)

    [rule] = load_text(text)

    assert repr(rule.then[0].params) == repr(expected["then"][0]["params"])


def test_yaml_block_scalars_and_anchors_across_facts() -> None:
    text = (
        "name: r\ndescription: |\n  two\n  lines\nnotes: >\n  folded\n  text\n"
        "when:\n  - &f {fact: stderr, contains: boom}\n  - *f\nthen: [{action: y}]\n"
    )
    [rule] = load_text(text)
    assert (rule.description, rule.notes) == ("two\nlines\n", "folded text\n")
    assert [f.contains for f in rule.when] == ["boom", "boom"]


def test_yaml_errors_still_name_the_file_and_place() -> None:
    with pytest.raises(RuleError, match=r"f\.rule\.yaml: malformed YAML.*unhashable key"):
        load_text("? [a]\n: b\n", file="f.rule.yaml")
    with pytest.raises(RuleError, match=r"f\.rule\.yaml: malformed YAML at line 2"):
        load_text("a: [1\nb: 2\n", file="f.rule.yaml")
    with pytest.raises(RuleError, match="expected a mapping"):
        load_text("- &r [*r]\n", file="f.rule.yaml")  # an alias inside itself
