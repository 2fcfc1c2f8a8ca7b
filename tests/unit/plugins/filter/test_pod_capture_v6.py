"""pod_capture over IPv6: ICMPv6 echo plain on the underlay and VXLAN over an IPv6 underlay (vxlan-v6.calico),
frames built byte by byte."""
import socket
import struct

import pytest

from ansible_collections.labnet.calico.plugins.module_utils import capture
# Beside test_calico_capture (whose frame builders it shares): ansible-test runs modules/ tests without
# the controller, and that file imports the capture report filter.
from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_calico_capture import MARK, echo, ethernet


def ipv6(src, dst, next_header, payload, hop_limit=64):
    return struct.pack('!IHBB16s16s', 6 << 28, len(payload), next_header, hop_limit,
                       socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)) + payload


def echo6(src, dst, kind='request', mark=MARK):
    icmp = struct.pack('!BBHHH', 128 if kind == 'request' else 129, 0, 0, 7, 1) + mark * 7
    return ipv6(src, dst, 58, icmp)


def vxlan6(outer_src, outer_dst, inner_frame, vni=4096):
    udp_payload = struct.pack('!II', 0x08000000, vni << 8) + inner_frame
    return ipv6(outer_src, outer_dst, 17, struct.pack('!HHHH', 40000, 4789, 8 + len(udp_payload), 0) + udp_payload)


def test_icmpv6_echo_plain_on_the_underlay():
    found = capture.decode_frame(ethernet(echo6('fd00:10:244::1', 'fd00:10:244::41'), ethertype=0x86dd))
    assert found == {'encapsulation': 'none', 'outer_src': None, 'outer_dst': None, 'vni': None,
                     'src': 'fd00:10:244::1', 'dst': 'fd00:10:244::41', 'icmp': 'request', 'data': MARK * 7}
    found['direction'] = 'out'
    assert capture.describe(found) == 'out fd00:10:244::1 > fd00:10:244::41 ICMP6 echo request'


def test_vxlan_over_ipv6_names_the_outer_ipv6_addresses_and_the_vni():
    inner = ethernet(echo6('fd00:10:244::41', 'fd00:10:244::1', 'reply'), ethertype=0x86dd)
    found = capture.decode_frame(ethernet(vxlan6('fd00:91::202', 'fd00:91::201', inner), ethertype=0x86dd))
    assert (found['encapsulation'], found['vni'], found['outer_src'], found['outer_dst'], found['src'], found['icmp']) == (
        'vxlan', 4096, 'fd00:91::202', 'fd00:91::201', 'fd00:10:244::41', 'reply')
    found['direction'] = 'in'
    assert capture.describe(found) == ('in fd00:91::202 > fd00:91::201 VXLAN vni 4096, fd00:10:244::41 > '
                                       'fd00:10:244::1 ICMP6 echo reply')
    # IPv4 inside VXLAN inside IPv6 decodes too (not Calico's, but the decoder does not guess).
    mixed = capture.decode_frame(ethernet(vxlan6('fd00:91::202', 'fd00:91::201', ethernet(echo('10.10.1.2', '10.10.0.2'))),
                                          ethertype=0x86dd))
    assert (mixed['outer_src'], mixed['src']) == ('fd00:91::202', '10.10.1.2')


@pytest.mark.parametrize('frame', [
    ethernet(ipv6('fe80::1', 'ff02::1', 58, struct.pack('!BBHI', 134, 0, 0, 0) + b'\x00' * 8), ethertype=0x86dd),  # RA
    ethernet(ipv6('fd00:91::201', 'fd00:91::202', 6, b'\x00' * 20), ethertype=0x86dd),                    # BGP
    ethernet(ipv6('fd00::2', 'fd00::3', 44, b'\x00' * 16), ethertype=0x86dd),                             # a fragment
    ethernet(echo6('fd00::2', 'fd00::3')[:30], ethertype=0x86dd),                                         # truncated
    ethernet(echo6('fd00::2', 'fd00::3'), ethertype=0x0800),                                              # wrong type
])
def test_anything_else_over_ipv6_is_not_an_echo(frame):
    assert capture.decode_frame(frame) is None


