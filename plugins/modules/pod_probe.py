#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pod_probe
short_description: Bounded TCP/UDP listeners and TCP/UDP/ICMP probes in pod network namespaces
version_added: 0.2.0
description:
  - O(listen) starts one detached listener per pod namespace (forked, C(setns) into C(/run/netns/NAME),
    no shell) on the given TCP and UDP ports, of IPv4 and IPv6 (one socket on C(::) for both); it answers until O(lifetime) seconds have passed (a TCP
    connection gets a token, a UDP datagram is echoed) and then exits. Their pids are returned.
  - O(probes) opens every connection of a source namespace at once from one forked child in it and
    waits at most O(timeout) seconds - C(open) (TCP handshake done, or the UDP echo came back),
    C(refused) (reset or port unreachable - the path works, nothing listens), C(timeout) (dropped).
    ICMP probes are echo requests (two, within two seconds) sent as M(labnet.calico.pod_ping) sends them.
  - O(stop) ends listeners by pid; a pid whose process is not a listener (process name
    C(labnet-listen)) is left alone.
  - Used by the verify role to test the ports Calico network policies name.
author:
  - labnet.calico contributors (@labnet-calico)
options:
  listen:
    description: Ports to listen on.
    type: list
    elements: dict
    default: []
    suboptions:
      netns:
        description: Pod network namespace.
        type: str
        required: true
      protocol:
        description: C(tcp) or C(udp).
        type: str
        required: true
        choices: [tcp, udp]
      port:
        description: Port, 1-65535.
        type: int
        required: true
  lifetime:
    description: Seconds a listener answers before it exits (1-300).
    type: int
    default: 60
  probes:
    description: Connections to try.
    type: list
    elements: dict
    default: []
    suboptions:
      source:
        description: Network namespace to probe from.
        type: str
        required: true
      target:
        description: Name of the target (its pod), for the report.
        type: str
        required: true
      ip:
        description: Target IPv4 or IPv6 address (an ICMP probe of IPv6 is an ICMPv6 echo).
        type: str
        required: true
      protocol:
        description: C(tcp), C(udp) or C(icmp).
        type: str
        required: true
        choices: [tcp, udp, icmp]
      port:
        description: Target port (not for C(icmp)).
        type: int
  timeout:
    description: Seconds a TCP/UDP probe waits at most (0.2-10).
    type: float
    default: 1.0
  stop:
    description: Pids of listeners to end.
    type: list
    elements: int
    default: []
extends_documentation_fragment:
  - labnet.calico.attributes
notes:
  - Needs root (entering a namespace needs C(CAP_SYS_ADMIN), ICMP a raw socket).
  - In check mode nothing is started or stopped; probes still run (they change nothing).
'''

EXAMPLES = r'''
- name: Listen on TCP 80 in a pod for a minute
  labnet.calico.pod_probe:
    listen: [{netns: pod-a1, protocol: tcp, port: 80}]
    lifetime: 60
  register: listening

- name: Try it from another pod
  labnet.calico.pod_probe:
    probes: [{source: pod-b1, target: pod-a1, ip: 10.244.0.2, protocol: tcp, port: 80}]

- name: Stop the listeners
  labnet.calico.pod_probe:
    stop: "{{ listening.pids.values() | list }}"
'''

RETURN = r'''
pids:
  description: Listener pid per namespace started by this run.
  returned: always
  type: dict
stopped:
  description: Pids ended by this run.
  returned: always
  type: list
  elements: int
results:
  description: One entry per probe, with C(state) (open, refused, timeout or error text) and C(ok) (open).
  returned: always
  type: list
  elements: dict
  sample:
    - {source: pod-b1, target: pod-a1, ip: 10.244.0.2, protocol: tcp, port: 80, state: open, ok: true}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils import ping, probe
from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError, check_netns, parse_ip_address


def _port(value, field):
    if value is None or not 1 <= value <= 65535:
        raise LabError('%s: %r is not a port 1-65535' % (field, value))
    return value


def main():
    listen_options = dict(netns=dict(type='str', required=True),
                          protocol=dict(type='str', required=True, choices=['tcp', 'udp']),
                          port=dict(type='int', required=True))
    probe_options = dict(source=dict(type='str', required=True), target=dict(type='str', required=True),
                         ip=dict(type='str', required=True),
                         protocol=dict(type='str', required=True, choices=['tcp', 'udp', 'icmp']),
                         port=dict(type='int'))
    module = AnsibleModule(
        argument_spec=dict(
            listen=dict(type='list', elements='dict', options=listen_options, default=[]),
            lifetime=dict(type='int', default=60),
            probes=dict(type='list', elements='dict', options=probe_options, default=[]),
            timeout=dict(type='float', default=1.0),
            stop=dict(type='list', elements='int', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        probe.check_bounds(params['lifetime'], params['timeout'])
        listen = {}
        for index, item in enumerate(params['listen']):
            netns = check_netns(item['netns'], 'listen[%d].netns' % index)
            listen.setdefault(netns, []).append((item['protocol'], _port(item['port'], 'listen[%d].port' % index)))
        probes, icmp = {}, {}
        for index, item in enumerate(params['probes']):
            field = 'probes[%d]' % index
            source = check_netns(item['source'], field + '.source')
            ip = str(parse_ip_address(item['ip'], field + '.ip'))
            if item['protocol'] == 'icmp':
                icmp.setdefault(source, []).append(ip)
            else:
                probes.setdefault(source, []).append((index, item['protocol'], ip, _port(item['port'], field + '.port')))
        stopped = [] if module.check_mode else probe.stop_listeners(params['stop'])
        pids, errors = ({}, []) if module.check_mode else probe.start_listeners(listen, params['lifetime'])
        if errors:
            probe.stop_listeners(list(pids.values()))
            raise LabError('; '.join(errors))
        answers = probe.probe_from_namespaces(probes, params['timeout']) if probes else {}
        pings = ping.probe_from_namespaces(icmp, 2, ping.DEFAULT_INTERVAL, 2) if icmp else {}
    except LabError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='pod_probe: %s' % (exc.strerror or exc))
    results = []
    for index, item in enumerate(params['probes']):
        if item['protocol'] == 'icmp':
            answer = pings.get(item['source'], {})
            if 'error' in answer:
                state = 'error: %s' % answer['error']
            else:
                state = 'open' if answer['results'][item['ip']]['received'] > 0 else 'timeout'
        else:
            answer = answers.get(item['source'], {})
            state = 'error: %s' % answer['error'] if 'error' in answer else answer['results'][str(index)]
        results.append(dict(item, state=state, ok=state == 'open'))
    module.exit_json(changed=bool(pids or stopped), pids=pids, stopped=stopped, results=results)


if __name__ == '__main__':
    main()
