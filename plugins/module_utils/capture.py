# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What crosses a host's underlay while its pods ping: a packet socket on the device, echo requests with
a random mark in their data, and the frames decoded (plain, IP-in-IP or VXLAN, over IPv4 or IPv6).

Shared by pod_capture (the capture alone) and pod_ping (its matrix and the capture in one module run).
All of a run's probes are sent at once, one prober per source pod (module_utils/ping.py), while the
parent reads the socket: only frames carrying the run's mark are kept, so the other hosts' pings that
cross the device meanwhile neither fill the socket's buffer nor count.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import struct

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    LabError, check_netns, parse_ipv4_address, parse_ipv6_address,
)
from ansible_collections.labnet.calico.plugins.module_utils.ping import ENCAPSULATION_NAMES, probe_from_namespaces

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86dd
VLAN_ETHERTYPES = (0x8100, 0x88a8)
ARPHRD_ETHER = 1
PACKET_OUTGOING = 4
IPPROTO_ICMP = 1
IPPROTO_IPIP = 4
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
IPV6_HEADER = 40
VXLAN_PORT = 4789
ICMP_KINDS = {8: 'request', 0: 'reply'}
ICMPV6_KINDS = {128: 'request', 129: 'reply'}
# Frames read from the socket at one go, and marked frames kept, at most: a run's probes make a few per
# pair; this only bounds a noisy underlay.
MAX_FRAMES = 20000
RECEIVE_BUFFER = 4 * 1024 * 1024


def decode_ipv4(data):
    """(source, destination, protocol, payload) of an unfragmented IPv4 packet, else None."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    header_length = (data[0] & 0x0f) * 4
    total_length, fragment = struct.unpack('!H2xH', data[2:8])
    if header_length < 20 or len(data) < header_length or fragment & 0x1fff:
        return None
    payload = data[header_length:total_length] if total_length >= header_length else data[header_length:]
    return socket.inet_ntoa(data[12:16]), socket.inet_ntoa(data[16:20]), data[9], payload


def decode_ipv6(data):
    """(source, destination, next header, payload) of an IPv6 packet, else None. Extension headers are
    not followed: the probes' ICMPv6 and VXLAN's UDP come right after the fixed header (a fragment's
    next header is 44, which no caller looks for)."""
    if len(data) < IPV6_HEADER or data[0] >> 4 != 6:
        return None
    payload_length = struct.unpack('!H', data[4:6])[0]
    return (socket.inet_ntop(socket.AF_INET6, data[8:24]), socket.inet_ntop(socket.AF_INET6, data[24:40]), data[6],
            data[IPV6_HEADER:IPV6_HEADER + payload_length])


def decode_ip(data):
    """decode_ipv4 or decode_ipv6, as the version nibble says."""
    if data and data[0] >> 4 == 6:
        return decode_ipv6(data)
    return decode_ipv4(data)


def strip_ethernet(frame):
    """The IPv4 or IPv6 packet inside an Ethernet frame (802.1Q/802.1ad tags skipped), else None."""
    offset = 12
    while len(frame) >= offset + 2:
        ethertype = struct.unpack('!H', frame[offset:offset + 2])[0]
        if ethertype in VLAN_ETHERTYPES:
            offset += 4
            continue
        packet = frame[offset + 2:]
        version = {ETH_P_IP: 4, ETH_P_IPV6: 6}.get(ethertype)
        return packet if version and packet and packet[0] >> 4 == version else None
    return None


def decode_echo(packet):
    """(source, destination, 'request' or 'reply', echo data) of an ICMP or ICMPv6 echo packet, else None."""
    decoded = decode_ip(packet)
    if not decoded or len(decoded[3]) < 8:
        return None
    kinds = {IPPROTO_ICMP: ICMP_KINDS, IPPROTO_ICMPV6: ICMPV6_KINDS}.get(decoded[2])
    if kinds is None or packet[0] >> 4 != (4 if decoded[2] == IPPROTO_ICMP else 6):
        return None
    kind = kinds.get(decoded[3][0])
    return (decoded[0], decoded[1], kind, decoded[3][8:]) if kind else None


def decode_frame(frame, ethernet=True):
    """How one frame carries an ICMP echo: a dict with encapsulation none, ipip or vxlan, else None.

    Over IPv4 or IPv6, outside and inside alike: vxlan-v6.calico's frames are VXLAN in UDP over IPv6.
    Its 'data' is the echo data (bytes), where a probe's mark is."""
    packet = strip_ethernet(frame) if ethernet else frame
    outer = decode_ip(packet) if packet else None
    if not outer:
        return None
    outer_src, outer_dst, protocol, payload = outer
    found = {'encapsulation': 'none', 'outer_src': None, 'outer_dst': None, 'vni': None}
    if protocol in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        echo = decode_echo(packet)
    elif protocol == IPPROTO_IPIP:
        echo = decode_echo(payload)
        found.update(encapsulation='ipip', outer_src=outer_src, outer_dst=outer_dst)
    elif protocol == IPPROTO_UDP and len(payload) >= 16 and VXLAN_PORT in struct.unpack('!HH', payload[:4]):
        inner = strip_ethernet(payload[16:])  # UDP header (8), VXLAN header (8), inner Ethernet frame
        echo = decode_echo(inner) if inner else None
        found.update(encapsulation='vxlan', outer_src=outer_src, outer_dst=outer_dst,
                     vni=struct.unpack('!I', payload[12:16])[0] >> 8)
    else:
        return None
    if not echo:
        return None
    found.update(src=echo[0], dst=echo[1], icmp=echo[2], data=echo[3])
    return found


