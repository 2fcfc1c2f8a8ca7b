"""The prober's packets: echo requests, replies and ICMP errors, and one answer per namespace."""
import socket
import struct

import pytest

from ansible_collections.labnet.calico.plugins.module_utils import ping
from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError


def ip_header(source, destination, ttl, protocol=1):
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 84, 0, 0, ttl, protocol, 0,
                       socket.inet_aton(source), socket.inet_aton(destination))


def test_echo_request_checksum_verifies():
    request = ping.echo_request(0x1234, 7, b'x' * 56)
    assert request[:2] == b'\x08\x00' and struct.unpack('!HH', request[4:8]) == (0x1234, 7)
    assert ping.checksum(request) == 0


def test_reply_and_error_are_matched_by_identifier_and_sequence():
    reply = ip_header('10.10.1.2', '10.10.0.2', 62) + b'\x00\x00\x00\x00' + struct.pack('!HH', 0x1234, 7) + b'x' * 56
    assert ping.parse_icmp(reply) == ('reply', 0x1234, 7, '10.10.1.2', 62)
    quoted = ip_header('10.10.0.2', '10.10.1.9', 63) + ping.echo_request(0x1234, 9, b'')
    error = ip_header('10.10.1.1', '10.10.0.2', 63) + b'\x03\x01\x00\x00\x00\x00\x00\x00' + quoted
    assert ping.parse_icmp(error) == ('error', 0x1234, 9, '10.10.1.1', 'From 10.10.1.1: Destination Host Unreachable')
    request = ip_header('10.10.1.2', '10.10.0.2', 62) + ping.echo_request(1, 1, b'x' * 56)
    assert ping.parse_icmp(request) is None and ping.parse_icmp(b'\x45' * 10) is None


def test_a_missing_namespace_is_one_clean_answer():
    answers = ping.probe_from_namespaces({'labnet-no-such-ns': ['10.10.1.2']}, 1, 0.2, 1)
    assert answers == {'labnet-no-such-ns': {
        'error': 'entering /run/netns/labnet-no-such-ns: No such file or directory'}}


def test_probes_per_source_are_bounded():
    with pytest.raises(LabError, match='one source sends at most 65535'):
        ping.probe(['10.0.%d.%d' % (i // 250, i % 250) for i in range(4000)], 20, 0.2, 5)


def ipv6_header(source, destination, hop_limit, next_header=58, length=64):
    return struct.pack('!IHBB16s16s', 6 << 28, length, next_header, hop_limit,
                       socket.inet_pton(socket.AF_INET6, source), socket.inet_pton(socket.AF_INET6, destination))


def test_icmpv6_echo_request_leaves_the_checksum_to_the_kernel():
    request = ping.echo_request6(0x1234, 7, b'x' * 56)
    assert request[:4] == b'\x80\x00\x00\x00' and struct.unpack('!HH', request[4:8]) == (0x1234, 7)
    assert len(request) == 64


def test_icmpv6_reply_carries_the_hop_limit_and_errors_quote_our_request():
    # A raw ICMPv6 socket reads the message only; source and hop limit come from recvmsg.
    reply = b'\x81\x00\x00\x00' + struct.pack('!HH', 0x1234, 7) + b'x' * 56
    assert ping.parse_icmp6(reply, 'fd00:10:244::43', 62) == ('reply', 0x1234, 7, 'fd00:10:244::43', 62)
    quoted = ipv6_header('fd00:10:244::2', 'fd00:10:244::99', 63) + ping.echo_request6(0x1234, 9, b'x' * 56)
    error = b'\x01\x03\x00\x00\x00\x00\x00\x00' + quoted
    assert ping.parse_icmp6(error, 'fe80::ecee:eeff:feee:eeee', 64) == (
        'error', 0x1234, 9, 'fe80::ecee:eeff:feee:eeee', 'From fe80::ecee:eeff:feee:eeee: Destination unreachable: Address unreachable')
    exceeded = b'\x03\x00\x00\x00\x00\x00\x00\x00' + quoted
    assert ping.parse_icmp6(exceeded, 'fd00:91::202', 64)[4] == 'From fd00:91::202: Time exceeded: Hop limit'
    # Our own request (seen when pinging a local address), neighbour discovery, a quote of something else.
    assert ping.parse_icmp6(ping.echo_request6(1, 1, b''), 'fd00::1', 64) is None
    assert ping.parse_icmp6(b'\x87\x00\x00\x00' + b'\x00' * 20, 'fe80::1', 255) is None
    udp = b'\x01\x04\x00\x00\x00\x00\x00\x00' + ipv6_header('fd00::2', 'fd00::3', 64, next_header=17) + b'\x00' * 8
    assert ping.parse_icmp6(udp, 'fd00::3', 64) is None and ping.parse_icmp6(b'\x81', 'fd00::3', 64) is None


def test_family_of_an_address():
    # The probe picks its socket by ipfamily.family_of, the shared layer's family test.
    assert (ping.family_of('10.10.1.2'), ping.family_of('fd00:10:244::43')) == (4, 6)


@pytest.mark.parametrize('interval,accepted', [(0.2, True), (0.05, True), (0.01, True), (0.005, False)])
def test_interval_is_ping_s_by_default_and_bounded_below(interval, accepted):
    params = {'count': 3, 'deadline': 5, 'interval': interval}
    assert ping.ping_argument_spec(3)['interval']['default'] == 0.2
    if accepted:
        ping.check_ping_options(params)
    else:
        with pytest.raises(LabError, match='interval: at least 0.01'):
            ping.check_ping_options(params)


def test_a_row_holds_the_result_and_reads_back():
    """pod_ping's rows (what verify asks for): every field of a result, the errors last, '-' for none."""
    good = {'source': 'netns01', 'target': 'netns03', 'ip': '10.10.1.2', 'family': 'ipv4', 'sent': 3, 'received': 3,
            'ttl': 62, 'rtt_avg_ms': 0.081, 'host_dev': 'tunl0', 'host_gateway': '172.16.91.202', 'ok': True}
    assert ping.result_row(good) == 'netns01 netns03 10.10.1.2 ipv4 3 3 62 0.081 tunl0 172.16.91.202'
    assert ping.row_result(ping.result_row(good)) == good
    lost = dict(good, target='netns04', ip='fd00::4', family='ipv6', received=0, ttl=None, rtt_avg_ms=None,
                host_dev=None, host_gateway=None, ok=False,
                error=['From fd00::1: Destination unreachable: No route', 'no reply'])
    row = ping.result_row(lost)
    assert row == ('netns01 netns04 fd00::4 ipv6 3 0 - - - - '
                   'From fd00::1: Destination unreachable: No route | no reply')
    assert ping.row_result(row) == lost
