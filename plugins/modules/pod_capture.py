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
  - Opens a packet socket on the host's underlay O(interface), pings every probe's target from its
    source pod's network namespace, all probes at once (bounded by O(count) and O(deadline)), and decodes
    the frames the socket saw - what C(tcpdump -i eth0) would have shown the seeds.
  - The echo requests are sent from a raw ICMP socket inside the source pod's namespace (no C(ping)
    process, one per source pod, at most O(parallel) at once); their echo data carries a random mark,
    so only the probes' own requests and their replies are kept and counted, whatever else the pods
    exchange meanwhile. Two probes of the same pair of addresses are refused.
  - M(labnet.calico.pod_ping) does the same in its own run with its O(labnet.calico.pod_ping#module:capture) option.
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
    description: Pairs to ping while watching, all at once.
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
  parallel:
    description: Source pods probing at once (1-64).
    type: int
    default: 16
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
  description:
    - One entry per probe and family (C(family) ipv4 or ipv6; C(source_ip) and C(ip) of that family).
    - C(frames_seen) counts the frames of O(interface) the socket read during the run, of all the probes and anything else.
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.capture import PROBE_OPTIONS, capture, checked_probes
from ansible_collections.labnet.calico.plugins.module_utils.iproute import IPRoute, LabError, check_ifname
from ansible_collections.labnet.calico.plugins.module_utils.ping import check_ping_options, ping_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interface=dict(type='str', required=True),
            probes=dict(type='list', elements='dict', required=True, options=PROBE_OPTIONS),
            parallel=dict(type='int', default=16),
            **ping_argument_spec(count=2)
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        interface = check_ifname(params['interface'], 'interface')
        probes = checked_probes(params['probes'])
        check_ping_options(params)
        if not 1 <= params['parallel'] <= 64:
            raise LabError('parallel: %d is outside 1-64' % params['parallel'])
    except LabError as exc:
        module.fail_json(msg=str(exc))

    routes = IPRoute(module).routes_get(sorted(set(probe['ip'] for probe in probes)))
    try:
        results = capture(interface, probes, routes, params['count'], params['interval'], params['deadline'],
                          params['parallel'])
    except PermissionError:
        module.fail_json(msg='interface: watching %s needs root (CAP_NET_RAW)' % interface)
    except OSError as exc:
        module.fail_json(msg='interface: cannot watch %s: %s' % (interface, exc.strerror or exc))
    module.exit_json(changed=False, results=results)


if __name__ == '__main__':
    main()