def describe(packet):
    """One line, tcpdump-like."""
    inner = '%s > %s %s echo %s' % (packet['src'], packet['dst'], 'ICMP6' if ':' in packet['src'] else 'ICMP',
                                    packet['icmp'])
    if packet['encapsulation'] == 'none':
        return '%s %s' % (packet['direction'], inner)
    vni = ' vni %d' % packet['vni'] if packet['vni'] is not None else ''
    return '%s %s > %s %s%s, %s' % (packet['direction'], packet['outer_src'], packet['outer_dst'],
                                    ENCAPSULATION_NAMES[packet['encapsulation']], vni, inner)


def open_capture(interface):
    """A non-blocking packet socket on INTERFACE that sees frames in both directions from now on."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        except OSError:
            pass  # the kernel's default buffer holds far more than a few pings
        sock.bind((interface, 0))
        sock.setblocking(False)
        read_frames(sock, interface)  # drop what arrived between socket() and bind(), from any device
    except Exception:
        sock.close()
        raise
    return sock


def read_frames(sock, interface, mark=None):
    """Every frame queued on the socket for INTERFACE (at most MAX_FRAMES), as (frame, outgoing, ethernet),
    and how many frames of INTERFACE were read; with MARK only the frames that carry it are returned."""
    frames, seen = [], 0
    for _attempt in range(MAX_FRAMES):
        try:
            frame, address = sock.recvfrom(65535)
        except (BlockingIOError, InterruptedError):
            break
        ifname, _protocol, packet_type, hardware_type = address[:4]
        if ifname != interface:
            continue
        seen += 1
        if mark is None or mark in frame:
            frames.append((frame, packet_type == PACKET_OUTGOING, hardware_type == ARPHRD_ETHER))
    return frames, seen


def probe_packets(frames, source_ip, target_ip, mark):
    """The probe's echo requests and replies (between the two pods, with its mark), decoded."""
    pair = set([source_ip, target_ip])
    packets = []
    for frame, outgoing, ethernet in frames:
        packet = decode_frame(frame, ethernet)
        if packet and set([packet['src'], packet['dst']]) == pair and mark in packet.pop('data'):
            packet['direction'] = 'out' if outgoing else 'in'
            packet['text'] = describe(packet)
            packets.append(packet)
    return packets


