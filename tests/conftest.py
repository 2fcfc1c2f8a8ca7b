"""Make ``ansible_collections.labnet.calico`` importable in plain pytest (the repo is the collection),
and bound every test in time: LABNET_TEST_TIMEOUT seconds (default 600), then the test fails with a
traceback instead of hanging the run (SIGALRM; the subprocesses have their own timeout=)."""
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'collections'))

TEST_TIMEOUT = int(os.environ.get('LABNET_TEST_TIMEOUT', '600'))


class TimedOut(Exception):
    pass


def _expired(_signum, _frame):
    raise TimedOut('test ran longer than %d s (LABNET_TEST_TIMEOUT)' % TEST_TIMEOUT)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(TEST_TIMEOUT)     # setup, call and teardown together
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
