#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pod_iperf
short_description: Bounded iperf3 runs, RTT samples and a DF probe from a pod's or the host's network namespace
version_added: 0.2.0
description:
  - O(state=server) starts a one-off iperf3 server (C(--one-off --daemon --idle-timeout)) in the network
    namespace O(netns), or in the namespace the module runs in (the lab host's) when O(netns) is unset,
    and waits until it listens. It ends by itself after one test or O(idle_timeout) idle seconds.
  - O(state=stopped) stops the server O(name) started (by its pid file, only a process that is that iperf3
    server) - what a play runs in an C(always) section, so nothing is left running.
  - O(state=client) measures towards O(server) - O(rtt_count) echo requests one at a time (the RTT),
    with O(pmtu_dev) a Don't Fragment probe at that device's MTU (must pass) and one byte more (must
    fail), then one iperf3 TCP run of O(time) seconds with C(--connect-timeout), all of it killed after
    a bound (C(timeout)). It reports how the host routes O(server) (C(ip route get)) - the path.
  - Argv lists only; iperf3's C(--json) output is parsed. The client changes nothing.
author:
  - labnet.calico contributors (@labnet-calico)
options:
  state:
    description: Start a server, stop it, or run the client.
    type: str
    choices: [server, stopped, client]
    required: true
  netns:
    description: Named network namespace (a pod) to run in; unset - the namespace the module runs in.
    type: str
  name:
    description: Name of the server (its pid file C(/run/labnet-calico/iperf3-NAME.pid)); O(state=server) and O(state=stopped).
    type: str
  port:
    description: TCP port of the server (1024-65535).
    type: int
    default: 5201
  idle_timeout:
    description: Seconds after which an idle server ends by itself (5-600).
    type: int
    default: 60
  server:
    description: IPv4 address of the server; O(state=client).
    type: str
  time:
    description: Seconds of the iperf3 run (1-30).
    type: int
    default: 3
  connect_timeout:
    description: Milliseconds iperf3 waits for its control connection (100-10000).
    type: int
    default: 3000
  rtt_count:
    description: Echo requests for the RTT, one at a time, 0.2 s apart (0-50).
    type: int
    default: 10
  pmtu_dev:
    description: Device (in O(netns)) whose MTU the DF probe uses; unset - no PMTU check.
    type: str
extends_documentation_fragment:
  - labnet.calico.attributes.NO_DIFF
  - labnet.calico.attributes
notes:
  - In check mode no server is started or stopped and nothing is measured.
  - Needs root, C(iperf3), C(ip), C(ss) and C(timeout) on the host.
'''

EXAMPLES = r'''
- name: A one-off server in pod netns03
  labnet.calico.pod_iperf:
    state: server
    netns: netns03
    name: netns03

- name: Measure from pod netns01
  labnet.calico.pod_iperf:
    state: client
    netns: netns01
    server: 10.10.1.2
    pmtu_dev: eth0
  register: measured

- name: Stop the server (in an always section)
  labnet.calico.pod_iperf:
    state: stopped
    name: netns03
'''

RETURN = r'''
pid:
  description: Pid of the server started (O(state=server)) or stopped (O(state=stopped); null when none ran).
  returned: state is server or stopped
  type: int
mbit_s:
  description: Throughput the receiver saw, Mbit/s.
  returned: state is client, not in check mode
  type: float
retransmits:
  description: TCP retransmits of the sender.
  returned: state is client, not in check mode
  type: int
rtt:
  description: RTT of the echo requests, ms (min, avg, max, samples).
  returned: state is client, not in check mode
  type: dict
path:
  description: How the host routes O(server) - C(plain), C(IP-in-IP), C(VXLAN) or C(local) (a pod of this host).
  returned: state is client
  type: str
route_dev:
  description: Output device of the host's route to O(server).
  returned: state is client
  type: str
pmtu:
  description: The DF probes at the MTU and one byte above, and the verdict C(ok).
  returned: state is client, with pmtu_dev, not in check mode
  type: dict
'''

import json
import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.iproute import (
    LabError, check_ifname, check_netns, parse_ipv4_address, run_argv, run_guarded,
)
from ansible_collections.labnet.calico.plugins.module_utils.measure import (
    check_iperf_options, client_argv, df_probe, in_netns, parse_iperf_json, path_of_dev, pmtu_verdict,
    rtt_samples, rtt_summary, run_bound, run_in_netns, server_argv,
)

PID_DIR = '/run/labnet-calico'
LISTEN_WAIT = 5.0


def pidfile_of(name):
    return os.path.join(PID_DIR, 'iperf3-%s.pid' % check_netns(name, 'name'))


def running_server(pidfile):
    """Pid of the iperf3 server of PIDFILE when it still runs (its command line names that file)."""
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip() or 0)
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            argv = handle.read().split(b'\0')
    except (IOError, OSError, ValueError):
        return None
    if pid > 0 and any(a.endswith(b'iperf3') for a in argv) and pidfile.encode() in argv:
        return pid
    return None


def stop_server(pidfile):
    """Stop the server of PIDFILE (TERM, then KILL after 2 s); its pid, or None when none ran."""
    pid = running_server(pidfile)
    if pid:
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + 2
        while running_server(pidfile) and time.monotonic() < end:
            time.sleep(0.05)
        if running_server(pidfile):
            os.kill(pid, signal.SIGKILL)
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    return pid


def start_server(module, params):
    ip = module.get_bin_path('ip', required=True)
    iperf3 = module.get_bin_path('iperf3')
    if not iperf3:
        raise LabError('iperf3 is not installed on this host (bootstrap.sh or bindep.txt installs it)')
    if not 5 <= params['idle_timeout'] <= 600:
        raise LabError('idle_timeout: %d is outside 5-600' % params['idle_timeout'])
    pidfile = pidfile_of(params['name'])
    if module.check_mode:
        module.exit_json(changed=True, pid=None)
    if not os.path.isdir(PID_DIR):
        os.makedirs(PID_DIR, 0o755)
    stop_server(pidfile)  # one left by an interrupted run
    timeout = module.get_bin_path('timeout', required=True)
    start = server_argv(iperf3, params['port'], pidfile, params['idle_timeout'])
    run_argv(module, [timeout, '10'] + in_netns(ip, params['netns'], start))
    ss = module.get_bin_path('ss', required=True)
    end = time.monotonic() + LISTEN_WAIT
    while True:
        _rc, out, _err = run_argv(module, in_netns(ip, params['netns'], [ss, '-Hltn', 'sport = :%d' % params['port']]),
                                  check_rc=False)
        if out.strip() and running_server(pidfile):
            break
        if time.monotonic() > end:
            stop_server(pidfile)
            raise LabError('iperf3 server %s did not listen on port %d within %d s'
                           % (params['name'], params['port'], LISTEN_WAIT))
        time.sleep(0.1)
    module.exit_json(changed=True, pid=running_server(pidfile), pidfile=pidfile)


def route_dev(module, ip, server):
    """The device through which this host routes SERVER."""
    _rc, out, _err = run_argv(module, [ip, '-j', 'route', 'get', server], check_rc=False)
    try:
        routes = json.loads(out or '[]')
    except ValueError:
        return None
    return routes[0].get('dev') if routes else None


def device_mtu(module, ip, netns, dev):
    _rc, out, _err = run_argv(module, [ip] + (['-n', netns] if netns else []) + ['-j', 'link', 'show', 'dev', dev])
    return int(json.loads(out)[0]['mtu'])


def run_client(module, params):
    ip = module.get_bin_path('ip', required=True)
    if not params['server']:
        raise LabError('server: required with state=client')
    server = str(parse_ipv4_address(params['server'], 'server'))
    if not 0 <= params['rtt_count'] <= 50:
        raise LabError('rtt_count: %d is outside 0-50' % params['rtt_count'])
    dev = route_dev(module, ip, server)
    result = {'changed': False, 'server': server, 'route_dev': dev, 'path': path_of_dev(dev)}
    iperf3 = module.get_bin_path('iperf3')
    if not iperf3:
        raise LabError('iperf3 is not installed on this host (bootstrap.sh or bindep.txt installs it)')
    if module.check_mode:
        module.exit_json(msg='check mode: nothing measured', **result)
    netns = params['netns']
    if params['pmtu_dev']:
        mtu = device_mtu(module, ip, netns, check_ifname(params['pmtu_dev'], 'pmtu_dev'))
        result['pmtu'] = pmtu_verdict(mtu, run_in_netns(netns, df_probe, server, mtu),
                                      run_in_netns(netns, df_probe, server, mtu + 1))
    samples = run_in_netns(netns, rtt_samples, server, params['rtt_count'], 0.2) if params['rtt_count'] else []
    result['rtt'] = rtt_summary(samples)
    timeout = module.get_bin_path('timeout', required=True)
    bound = run_bound(params['time'], params['connect_timeout'])
    argv = [timeout, '-k', '2', str(bound)] + in_netns(ip, netns, client_argv(
        iperf3, server, params['port'], params['time'], params['connect_timeout']))
    rc, out, err = run_argv(module, argv, check_rc=False)
    if rc in (124, 137):
        raise LabError('iperf3 to %s:%d did not end within %d s (killed)' % (server, params['port'], bound))
    try:
        result.update(parse_iperf_json(out))
    except LabError as exc:
        raise LabError('%s (to %s:%d from %s, rc=%d) %s'
                       % (exc, server, params['port'], netns or 'the host', rc, err.strip()[:200]))
    module.exit_json(**result)


def body(module):
    params = module.params
    check_iperf_options(params)
    if params['netns'] is not None:
        check_netns(params['netns'], 'netns')
    if params['state'] == 'client':
        run_client(module, params)
    if not params['name']:
        raise LabError('name: required with state=%s' % params['state'])
    if params['state'] == 'server':
        start_server(module, params)
    pidfile = pidfile_of(params['name'])
    pid = running_server(pidfile)
    if module.check_mode:
        module.exit_json(changed=bool(pid), pid=pid)
    stopped = stop_server(pidfile)
    try:
        os.rmdir(PID_DIR)  # the last server's directory goes with it; another server's pid file keeps it
    except OSError:
        pass
    module.exit_json(changed=bool(stopped), pid=stopped)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', required=True, choices=['server', 'stopped', 'client']),
            netns=dict(type='str'),
            name=dict(type='str'),
            port=dict(type='int', default=5201),
            idle_timeout=dict(type='int', default=60),
            server=dict(type='str'),
            time=dict(type='int', default=3),
            connect_timeout=dict(type='int', default=3000),
            rtt_count=dict(type='int', default=10),
            pmtu_dev=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    try:
        run_guarded(module, body)
    except OSError as exc:
        module.fail_json(msg='pod_iperf: %s' % (exc.strerror or exc))


if __name__ == '__main__':
    main()
