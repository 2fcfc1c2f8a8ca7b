"""The measure filters and module_utils/measure.py: the pairs chosen from plans, iperf3's argv and recorded JSON, the PMTU verdict,
the report's entries, table and JSON shape (pod_iperf's and lab_report's logic, without root)."""

import json
import os

import pytest

from ansible_collections.labnet.calico.plugins.filter.calico_lab import _plan
from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError
from ansible_collections.labnet.calico.plugins.module_utils import measure

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')


def plan_of(hosts, mode='bgp', ipip_mode='always'):
    hostvars = dict((name, {'calico_node_address': address, 'calico_pod_cidr': cidr,
                            'calico_workloads': [{'name': pod} for pod in pods]})
                    for name, address, cidr, pods in hosts)
    return _plan(hostvars, [h[0] for h in hosts], None, 26, mode, ipip_mode)


SEEDS = [('host-a', '172.16.91.201/24', '10.10.0.0/24', ['netns01', 'netns02']),
         ('host-b', '172.16.91.202/24', '10.10.1.0/24', ['netns03', 'netns04'])]
TWO_SUBNETS = [('node-1', '192.168.81.11/24', '10.244.0.0/26', ['pod-1a']),
               ('node-2', '192.168.81.12/24', '10.244.0.64/26', ['pod-2a']),
               ('node-3', '192.168.82.13/24', '10.244.0.128/26', ['pod-3a', 'pod-3b'])]


def test_seeds_pairs_one_of_each_kind():
    runs = measure.measure_pairs(plan_of(SEEDS))
    assert [(r['kind'], r['client_host'], r['client_netns'], r['server_host'], r['server_netns'], r['server_ip'])
            for r in runs] == [
        ('underlay', 'host-a', None, 'host-b', None, '172.16.91.202'),
        ('same-host', 'host-a', 'netns01', 'host-a', 'netns02', '10.10.0.2'),
        ('cross-host', 'host-a', 'netns01', 'host-b', 'netns03', '10.10.1.1')]
    assert runs[1]['baseline'] == runs[2]['baseline'] == runs[0]['id'] == 'underlay host-a -> host-b'
    assert len(set(r['id'] for r in runs)) == 3


def test_cross_subnet_one_pair_per_path_each_with_its_underlay():
    runs = measure.measure_pairs(plan_of(TWO_SUBNETS, 'vxlan', 'cross_subnet'), port=5300)
    underlay = [(r['client_host'], r['server_host']) for r in runs if r['kind'] == 'underlay']
    assert underlay == [('node-1', 'node-2'), ('node-1', 'node-3')]
    cross = [r for r in runs if r['kind'] == 'cross-host']
    assert [(r['client_netns'], r['server_netns']) for r in cross] == [('pod-1a', 'pod-2a'), ('pod-1a', 'pod-3a')]
    assert [r['baseline'] for r in cross] == ['underlay node-1 -> node-2', 'underlay node-1 -> node-3']
    same = [r for r in runs if r['kind'] == 'same-host']
    assert [(r['client_netns'], r['server_netns'], r['baseline']) for r in same] == [
        ('pod-3a', 'pod-3b', 'underlay node-1 -> node-2')]
    assert set(r['port'] for r in runs) == set([5300])


def test_one_host_measures_only_the_same_host_pair():
    runs = measure.measure_pairs(plan_of(SEEDS[:1]))
    assert [r['kind'] for r in runs] == ['same-host'] and runs[0]['baseline'] is None


def test_iperf_argv_bounded_and_lists():
    server = measure.server_argv('/usr/bin/iperf3', 5201, '/run/labnet-calico/iperf3-p.pid', 33)
    assert server == ['/usr/bin/iperf3', '--server', '--one-off', '--daemon', '--pidfile',
                      '/run/labnet-calico/iperf3-p.pid', '--port', '5201', '--idle-timeout', '33']
    client = measure.client_argv('iperf3', '10.10.1.2', 5201, 3, 2500)
    assert client[-2:] == ['--connect-timeout', '2500'] and '--json' in client and '3' in client
    assert measure.in_netns('ip', 'netns01', ['ss']) == ['ip', 'netns', 'exec', 'netns01', 'ss']
    assert measure.in_netns('ip', None, ['ss']) == ['ss']
    assert measure.run_bound(3, 2500) == 15
    with pytest.raises(LabError, match='time: 31 is outside 1-30'):
        measure.check_iperf_options({'time': 31, 'connect_timeout': 3000, 'port': 5201})


