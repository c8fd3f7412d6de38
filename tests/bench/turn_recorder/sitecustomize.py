"""Python loads this module at start-up in the load test's bot processes only (their PYTHONPATH
names this directory): with LOAD_TEST_TURN_LOG set, each chat turn's start and end are written to
that file (`tests.bench.turn_log`), so the load test can check that no chat's turns overlapped
across processes; with LOAD_TEST_PROFILE set too, the process's CPU time from its first turn
on is profiled into that file (cProfile's format, read with `pstats`); with LOAD_TEST_STATEMENTS
set, the statements it sent are counted by shape into that file."""

import os

if os.environ.get("LOAD_TEST_TURN_LOG"):
    from tests.bench.turn_log import record_turns

    record_turns(
        os.environ["LOAD_TEST_TURN_LOG"],
        os.environ.get("LOAD_TEST_PROFILE"),
        os.environ.get("LOAD_TEST_STATEMENTS"),
    )
