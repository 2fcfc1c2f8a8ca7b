#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pod_ping
short_description: Ping from pod network namespaces to pod addresses, bounded in count and time
version_added: 0.1.0
description:
  - Runs C(ping) inside each source network namespace towards every target address and returns, per
    pair, packets sent and received, the TTL of the replies and the round-trip times.
  - Every ping is bounded by O(count) and a deadline of O(deadline) seconds; at most O(parallel) run at
    once. The module never changes anything and never fails because a ping fails - the caller judges.
  - For every target it also records how the host it runs on routes that address (C(ip route get)) - the
    output device and gateway, so a caller can tell a plain path from one through C(tunl0).
  - The TTL tells the path - 63 for a pod on the same host (one routed hop), 62 for a pod on another
    host (two hops), whether the packets crossed the underlay plain or inside IP-in-IP.
requirements:
  - iputils-ping (C(ping))
author:
  - labnet.calico contributors (@labnet-calico)
options:
  sources:
    description: Network namespaces to ping from.
    type: list
    elements: str
    required: true
  targets:
    description: Addresses to ping, each with a name for the report.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the target (its pod).
        type: str
        required: true
      ip:
        description: Its IPv4 address.
        type: str
        required: true
  count:
    description: Echo requests per pair (1-20).
    type: int
    default: 3
  parallel:
    description: Pings running at once (1-64).
    type: int
    default: 16
extends_documentation_fragment:
  - labnet.calico.attributes.READ_ONLY
  - labnet.calico.attributes
  - labnet.calico.ping
notes:
  - Needs C(ping) (iputils) and root for C(ip netns exec).
'''

EXAMPLES = r'''
- name: Every local pod pings every pod of the lab
  labnet.calico.pod_ping:
    sources: [netns01, netns02]
    targets:
      - {name: netns03, ip: 10.10.1.2}
      - {name: netns04, ip: 10.10.1.3}
    count: 2
'''

RETURN = r'''
results:
  description: One entry per source and target.
  returned: always
  type: list
  elements: dict
  sample:
    - source: netns01
      target: netns03
      ip: 10.10.1.2
      sent: 2
      received: 2
      ttl: 62
      rtt_avg_ms: 0.08
      ok: true
      host_dev: tunl0
      host_gateway: 172.16.91.202
failed_pairs:
  description: Number of pairs that received nothing back.
  returned: always
  type: int
'''

from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    IPRoute, LabError, check_netns, parse_ipv4_address,
)
from ansible_collections.labnet.calico.plugins.module_utils.ping import (
    check_ping_options, ping_argument_spec, ping_from_netns,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sources=dict(type='list', elements='str', required=True),
            targets=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                ip=dict(type='str', required=True),
            )),
            parallel=dict(type='int', default=16),
            **ping_argument_spec(count=3)
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        sources = [check_netns(source, 'sources[%d]' % i) for i, source in enumerate(params['sources'])]
        targets = [(t['name'], str(parse_ipv4_address(t['ip'], 'targets[%d].ip' % i)))
                   for i, t in enumerate(params['targets'])]
        check_ping_options(params)
        if not 1 <= params['parallel'] <= 64:
            raise LabError('parallel: %d is outside 1-64' % params['parallel'])
    except LabError as exc:
        module.fail_json(msg=str(exc))

    def run_pair(pair):
        source, (name, address) = pair
        result = ping_from_netns(module, source, address, params['count'], params['interval'], params['deadline'])
        result.update({'source': source, 'target': name, 'ip': address, 'ok': result['received'] > 0,
                       'host_dev': paths[address].get('dev'), 'host_gateway': paths[address].get('gateway')})
        return result

    # How this host routes each target: the device tells plain (underlay, cali*) from tunnelled (tunl0).
    iproute = IPRoute(module)
    paths = dict((address, iproute.route_get(address)) for _name, address in targets)

    pairs = [(source, target) for source in sources for target in targets if source != target[0]]
    with ThreadPoolExecutor(max_workers=params['parallel']) as pool:
        results = list(pool.map(run_pair, pairs))
    module.exit_json(changed=False, results=results, failed_pairs=sum(1 for r in results if not r['ok']))


if __name__ == '__main__':
    main()
