#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pod_ping
short_description: Ping from pod network namespaces to pod addresses (IPv4 and IPv6), bounded in count and time
version_added: 0.1.0
description:
  - Sends ICMP echo requests from each source network namespace towards its targets and returns, per
    pair and family, requests sent and replies received, the TTL of the replies and the round-trip time.
  - A target (or pair) with C(ip6) is also probed over ICMPv6, by the same process - a raw C(IPPROTO_ICMPV6)
    socket beside the ICMP one, the replies' hop limit read from their C(IPV6_HOPLIMIT) ancillary data.
  - One process per source, not per pair - a forked child enters the pod's namespace (C(/run/netns/NAME)),
    opens one raw ICMP socket and keeps many requests in flight, matching replies by identifier and
    sequence and reading the TTL from each reply's IP header (the hop limit over IPv6). No C(ping) binary is needed.
  - Either every source to every target (O(sources) and O(targets)), or the pairs listed in O(pairs)
    (the sample M(labnet.calico.pod_ping)'s caller chose for a large lab).
  - Every request waits at most one second for its reply; each source sends O(count) rounds, a round
    no sooner than O(interval) after the previous one, and nothing after O(deadline) seconds. At most
    O(parallel) sources probe at once. The module never changes anything and never fails because a
    pair fails - the caller judges; anything else that goes wrong is one failure of the module.
  - For every target it also records how the host it runs on routes that address (C(ip route get)) - the
    output device and gateway, so a caller can tell a plain path from one through C(tunl0).
  - The TTL tells the path - 63 for a pod on the same host (one routed hop), 62 for a pod on another
    host (two hops), whether the packets crossed the underlay plain or inside IP-in-IP. The IPv6 hop
    limit counts the same way (64 at the sender, less one per forwarding host).
author:
  - labnet.calico contributors (@labnet-calico)
options:
  sources:
    description: Network namespaces to ping from, each to every one of O(targets) but itself.
    type: list
    elements: str
  targets:
    description: Addresses to ping, each with a name for the report.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the target (its pod).
        type: str
        required: true
      ip:
        description: Its IPv4 address (one of O(targets[].ip) and O(targets[].ip6) at least).
        type: str
      ip6:
        description: Its IPv6 address, probed over ICMPv6 in the same run.
        type: str
  pairs:
    description: Instead of O(sources) and O(targets) - exactly these pairs.
    type: list
    elements: dict
    suboptions:
      source:
        description: Network namespace to ping from.
        type: str
        required: true
      target:
        description: Name of the target (its pod).
        type: str
        required: true
      ip:
        description: Its IPv4 address (one of O(pairs[].ip) and O(pairs[].ip6) at least).
        type: str
      ip6:
        description: Its IPv6 address, probed over ICMPv6 in the same run.
        type: str
  count:
    description: Echo requests per pair (1-20).
    type: int
    default: 3
  parallel:
    description: Sources probing at once (1-64).
    type: int
    default: 16
  rows:
    description:
      - Return RV(rows), one line of text per pair, instead of RV(results) - the same fields, for a full matrix of
        a few hundred pods (hundreds of thousands of pairs), which Ansible carries far faster as strings.
    type: bool
    default: false
  capture:
    description:
      - After the pings, watch the host's underlay while these probes ping, as M(labnet.calico.pod_capture) does, in
        the same run; its results are RV(captured).
    type: dict
    suboptions:
      interface:
        description: The underlay device to watch.
        type: str
        required: true
      probes:
        description:
          - Pairs to ping while watching, each a dict with the keys of M(labnet.calico.pod_capture)'s
            O(labnet.calico.pod_capture#module:probes) (C(source), C(target), C(source_ip) and C(ip), C(source_ip6) and
            C(ip6)), checked as that module checks them.
        type: list
        elements: dict
        required: true
      count:
        description: Echo requests per probe (1-20).
        type: int
        default: 2
extends_documentation_fragment:
  - labnet.calico.attributes.READ_ONLY
  - labnet.calico.attributes
  - labnet.calico.ping
notes:
  - Needs root - entering a namespace needs C(CAP_SYS_ADMIN), a raw ICMP socket C(CAP_NET_RAW) - and C(ip).
'''

EXAMPLES = r'''
- name: Every local pod pings every pod of the lab
  labnet.calico.pod_ping:
    sources: [netns01, netns02]
    targets:
      - {name: netns03, ip: 10.10.1.2}
      - {name: netns04, ip: 10.10.1.3, ip6: 'fd00:10:244::43'}
    count: 2

- name: Only the pairs a sample chose
  labnet.calico.pod_ping:
    pairs:
      - {source: netns01, target: netns04, ip: 10.10.1.3}
'''

RETURN = r'''
results:
  description: One entry per source, target and family (C(ip) is the address probed, C(family) ipv4 or ipv6, C(ttl) the hop limit over IPv6).
  returned: unless O(rows) is true
  type: list
  elements: dict
  sample:
    - source: netns01
      target: netns03
      ip: 10.10.1.2
      family: ipv4
      sent: 2
      received: 2
      ttl: 62
      rtt_avg_ms: 0.08
      ok: true
      host_dev: tunl0
      host_gateway: 172.16.91.202
rows:
  description:
    - With O(rows), instead of RV(results) - per pair, the fields C(source target ip family sent received ttl rtt_avg_ms
      host_dev host_gateway) apart by single spaces (C(-) for none), then the errors if any (C( | ) between them).
  returned: when O(rows) is true
  type: list
  elements: str
  sample: ['netns01 netns03 10.10.1.2 ipv4 2 2 62 0.08 tunl0 172.16.91.202']
failed_pairs:
  description: Number of pairs that received nothing back.
  returned: always
  type: int
captured:
  description: With O(capture), M(labnet.calico.pod_capture)'s RV(labnet.calico.pod_capture#module:results) for its probes.
  returned: when O(capture) is given
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.capture import capture, checked_probes
from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    IPRoute, LabError, check_ifname, check_netns, parse_ipv4_address, parse_ipv6_address,
)
from ansible_collections.labnet.calico.plugins.module_utils.ping import (
    PING_LIMITS, check_ping_options, ping_argument_spec, probe_from_namespaces, result_row,
)