def test_probe_packets_pick_the_ipv6_pair():
    frames = [(ethernet(echo6('fd00:10:244::1', 'fd00:10:244::41'), ethertype=0x86dd), True, True),
              (ethernet(echo6('fd00:10:244::41', 'fd00:10:244::1', 'reply'), ethertype=0x86dd), False, True),
              (ethernet(echo6('fd00:10:244::2', 'fd00:10:244::41'), ethertype=0x86dd), True, True)]
    packets = capture.probe_packets(frames, 'fd00:10:244::1', 'fd00:10:244::41', MARK)
    assert [(p['direction'], p['icmp']) for p in packets] == [('out', 'request'), ('in', 'reply')]


def packet6(direction, kind, outer):
    """One decoded probe packet over IPv6 (netns01 <-> netns03 of the dual-stack seeds), as pod_capture writes it."""
    src, dst = ('fd00:10:244::1', 'fd00:10:244::41') if kind == 'request' else ('fd00:10:244::41', 'fd00:10:244::1')
    found = {'direction': direction, 'icmp': kind, 'src': src, 'dst': dst, 'encapsulation': 'vxlan' if outer else 'none',
             'outer_src': outer[0] if outer else None, 'outer_dst': outer[1] if outer else None, 'vni': 4096 if outer else None}
    found['text'] = capture.describe(found)
    return found


def test_the_capture_report_judges_ipv6_probes_and_vxlan_over_ipv6():
    from ansible_collections.labnet.calico.plugins.filter import calico_lab
    from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_calico_verify import dual_stack
    from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_calico_lab import SEEDS
    lab = dual_stack(SEEDS, mode='vxlan')
    probe, = calico_lab.capture_probes(lab, 'host-a')
    assert (probe['source_ip6'], probe['ip6']) == ('fd00:10:244::1', 'fd00:10:244::41')
    v4 = {'source': 'netns01', 'target': 'netns03', 'family': 'ipv4', 'sent': 2, 'received': 2, 'route_dev': 'eth0',
          'packets': []}
    v4['packets'] = [dict(p, src=s, dst=d, text='%s %s > %s ICMP echo %s' % (p['direction'], s, d, p['icmp']))
                     for p, (s, d) in ((packet6('out', 'request', None), ('10.10.0.2', '10.10.1.2')),
                                       (packet6('in', 'reply', None), ('10.10.1.2', '10.10.0.2')))] * 2
    out, back = ('fd00:91::1', 'fd00:91::2'), ('fd00:91::2', 'fd00:91::1')
    v6 = {'source': 'netns01', 'target': 'netns03', 'family': 'ipv6', 'sent': 2, 'received': 2,
          'route_dev': 'vxlan-v6.calico', 'packets': [packet6('out', 'request', out), packet6('in', 'reply', back)] * 2}
    good = calico_lab.capture_report({'host-a': {'results': [v4, v6]}}, lab)
    assert good['failures'] == [] and len(good['lines']) == 2
    assert good['lines'][1].startswith('host-a: netns01 -> netns03 over IPv6 on eth0: 2 requests out, 2 replies in, '
                                       'e.g. out fd00:91::1 > fd00:91::2 VXLAN vni 4096, fd00:10:244::1 > ')
    # Plain on the wire while the route says vxlan-v6.calico; outer addresses not the hosts' IPv6 ones; no IPv6 result.
    plain = dict(v6, packets=[packet6('out', 'request', None), packet6('in', 'reply', None)] * 2)
    stray = dict(v6, packets=[packet6('out', 'request', ('fd00:91::1', 'fd00:91::9')), packet6('in', 'reply', back)] * 2)
    failures = [calico_lab.capture_report({'host-a': {'results': [v4, r]}}, lab)['failures'] for r in (plain, stray)]
    assert failures[0] == ['host-a: netns01 -> netns03 over IPv6: the route goes through vxlan-v6.calico, so VXLAN '
                           'on the wire, but packets crossed plain']
    assert failures[1][0].startswith('host-a: netns01 -> netns03 over IPv6: outer addresses should be fd00:91::1 <-> fd00:91::2')
    assert calico_lab.capture_report({'host-a': {'results': [v4]}}, lab)['failures'] == [
        'host-a: netns01 -> netns03 over IPv6: no capture result (the capture did not run)']
