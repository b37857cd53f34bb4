"""The cold-matcher benchmark's imports phase is the match-hashes handler's own import statements, read from its file."""

from __future__ import annotations

import ast

from hashmatch_tools.bench.cold_matcher import HANDLER, _handler_imports


def test_the_imports_phase_holds_every_import_statement_of_the_handler_and_nothing_else():
    handler = ast.parse(HANDLER.read_text())
    imports = [ast.dump(node) for node in handler.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    phase = [ast.dump(node) for node in _handler_imports().body]
    assert phase == imports
    assert any("live_hash_set" in statement for statement in phase)


def test_the_imports_phase_compiles_and_runs_without_running_the_handler_module():
    namespace: dict = {}
    exec(compile(_handler_imports(), str(HANDLER), "exec"), namespace)  # noqa: S102
    assert "live_hash_set" in namespace and "checker" not in namespace
