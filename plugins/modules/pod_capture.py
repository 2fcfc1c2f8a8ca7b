#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pod_capture
short_description: Watch the underlay while a pod pings a pod on another host, and say what crossed the wire
version_added: 0.2.0
description:
  - For each probe, opens a packet socket on the host's underlay O(interface), pings the target from the
    source pod's network namespace (bounded by O(count) and O(deadline)), then decodes every frame the
    socket saw - what C(tcpdump -i eth0) would have shown the seeds.
  - The echo requests are sent from a raw ICMP socket inside the source pod's namespace (no C(ping)
    process); their echo data carries a random mark, so only the probe's own requests and
    their replies are counted, whatever else the pods exchange meanwhile.
  - Keeps those ICMP echo requests and replies, and tells how each crossed
    the underlay - plain (the pod addresses on the wire, BGP mode), inside IP-in-IP (IP protocol 4, the
    outer addresses those of the two hosts), or inside VXLAN (UDP 4789, with its VNI).
  - IPv6 is decoded too - ICMPv6 echo plain on the underlay, and VXLAN over an IPv6 underlay
    (C(vxlan-v6.calico)); a probe with O(probes[].ip6) gives a second result, of family ipv6.
  - Also records how the host routes the target (C(ip route get)), so a caller can check that the wire
    agrees with the routing table.
  - It never changes anything and never fails because a ping fails - the caller judges.
author:
  - labnet.calico contributors (@labnet-calico)
options:
  interface:
    description: The underlay device to watch (the host's C(eth0) in the seeds).
    type: str
    required: true
  probes:
    description: Pairs to ping while watching, one after the other.
    type: list
    elements: dict
    required: true
    suboptions:
      source:
        description: Network namespace of the pod that pings.
        type: str
        required: true
      source_ip:
        description:
          - The source pod's IPv4 address (to pick its packets out of the capture). Left out, with O(probes[].ip),
            for pods of an IPv6-only lab, which are probed over IPv6 alone.
        type: str
      target:
        description: Name of the target (its pod), for the report.
        type: str
        required: true
      ip:
        description: The target pod's IPv4 address (with O(probes[].source_ip)).
        type: str
      source_ip6:
        description: The source pod's IPv6 address; with O(probes[].ip6), the pair is also probed over ICMPv6.
        type: str
      ip6:
        description: The target pod's IPv6 address (with O(probes[].source_ip6)).
        type: str
  count:
    description: Echo requests per probe (1-20).
    type: int
    default: 2
extends_documentation_fragment:
  - labnet.calico.attributes.READ_ONLY
  - labnet.calico.attributes
  - labnet.calico.ping
notes:
  - Needs root (a C(AF_PACKET) socket needs C(CAP_NET_RAW); entering a pod's namespace C(CAP_SYS_ADMIN)) and
    C(ip). It does not need C(ping) or C(tcpdump) - the frames are decoded here (Ethernet with or without 802.1Q tags, or raw IP devices).
seealso:
  - module: labnet.calico.pod_ping
'''

EXAMPLES = r'''
- name: What crosses eth0 when netns01 pings netns03 on the other host
  labnet.calico.pod_capture:
    interface: eth0
    probes:
      - {source: netns01, source_ip: 10.10.0.2, target: netns03, ip: 10.10.1.2}
  register: capture
'''

RETURN = r'''
results:
  description: One entry per probe and family (C(family) ipv4 or ipv6; C(source_ip) and C(ip) of that family).
  returned: always
  type: list
  elements: dict
  sample:
    - source: netns01
      family: ipv4
      source_ip: 10.10.0.2
      target: netns03
      ip: 10.10.1.2
      sent: 2
      received: 2
      route_dev: tunl0
      route_gateway: 172.16.91.202
      frames_seen: 6
      packets:
        - direction: out
          encapsulation: ipip
          outer_src: 172.16.91.201
          outer_dst: 172.16.91.202
          vni: null
          src: 10.10.0.2
          dst: 10.10.1.2
          icmp: request
          text: out 172.16.91.201 > 172.16.91.202 IP-in-IP, 10.10.0.2 > 10.10.1.2 ICMP echo request
'''

import os
import socket
import struct

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    IPRoute, LabError, check_ifname, check_netns, parse_ipv4_address, parse_ipv6_address,
)
from ansible_collections.labnet.calico.plugins.module_utils.ping import (
    ENCAPSULATION_NAMES, check_ping_options, ping_argument_spec, ping_from_netns,
)

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
# Frames read per probe at most: a few pings make a handful; this only bounds a noisy underlay.
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


def read_frames(sock, interface):
    """Every frame queued on the socket for INTERFACE, as (frame, outgoing, ethernet)."""
    frames = []
    for _attempt in range(MAX_FRAMES):
        try:
            frame, address = sock.recvfrom(65535)
        except (BlockingIOError, InterruptedError):
            break
        ifname, _protocol, packet_type, hardware_type = address[:4]
        if ifname == interface:
            frames.append((frame, packet_type == PACKET_OUTGOING, hardware_type == ARPHRD_ETHER))
    return frames


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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interface=dict(type='str', required=True),
            probes=dict(type='list', elements='dict', required=True, options=dict(
                source=dict(type='str', required=True),
                source_ip=dict(type='str'),
                target=dict(type='str', required=True),
                ip=dict(type='str'),
                source_ip6=dict(type='str'),
                ip6=dict(type='str'),
            )),
            **ping_argument_spec(count=2)
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        interface = check_ifname(params['interface'], 'interface')
        probes = []
        for index, probe in enumerate(params['probes']):
            field = 'probes[%d]' % index
            source = check_netns(probe['source'], field + '.source')
            if probe['ip'] is None and probe['ip6'] is None:
                raise LabError('%s: ip or ip6 is required' % field)
            # A probe of its own per family the pair has: IPv4 (none in an IPv6-only lab) and IPv6.
            for family, (mine, theirs), parse in (('ipv4', ('source_ip', 'ip'), parse_ipv4_address),
                                                  ('ipv6', ('source_ip6', 'ip6'), parse_ipv6_address)):
                if (probe[mine] is None) != (probe[theirs] is None):
                    raise LabError('%s: %s and %s go together' % (field, mine, theirs))
                if probe[theirs] is not None:
                    probes.append({'source': source, 'family': family, 'target': probe['target'],
                                   'source_ip': str(parse(probe[mine], '%s.%s' % (field, mine))),
                                   'ip': str(parse(probe[theirs], '%s.%s' % (field, theirs)))})
        check_ping_options(params)
    except LabError as exc:
        module.fail_json(msg=str(exc))

    iproute = IPRoute(module)
    results = []
    for probe in probes:
        route = iproute.route_get(probe['ip'])
        try:
            sock = open_capture(interface)
        except PermissionError:
            module.fail_json(msg='interface: watching %s needs root (CAP_NET_RAW)' % interface)
        except OSError as exc:
            module.fail_json(msg='interface: cannot watch %s: %s' % (interface, exc.strerror or exc))
        mark = os.urandom(8)
        try:
            ping = ping_from_netns(probe['source'], probe['ip'], params['count'], params['interval'],
                                   params['deadline'], pattern=mark)
            frames = read_frames(sock, interface)
        finally:
            sock.close()
        result = dict(probe, sent=ping['sent'], received=ping['received'], route_dev=route.get('dev'),
                      route_gateway=route.get('gateway'), frames_seen=len(frames),
                      packets=probe_packets(frames, probe['source_ip'], probe['ip'], mark))
        results.append(result)
    module.exit_json(changed=False, results=results)


if __name__ == '__main__':
    main()
