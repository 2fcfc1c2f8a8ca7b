"""The golden tests' normaliser (tests/integration/golden_state.py) on recorded output: what the VM
host-a of the Molecule ipip scenario printed after converge (every command golden_state runs there,
recorded over SSH by test_lab.py golden_problems with LABNET_GOLDEN_WRITE=1) gives exactly
golden/ipip-bird/host-a.txt and host-a.bird.conf, and what it printed after the switch to
calico_routing static (test_routing_switch.py) gives golden/ipip-static/host-a.txt. A change to the
normaliser, or to the iproute normalisers it uses, that would change a golden comparison shows here
first, without a lab."""
import json
import os
import sys

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, 'integration'))
import golden_state  # noqa: E402

FIXTURES = os.path.join(TESTS, 'unit', 'fixtures')
RECORDINGS = dict((golden, json.load(open(os.path.join(FIXTURES, 'golden-%s-host-a.json' % golden))))
                  for golden in ('ipip-bird', 'ipip-static'))
RECORDED = RECORDINGS['ipip-bird']
PODS = ['netns01', 'netns02']


def recorded(prefix, recording=RECORDED):
    """golden_state's RUN, answered from the recording (the sysctl script recorded as READ_SYSCTLS)."""
    def run(argv):
        words = [('READ_SYSCTLS' if word == golden_state.READ_SYSCTLS else word) for word in prefix + argv]
        return recording[' '.join(words)]
    return run


def names(recording=RECORDED):
    macs = dict((pod, golden_state.pod_mac(recorded(['ip', 'netns', 'exec', pod], recording))) for pod in PODS)
    return golden_state.placeholders(dict((n, n) for n in ['host-a', 'host-b'] + PODS), ['host-a', 'host-b'], macs)


@pytest.mark.parametrize('golden', sorted(RECORDINGS))
def test_recorded_vm_state_is_the_golden_file(golden):
    recording = RECORDINGS[golden]
    state = golden_state.host_state('host-a', golden_state.namespace_lines(recorded([], recording)), dict(
        (pod, golden_state.namespace_lines(recorded(['ip', 'netns', 'exec', pod], recording), pod=True))
        for pod in PODS), names(recording))
    path = os.path.join(golden_state.GOLDEN, golden, 'host-a.txt')
    assert golden_state.difference(path, state, 'recorded host-a') == ''


def test_recorded_bird_config_is_the_golden_file():
    config = golden_state.bird_config_lines(RECORDED['cat /etc/bird/bird.conf'], names())
    path = os.path.join(golden_state.GOLDEN, 'ipip-bird', 'host-a.bird.conf')
    assert golden_state.difference(path, config, 'recorded host-a') == ''


def test_a_difference_is_a_readable_unified_diff():
    path = os.path.join(golden_state.GOLDEN, 'ipip-bird', 'host-a.bird.conf')
    config = golden_state.bird_config_lines(RECORDED['cat /etc/bird/bird.conf'], names()).replace(
        'hold time 30;', 'hold time 240;')
    diff = golden_state.difference(path, config, 'recorded host-a')
    assert diff.startswith('--- expected tests/integration/golden/ipip-bird/host-a.bird.conf\n+++ recorded host-a\n')
    assert '\n-  hold time 30;\n+  hold time 240;\n' in diff


def test_a_placeholder_is_not_replaced_again():
    found = golden_state.placeholders({'host-a': 'host-a', 'netns01': 'netns01'}, ['host-a'],
                                      {'netns01': '02:00:00:00:00:01'})
    line = 'neigh 10.10.0.2 dev %s lladdr 02:00:00:00:00:01 permanent' % golden_state.calico_veth_name('netns01')
    assert golden_state.replace_names(line, found) == 'neigh 10.10.0.2 dev cali{netns01} lladdr {mac netns01} permanent'