# pod_capture's probes option, and pod_ping's capture.probes.
PROBE_OPTIONS = dict(source=dict(type='str', required=True), source_ip=dict(type='str'), target=dict(type='str', required=True),
                     ip=dict(type='str'), source_ip6=dict(type='str'), ip6=dict(type='str'))


def checked_probes(probes, field='probes'):
    """[{source, family, target, source_ip, ip}]: a probe of its own per family each of PROBES has (IPv4,
    none in an IPv6-only lab, and IPv6), every value checked; two probes of one address pair refused
    (their packets could not be told apart)."""
    found, pairs = [], {}
    for index, probe in enumerate(probes):
        name = '%s[%d]' % (field, index)
        # pod_ping's capture.probes come without an argument spec of their own: the same rules here.
        unknown = sorted(set(probe) - set(PROBE_OPTIONS))
        if unknown:
            raise LabError('%s: unknown key %s' % (name, unknown[0]))
        for key in sorted(probe):
            if probe[key] is not None and not isinstance(probe[key], str):
                raise LabError('%s.%s: a string, not %r' % (name, key, probe[key]))
        for key in ('source', 'target'):
            if not probe.get(key):
                raise LabError('%s.%s is required' % (name, key))
        source = check_netns(probe['source'], name + '.source')
        if probe.get('ip') is None and probe.get('ip6') is None:
            raise LabError('%s: ip or ip6 is required' % name)
        for family, (mine, theirs), parse in (('ipv4', ('source_ip', 'ip'), parse_ipv4_address),
                                              ('ipv6', ('source_ip6', 'ip6'), parse_ipv6_address)):
            if (probe.get(mine) is None) != (probe.get(theirs) is None):
                raise LabError('%s: %s and %s go together' % (name, mine, theirs))
            if probe.get(theirs) is None:
                continue
            item = {'source': source, 'family': family, 'target': probe['target'],
                    'source_ip': str(parse(probe[mine], '%s.%s' % (name, mine))),
                    'ip': str(parse(probe[theirs], '%s.%s' % (name, theirs)))}
            pair = frozenset((item['source_ip'], item['ip']))
            if pair in pairs:
                raise LabError('%s: the same pair of addresses as %s' % (name, pairs[pair]))
            pairs[pair] = name
            found.append(item)
    return found


def capture(interface, probes, routes, count, interval, deadline, parallel=16):
    """Watch INTERFACE while every one of PROBES (checked_probes') pings at once; one result per probe
    (pod_capture's RETURN), ROUTES ({address: route_get}) telling how the host routes each target.

    Raises OSError when the device cannot be watched (before anything is sent)."""
    sock = open_capture(interface)
    mark = os.urandom(8)
    kept, seen = [], [0]

    def drain():
        frames, count_seen = read_frames(sock, interface, mark)
        seen[0] += count_seen
        kept.extend(frames[:MAX_FRAMES - len(kept)])

    jobs = {}
    for probe in probes:
        jobs.setdefault(probe['source'], []).append(probe['ip'])
    try:
        answers = probe_from_namespaces(jobs, count, interval, deadline, parallel=parallel, pattern=mark,
                                        watch=(sock.fileno(), drain))
        drain()  # the last replies: in the socket's queue before their prober read them
    finally:
        sock.close()
    results = []
    for probe in probes:
        answer = answers[probe['source']]
        ping = answer['results'][probe['ip']] if 'results' in answer else {'sent': 0, 'received': 0}
        route = routes.get(probe['ip']) or {}
        results.append(dict(probe, sent=ping['sent'], received=ping['received'], route_dev=route.get('dev'),
                            route_gateway=route.get('gateway'), frames_seen=seen[0],
                            packets=probe_packets(kept, probe['source_ip'], probe['ip'], mark)))
    return results
