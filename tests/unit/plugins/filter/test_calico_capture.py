"""pod_capture's frame decoding (frames built byte by byte) and the judge of what crossed the wire."""
import socket
import struct

import pytest

from ansible_collections.labnet.calico.plugins.filter import calico_lab
from ansible_collections.labnet.calico.plugins.module_utils import capture

from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_calico_lab import SEEDS, plan

MAC_A, MAC_B = b'\xee' * 6, b'\x02\x00\x00\x00\x00\x01'
MARK = b'\x5a\x17\x00\xff\x10\x20\x30\x40'


def ipv4(src, dst, protocol, payload, fragment=0):
    header = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 1, fragment, 64, protocol, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return header + payload


def echo(src, dst, kind='request', mark=MARK):
    """Echo data as ping -p MARK makes it: a 16-byte timestamp, then the mark over and over."""
    icmp = struct.pack('!BBHHH', 8 if kind == 'request' else 0, 0, 0, 7, 1) + b't' * 16 + mark * 5
    return ipv4(src, dst, 1, icmp)


def ethernet(packet, ethertype=0x0800, vlan=None):
    tag = struct.pack('!HH', 0x8100, vlan) if vlan is not None else b''
    return MAC_A + MAC_B + tag + struct.pack('!H', ethertype) + packet


def vxlan(outer_src, outer_dst, inner_frame, vni=4096):
    udp_payload = struct.pack('!II', 0x08000000, vni << 8) + inner_frame
    udp = struct.pack('!HHHH', 51234, 4789, 8 + len(udp_payload), 0) + udp_payload
    return ipv4(outer_src, outer_dst, 17, udp)


def test_plain_echo_on_ethernet_and_behind_a_vlan_tag():
    for frame in (ethernet(echo('10.10.0.2', '10.10.1.2')), ethernet(echo('10.10.0.2', '10.10.1.2'), vlan=42)):
        assert capture.decode_frame(frame) == {
            'encapsulation': 'none', 'outer_src': None, 'outer_dst': None, 'vni': None,
            'src': '10.10.0.2', 'dst': '10.10.1.2', 'icmp': 'request', 'data': b't' * 16 + MARK * 5}


def test_ipip_and_vxlan_name_outer_and_inner_addresses():
    ipip = ethernet(ipv4('172.16.91.201', '172.16.91.202', 4, echo('10.10.0.2', '10.10.1.2')))
    found = capture.decode_frame(ipip)
    assert (found['encapsulation'], found['outer_src'], found['outer_dst'], found['src'], found['icmp']) == (
        'ipip', '172.16.91.201', '172.16.91.202', '10.10.0.2', 'request')
    inner = ethernet(echo('10.10.1.2', '10.10.0.2', 'reply'))
    found = capture.decode_frame(ethernet(vxlan('172.16.91.202', '172.16.91.201', inner)))
    assert (found['encapsulation'], found['vni'], found['outer_src'], found['dst'], found['icmp']) == (
        'vxlan', 4096, '172.16.91.202', '10.10.0.2', 'reply')
    # A device without an Ethernet header (e.g. a tunnel as the underlay) hands over the IP packet itself.
    raw = capture.decode_frame(ipv4('172.16.91.201', '172.16.91.202', 4, echo('10.10.0.2', '10.10.1.2')),
                               ethernet=False)
    assert raw['encapsulation'] == 'ipip'


@pytest.mark.parametrize('frame', [
    ethernet(b'\x00' * 28, ethertype=0x0806),                                          # ARP
    ethernet(ipv4('172.16.91.201', '172.16.91.202', 6, b'\x00' * 20)),                 # BGP over TCP
    ethernet(ipv4('10.10.0.2', '10.10.1.2', 1, struct.pack('!BBHHH', 3, 1, 0, 0, 0))),  # unreachable
    ethernet(echo('10.10.0.2', '10.10.1.2')[:15]),                                     # truncated
    ethernet(ipv4('10.10.0.2', '10.10.1.2', 1, b'\x08' + b'\x00' * 7, fragment=0x10)),  # a later fragment
    ethernet(ipv4('172.16.91.201', '172.16.91.202', 4, b'garbage')),
    ethernet(ipv4('172.16.91.201', '172.16.91.202', 17, struct.pack('!HHHH', 53, 53, 8, 0))),
    b'',
])
def test_anything_else_is_not_an_echo(frame):
    assert capture.decode_frame(frame) is None


def test_probe_packets_keep_only_the_probe_and_say_the_direction():
    frames = [(ethernet(echo('10.10.0.2', '10.10.1.2')), True, True),
              (ethernet(echo('10.10.1.2', '10.10.0.2', 'reply')), False, True),
              (ethernet(echo('10.10.0.3', '10.10.1.2')), True, True),                    # another pod
              (ethernet(echo('10.10.0.2', '10.10.1.2', mark=b'\x01' * 8)), True, True)]  # another ping
    packets = capture.probe_packets(frames, '10.10.0.2', '10.10.1.2', MARK)
    assert [p['text'] for p in packets] == ['out 10.10.0.2 > 10.10.1.2 ICMP echo request',
                                            'in 10.10.1.2 > 10.10.0.2 ICMP echo reply']


