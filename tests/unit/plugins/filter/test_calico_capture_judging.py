"""The capture judge end to end on the verify role's input: a host with pods and peers but no
capture result (task skipped, or a probe missing) fails, and the lines name the mode per pair."""
from ansible_collections.labnet.calico.plugins.filter import calico_lab

from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_calico_capture import exchange, probe
from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_calico_lab import SEEDS, plan


def test_a_host_with_pods_and_peers_but_no_capture_result_fails():
    lab = plan(SEEDS)
    for missing in ({'skipped': True}, {}, None, {'results': []}):
        report = calico_lab.capture_report({'host-a': {'results': [probe('eth0', exchange('none'))]},
                                            'host-b': missing}, lab)
        assert report['failures'] == ['host-b: netns03 -> netns01: no capture result (the capture did not run)']


def test_a_host_without_probes_needs_no_result():
    hostvars = dict(SEEDS, **{'host-c': {'calico_node_address': '172.16.91.203/24', 'calico_pod_cidr': '10.10.2.0/24',
                                         'calico_workloads': []}})
    report = calico_lab.capture_report({'host-a': {'results': [probe('eth0', exchange('none'))]},
                                        'host-c': {'skipped': True}}, plan(hostvars))
    assert report['failures'] == []


def test_capture_lines_name_the_encapsulation_of_each_mode():
    lab = plan(SEEDS)
    expected = {'tunl0': 'IP-in-IP', 'vxlan.calico': 'VXLAN', 'eth0': 'ICMP echo request'}
    for dev, encapsulation in (('tunl0', 'ipip'), ('vxlan.calico', 'vxlan'), ('eth0', 'none')):
        line, = calico_lab.capture_report({'host-a': {'results': [probe(dev, exchange(encapsulation))]}}, lab)['lines']
        assert line.startswith('host-a: netns01 -> netns03 on eth0: 2 requests out, 2 replies in, e.g. out ')
        assert expected[dev] in line
        if dev == 'eth0':
            assert 'IP-in-IP' not in line and 'VXLAN' not in line
