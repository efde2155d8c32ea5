#!/usr/bin/env python3
"""Baseline for bench/convert.mjs: csvlog to JSON lines with python3's csv and json modules.

Builds the same shape as `instance-manager logs convert` (record columns by name, empty ones
omitted) so the comparison is about the conversion, not about doing less work.
"""
import csv
import json
import sys

COLUMNS = [
    "log_time", "user_name", "database_name", "process_id", "connection_from", "session_id",
    "session_line_num", "command_tag", "session_start_time", "virtual_transaction_id",
    "transaction_id", "error_severity", "sql_state_code", "message", "detail", "hint",
    "internal_query", "internal_query_pos", "context", "query", "query_pos", "location",
    "application_name", "backend_type", "leader_pid", "query_id",
]
LEVELS = {"PANIC": "error", "FATAL": "error", "ERROR": "error", "WARNING": "warning"}


def main() -> None:
    out = sys.stdout
    for path in sys.argv[1:]:
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            for row in csv.reader(handle):
                record = {COLUMNS[i] if i < len(COLUMNS) else f"column_{i + 1}": value for i, value in enumerate(row) if value != ""}
                severity = record.get("error_severity", "")
                line = {
                    "level": LEVELS.get(severity, "debug" if severity.startswith("DEBUG") else "info"),
                    "ts": record.get("log_time", ""),
                    "logger": "postgres",
                    "msg": "record",
                    "logging_pod": "bench",
                    "record": record,
                }
                out.write(json.dumps(line, ensure_ascii=False))
                out.write("\n")


if __name__ == "__main__":
    main()