def probe(route_dev, packets, sent=2, received=2):
    return {'source': 'netns01', 'source_ip': '10.10.0.2', 'target': 'netns03', 'ip': '10.10.1.2',
            'sent': sent, 'received': received, 'route_dev': route_dev, 'packets': packets}


def wire(encapsulation, direction, icmp, outer=('172.16.91.201', '172.16.91.202')):
    packet = {'encapsulation': encapsulation, 'direction': direction, 'icmp': icmp, 'vni': None,
              'outer_src': outer[0] if encapsulation != 'none' else None,
              'outer_dst': outer[1] if encapsulation != 'none' else None}
    packet['text'] = capture.describe(dict(packet, src='10.10.0.2', dst='10.10.1.2'))
    return packet


def exchange(encapsulation, count=2):
    back = ('172.16.91.202', '172.16.91.201')
    return ([wire(encapsulation, 'out', 'request')] * count) + ([wire(encapsulation, 'in', 'reply', back)] * count)


def test_capture_report_accepts_what_the_routes_say():
    lab = plan(SEEDS)
    for dev, encapsulation in (('tunl0', 'ipip'), ('vxlan.calico', 'vxlan'), ('eth0', 'none')):
        report = calico_lab.capture_report({'host-a': {'results': [probe(dev, exchange(encapsulation))]}}, lab)
        assert report['failures'] == [] and len(report['lines']) == 1
        assert report['lines'][0].startswith('host-a: netns01 -> netns03 on eth0: 2 requests out, 2 replies in')


@pytest.mark.parametrize('route_dev, packets, received, failure', [
    ('tunl0', exchange('none'), 2, 'the route goes through tunl0, so IP-in-IP on the wire, but packets crossed plain'),
    ('eth0', exchange('ipip'), 2, 'the route goes through eth0, so plain on the wire, but packets crossed IP-in-IP'),
    ('tunl0', exchange('ipip')[:3], 2, 'ping sent 2 and got 2 back, but eth0 carried 2 requests out and 1 replies in'),
    ('tunl0', [wire('ipip', 'out', 'request', ('172.16.91.201', '172.16.91.9'))] * 2
     + exchange('ipip')[2:], 2, 'outer addresses should be 172.16.91.201 <-> 172.16.91.202'),
    ('vxlan.calico', [], 0, 'ping sent 2 and got 0 back, but eth0 carried 0 requests out'),
])
def test_capture_report_names_what_disagrees(route_dev, packets, received, failure):
    report = calico_lab.capture_report({'host-a': {'results': [probe(route_dev, packets, received=received)]}},
                                       plan(SEEDS))
    assert len(report['failures']) == 1 and failure in report['failures'][0], report['failures']


def test_capture_probes_one_per_peer_host_with_pods():
    hostvars = dict(SEEDS, **{'host-c': {'calico_node_address': '172.16.91.203/24', 'calico_pod_cidr': '10.10.2.0/24',
                                         'calico_workloads': []}})
    lab = plan(hostvars)
    assert calico_lab.capture_probes(lab, 'host-a') == [
        {'source': 'netns01', 'source_ip': '10.10.0.2', 'target': 'netns03', 'ip': '10.10.1.2'}]
    assert calico_lab.capture_probes(lab, 'host-c') == []


def test_the_probes_are_checked_per_family_and_a_pair_twice_refused():
    probes = [{'source': 'netns01', 'source_ip': '10.10.0.2', 'target': 'netns03', 'ip': '10.10.1.2',
               'source_ip6': 'fd00::2', 'ip6': 'fd00::1:2'}]
    assert [(p['family'], p['source_ip'], p['ip']) for p in capture.checked_probes(probes)] == [
        ('ipv4', '10.10.0.2', '10.10.1.2'), ('ipv6', 'fd00::2', 'fd00::1:2')]
    # The reverse pair's packets look the same on the wire: refused too, naming both probes.
    reverse = {'source': 'netns03', 'source_ip': '10.10.1.2', 'target': 'netns01', 'ip': '10.10.0.2'}
    with pytest.raises(capture.LabError, match=r'capture.probes\[1\]: the same pair of addresses as capture.probes\[0\]'):
        capture.checked_probes(probes + [reverse], 'capture.probes')
    for bad, message in (({'ip': None, 'ip6': None}, 'ip or ip6 is required'),
                         ({'source_ip': None}, 'source_ip and ip go together'),
                         ({'source': 'bad name'}, 'probes\\[0\\].source'), ({'vlan': '7'}, 'unknown key vlan'),
                         ({'target': None}, 'target is required'), ({'ip': 7}, 'ip: a string')):
        with pytest.raises(capture.LabError, match=message):
            capture.checked_probes([dict(probes[0], **bad)])


def test_the_capture_report_takes_pod_pings_captured_list():
    lab = plan(SEEDS, mode='ipip')
    result = {'source': 'netns01', 'target': 'netns03', 'family': 'ipv4', 'sent': 1, 'received': 1,
              'route_dev': 'tunl0', 'packets': []}
    as_list = calico_lab.capture_report({'host-a': [result]}, lab)
    assert as_list == calico_lab.capture_report({'host-a': {'results': [result]}}, lab)
    assert 'host-a: netns01 -> netns03: ping sent 1 and got 1 back, but eth0 carried 0 requests out and 0 replies in' \
        in as_list['failures']