def test_parse_recorded_iperf3_output():
    with open(os.path.join(FIXTURES, 'iperf3-client.json')) as handle:
        text = handle.read()
    data = json.loads(text)
    parsed = measure.parse_iperf_json(text)
    assert parsed['mbit_s'] == round(data['end']['sum_received']['bits_per_second'] / 1e6, 1) > 0
    assert parsed['retransmits'] == data['end']['sum_sent']['retransmits']
    with open(os.path.join(FIXTURES, 'iperf3-refused.json')) as handle:
        with pytest.raises(LabError, match='iperf3: unable to connect to server: Connection refused'):
            measure.parse_iperf_json(handle.read())
    with pytest.raises(LabError, match='printed no JSON: iperf3: error'):
        measure.parse_iperf_json('iperf3: error - boom')


def test_paths_and_mode():
    assert [measure.path_of_dev(d) for d in ('tunl0', 'vxlan.calico', 'cali1234567890a', 'eth0', None)] == [
        'IP-in-IP', 'VXLAN', 'local', 'plain', 'plain']
    assert measure.lab_mode([{'kind': 'cross-host', 'path': 'VXLAN'}]) == 'vxlan'
    assert measure.lab_mode([{'kind': 'underlay', 'path': 'plain'}, {'kind': 'cross-host', 'path': 'plain'}]) == 'bgp'
    assert measure.lab_mode([{'kind': 'cross-host', 'path': 'VXLAN'}], 'ipip') == 'ipip'


def test_pmtu_verdict():
    good = measure.pmtu_verdict(1450, {'size': 1450, 'passed': True, 'detail': 'reply'},
                                {'size': 1451, 'passed': False, 'detail': 'not sent: message too long'})
    assert good['ok'] and 'as the MTU says' in good['text']
    too_small = measure.pmtu_verdict(1450, {'size': 1450, 'passed': False, 'detail': 'no reply'},
                                     {'size': 1451, 'passed': False, 'detail': 'no reply'})
    assert not too_small['ok'] and 'FAILED (no reply)' in too_small['text']
    too_big = measure.pmtu_verdict(1450, {'size': 1450, 'passed': True, 'detail': 'reply'},
                                   {'size': 1451, 'passed': True, 'detail': 'reply'})
    assert not too_big['ok'] and 'NOT as the MTU says' in too_big['text']
    with pytest.raises(LabError, match='below the smallest'):
        measure.df_probe('10.0.0.1', 20)


def test_rtt_summary():
    assert measure.rtt_summary([0.2, 0.1, 0.3]) == {'min': 0.1, 'avg': 0.2, 'max': 0.3, 'samples': 3}
    assert measure.rtt_summary([])['avg'] is None


def results_for(runs, speeds):
    return dict((r['id'], {'mbit_s': speed, 'retransmits': 0, 'path': path,
                           'rtt': measure.rtt_summary([0.05, 0.07]),
                           'pmtu': measure.pmtu_verdict(1500, {'size': 1500, 'passed': True, 'detail': 'reply'},
                                                        {'size': 1501, 'passed': False, 'detail': 'x'})})
                for r, (speed, path) in zip(runs, speeds))


def test_report_entries_table_and_json_shape():
    runs = measure.measure_pairs(plan_of(SEEDS))
    results = results_for(runs, [(20000.0, 'plain'), (30000.0, 'local'), (10000.0, 'VXLAN')])
    entries = measure.report_entries(runs, results, measure.lab_mode(measure.report_entries(runs, results, 'bgp')))
    assert [(e['kind'], e['mode'], e['mbit_s'], e['rtt_ms'], e['ratio']) for e in entries] == [
        ('underlay', 'vxlan', 20000.0, 0.06, None), ('same-host', 'vxlan', 30000.0, 0.06, 1.5),
        ('cross-host', 'vxlan', 10000.0, 0.06, 0.5)]
    document = json.loads(json.dumps(measure.report_document(entries, 'vxlan', 'lab')))
    assert measure.check_document(document) == []
    assert document['kinds'] == ['underlay', 'same-host', 'cross-host']
    assert measure.check_document({'entries': [{'kind': 'pod', 'mode': 'bgp'}]}) == [
        'entries[0]: no mbit_s', 'entries[0]: no rtt_ms', "entries[0].kind: 'pod'"]
    table = measure.report_table(entries)
    assert table[0].split() == ['kind', 'pair', 'path', 'Mbit/s', 'RTT', 'ms', 'x', 'underlay', 'PMTU']
    assert table[3].split() == ['cross-host', 'netns01', '->', 'netns03', 'VXLAN', '10000.0', '0.060', '0.50', 'ok', '1500']
    assert table[1].split()[7] == '1.00'


def test_filters_are_registered():
    from ansible_collections.labnet.calico.plugins.filter.calico_measure import FilterModule
    filters = FilterModule().filters()
    assert filters['calico_measure_pairs'](plan_of(SEEDS), '5300')[0]['port'] == 5300
    assert filters['calico_lab_ascii'](plan_of(SEEDS), None)[0].startswith('Lab (mode not known')
