"""The suite's own judges, on recorded ansible output: a module run or a play that failed must fail
the test unless failure was expected (a failed module says changed=false, so a "rerun changed
nothing" check alone would pass it), and a recap is read for every host. No lab is built here."""
import subprocess

import pytest

from labtest import adhoc_result, assert_module, assert_play, recap

FAILED_MODULE = '''localhost | FAILED! => {
    "changed": false,
    "msg": "name: 'bad name' is not a valid interface name"
}
'''
CHANGED_MODULE = '''localhost | CHANGED => {
    "changed": true,
    "veths": []
}
'''
RECAP = '''PLAY RECAP *********************************************************************
host-a-x1                  : ok=12   changed=0    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0
host-b-x1                  : ok=9    changed=1    unreachable=0    failed=1    skipped=3    rescued=0    ignored=0
'''


def proc(stdout, returncode):
    return subprocess.CompletedProcess(['ansible'], returncode, stdout, '')


def test_a_failed_module_run_fails_unless_expected():
    result = adhoc_result(proc(FAILED_MODULE, 2))
    assert result['failed'] and not result['changed'] and result['_rc'] == 2
    with pytest.raises(AssertionError):
        assert_module(result)
    assert assert_module(result, expect_failure=True) is result


def test_a_module_run_that_was_expected_to_fail_but_did_not():
    result = adhoc_result(proc(CHANGED_MODULE, 0))
    assert assert_module(result)['changed'] is True
    with pytest.raises(AssertionError):
        assert_module(result, expect_failure=True)


def test_the_recap_of_every_host_is_read():
    counts = recap(RECAP)
    assert counts['host-a-x1']['changed'] == 0 and counts['host-b-x1']['failed'] == 1
    assert counts['host-b-x1']['ok'] == 9


def test_a_play_fails_on_a_failed_host_even_with_rc_0():
    with pytest.raises(AssertionError, match='host-b-x1'):
        assert_play(proc(RECAP, 0), ['host-a-x1'])


def test_a_play_fails_on_a_host_missing_from_the_recap_or_changed():
    ok_recap = RECAP.replace('changed=1    unreachable=0    failed=1', 'changed=1    unreachable=0    failed=0')
    with pytest.raises(AssertionError, match='no recap line'):
        assert_play(proc(ok_recap, 0), ['host-a-x1', 'host-c-x1'])
    with pytest.raises(AssertionError):
        assert_play(proc(ok_recap, 0), ['host-a-x1', 'host-b-x1'], changed=0)
    assert_play(proc(ok_recap, 0), ['host-a-x1', 'host-b-x1'], changed={'host-a-x1': 0, 'host-b-x1': 1})
    with pytest.raises(AssertionError):
        assert_play(proc(ok_recap, 2), ['host-a-x1'])