FAMILIES = (('ip', 'ipv4', parse_ipv4_address), ('ip6', 'ipv6', parse_ipv6_address))


def _addresses(item, field):
    """[(address, family)] of a target or pair: its IPv4 ``ip`` and IPv6 ``ip6``, at least one of them."""
    found = [(str(parse(item[key], '%s.%s' % (field, key))), name) for key, name, parse in FAMILIES
             if item.get(key) is not None]
    if not found:
        raise LabError('%s: neither ip nor ip6 given' % field)
    return found


def checked_pairs(params):
    """[(source, target name, address, family)] from sources x targets or from pairs, every value checked:
    one entry per family a target has."""
    if params['pairs'] is not None:
        return [(check_netns(p['source'], 'pairs[%d].source' % i), p['target'], address, name)
                for i, p in enumerate(params['pairs']) for address, name in _addresses(p, 'pairs[%d]' % i)]
    sources = [check_netns(source, 'sources[%d]' % i) for i, source in enumerate(params['sources'])]
    targets = [(t['name'], address, name) for i, t in enumerate(params['targets'])
               for address, name in _addresses(t, 'targets[%d]' % i)]
    return [(source, name, address, fam) for source in sources for name, address, fam in targets if source != name]


def checked_capture(spec):
    """(interface, probes, count) of the capture option, every value checked; None without it."""
    if spec is None:
        return None
    low, high = PING_LIMITS['count']
    if not low <= spec['count'] <= high:
        raise LabError('capture.count: %d is outside %d-%d' % (spec['count'], low, high))
    return (check_ifname(spec['interface'], 'capture.interface'), checked_probes(spec['probes'], 'capture.probes'),
            spec['count'])


def main():
    target_options = dict(name=dict(type='str', required=True), ip=dict(type='str'), ip6=dict(type='str'))
    pair_options = dict(source=dict(type='str', required=True), target=dict(type='str', required=True),
                        ip=dict(type='str'), ip6=dict(type='str'))
    capture_options = dict(interface=dict(type='str', required=True), count=dict(type='int', default=2),
                           probes=dict(type='list', elements='dict', required=True))  # checked_probes checks each
    module = AnsibleModule(
        argument_spec=dict(
            sources=dict(type='list', elements='str'),
            targets=dict(type='list', elements='dict', options=target_options),
            pairs=dict(type='list', elements='dict', options=pair_options),
            parallel=dict(type='int', default=16),
            rows=dict(type='bool', default=False),
            capture=dict(type='dict', options=capture_options),
            **ping_argument_spec(count=3)
        ),
        mutually_exclusive=[('pairs', 'sources'), ('pairs', 'targets')],
        required_one_of=[('pairs', 'sources')],
        required_together=[('sources', 'targets')],
        supports_check_mode=True,
    )
    params = module.params
    try:
        pairs = checked_pairs(params)
        check_ping_options(params)
        if not 1 <= params['parallel'] <= 64:
            raise LabError('parallel: %d is outside 1-64' % params['parallel'])
        if params['rows']:
            spaced = sorted(set(p[1] for p in pairs if not p[1] or any(c.isspace() for c in p[1])))
            if spaced:
                raise LabError('rows: a target name with a space would break its row: %r' % spaced[0])
        watch = checked_capture(params['capture'])
        # How this host routes each target: the device tells plain (underlay, cali*) from tunnelled (tunl0).
        wanted = [p[2] for p in pairs] + ([probe['ip'] for probe in watch[1]] if watch else [])
        paths = IPRoute(module).routes_get(sorted(set(wanted)))
        jobs = {}
        for source, _name, address, _family in pairs:
            jobs.setdefault(source, []).append(address)
        answers = probe_from_namespaces(jobs, params['count'], params['interval'], params['deadline'],
                                        parallel=params['parallel'])
    except LabError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='pod_ping could not start its probes: %s' % (exc.strerror or exc))

    results = []
    for source, name, address, fam in pairs:
        answer = answers[source]
        if 'error' in answer:
            result = {'sent': 0, 'received': 0, 'ttl': None, 'rtt_avg_ms': None, 'error': [answer['error']]}
        else:
            result = dict(answer['results'][address])
        result.update({'source': source, 'target': name, 'ip': address, 'family': fam, 'ok': result['received'] > 0,
                       'host_dev': paths[address].get('dev'), 'host_gateway': paths[address].get('gateway')})
        results.append(result)
    failed = sum(1 for r in results if not r['ok'])
    extra = {'rows': [result_row(r) for r in results]} if params['rows'] else {'results': results}
    if watch:
        # After the matrix, its own probes apart from it; the mark keeps the matrix's packets out of it.
        interface, probes, count = watch
        try:
            extra['captured'] = capture(interface, probes, paths, count, params['interval'], params['deadline'],
                                        params['parallel'])
        except OSError as exc:
            module.fail_json(msg='capture.interface: cannot watch %s: %s' % (interface, exc.strerror or exc))
    module.exit_json(changed=False, failed_pairs=failed, **extra)


if __name__ == '__main__':
    main()
