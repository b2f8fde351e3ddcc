"""At the end of a session that ran tests from this folder: every AWS call the operator recorded in this
process (all integration tests of the session, not only these) must be allowed by docs/iam-policy.json."""

from __future__ import annotations

import pytest

from .support import disallowed, load_policy, recorded_aws_calls


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    calls = recorded_aws_calls()
    problems = disallowed(load_policy(), calls)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and calls:
        reporter.ensure_newline()
        reporter.write_line(
            f"docs/iam-policy.json: {len(calls)} kinds of AWS call recorded in this session, "
            f"{len(problems)} not allowed"
        )
    if problems:
        if reporter is not None:
            for problem in problems:
                reporter.write_line(f"  not allowed by docs/iam-policy.json: {problem}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
