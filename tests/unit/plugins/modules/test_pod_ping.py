"""pod_ping's pairs: one per target and family, every address checked before anything is sent."""
import pytest

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError
from ansible_collections.labnet.calico.plugins.modules import pod_ping


def test_a_target_with_ip6_is_probed_over_both_families_and_ipv4_only_stays_as_it_was():
    params = {'pairs': None, 'sources': ['p1', 'p2'],
              'targets': [{'name': 'p2', 'ip': '10.10.1.2', 'ip6': 'fd00:10:244:0::2'},
                          {'name': 'p3', 'ip': '10.10.1.3', 'ip6': None}, {'name': 'p4', 'ip': None, 'ip6': 'fd00::4'}]}
    assert pod_ping.checked_pairs(params) == [
        ('p1', 'p2', '10.10.1.2', 'ipv4'), ('p1', 'p2', 'fd00:10:244::2', 'ipv6'), ('p1', 'p3', '10.10.1.3', 'ipv4'),
        ('p1', 'p4', 'fd00::4', 'ipv6'), ('p2', 'p3', '10.10.1.3', 'ipv4'), ('p2', 'p4', 'fd00::4', 'ipv6')]
    pairs = {'pairs': [{'source': 'p1', 'target': 'p2', 'ip': '10.10.1.2'},
                       {'source': 'p1', 'target': 'p3', 'ip': '10.10.1.3', 'ip6': 'fd00::3'}]}
    assert pod_ping.checked_pairs(pairs) == [('p1', 'p2', '10.10.1.2', 'ipv4'), ('p1', 'p3', '10.10.1.3', 'ipv4'),
                                             ('p1', 'p3', 'fd00::3', 'ipv6')]


@pytest.mark.parametrize('pair, message', [
    ({'source': 'p1', 'target': 'p2', 'ip': None, 'ip6': None}, 'pairs[0]: neither ip nor ip6 given'),
    ({'source': 'p1', 'target': 'p2', 'ip': '10.10.1.2', 'ip6': '10.10.1.2'}, "pairs[0].ip6: '10.10.1.2' is not an IPv6 address"),
    ({'source': 'p1', 'target': 'p2', 'ip': 'fd00::2'}, "pairs[0].ip: 'fd00::2' is not an IPv4 address"),
])
def test_bad_addresses_are_refused_naming_the_field(pair, message):
    with pytest.raises(LabError) as raised:
        pod_ping.checked_pairs({'pairs': [pair]})
    assert str(raised.value) == message


def test_the_capture_option_is_checked_before_anything_is_sent():
    probe = {'source': 'p1', 'target': 'p2', 'source_ip': '10.10.0.2', 'ip': '10.10.1.2'}
    assert pod_ping.checked_capture(None) is None
    interface, probes, count = pod_ping.checked_capture({'interface': 'eth1', 'count': 2, 'probes': [probe]})
    assert (interface, count) == ('eth1', 2)
    assert [(p['family'], p['source'], p['ip']) for p in probes] == [('ipv4', 'p1', '10.10.1.2')]
    low, high = pod_ping.PING_LIMITS['count']
    for spec, message in (({'count': high + 1}, 'capture.count: %d is outside %d-%d' % (high + 1, low, high)),
                          ({'interface': 'eth 1'}, 'capture.interface'),
                          ({'probes': [dict(probe, ip='fd00::2')]}, r'capture.probes\[0\].ip')):
        with pytest.raises(LabError, match=message):
            pod_ping.checked_capture(dict({'interface': 'eth1', 'count': 2, 'probes': [probe]}, **spec))
