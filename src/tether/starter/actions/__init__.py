"""Actions of the starter rule pack (``tether/starter/rules/``), one module per family.

Importing this package registers every starter action. Each action checks
that its fix applies before changing anything, and raises (so the rule counts
as failed and the next one is tried) when it does not. The fixes that touch
files stay inside the directory where the failing step ran and record what
they change through :class:`tether.actions.fix.FixContext`, so a fix that did
not work is rolled back; rules tagged ``changes-environment`` (global git
config, ...) are off unless allowed.
"""

from __future__ import annotations

from tether.starter.actions import files, packs, projects, shell
from tether.starter.actions.files import (
    TEMPLATE_SUFFIXES,
    copy_config_template,
    create_parent_directory,
    git_safe_directory,
    make_executable,
    pid_alive,
    recorded_pid,
    remove_stale_git_lock,
    remove_stale_pidfile,
    set_git_identity,
    templates_of,
)
from tether.starter.actions.shell import (
    MergeConflict,
    conflict_marker,
    copy_required_config,
    create_tar_directory,
    fix_shell_missing_path,
    remove_stale_lock,
    report_merge_conflict,
    run_configure,
)

__all__ = [
    "TEMPLATE_SUFFIXES",
    "MergeConflict",
    "conflict_marker",
    "copy_config_template",
    "copy_required_config",
    "create_parent_directory",
    "create_tar_directory",
    "files",
    "fix_shell_missing_path",
    "git_safe_directory",
    "make_executable",
    "packs",
    "pid_alive",
    "projects",
    "recorded_pid",
    "remove_stale_git_lock",
    "remove_stale_lock",
    "remove_stale_pidfile",
    "report_merge_conflict",
    "run_configure",
    "set_git_identity",
    "shell",
    "templates_of",
]
