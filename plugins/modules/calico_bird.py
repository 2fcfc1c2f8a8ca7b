#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: calico_bird
short_description: Run BIRD 2 with the lab's configuration, reloading it only when it changed
version_added: 0.2.0
description:
  - Writes a BIRD 2 configuration (checked first with C(bird -p); a configuration BIRD rejects changes
    nothing), keeps BIRD running with it and asks it to re-read the file (C(birdc configure)) only when
    the file changed, so that a run with an unchanged configuration changes nothing and no BGP session
    restarts.
  - O(daemon=service) drives the system's BIRD service (C(bird.service) of Debian's C(bird2) package).
    The first run keeps the file it replaces and whether the service was running in O(state_dir);
    O(state=absent) stops BIRD, puts that file back, starts the service again if it was running and
    disables it if it was not enabled.
  - O(daemon=process) runs one C(bird) process of its own with O(config_path), control socket
    O(socket) and pid file O(pid_file), where the module runs. The netns provider runs one per lab
    host namespace this way. O(state=absent) stops only the process whose pid file and command line
    are this configuration's.
  - A configuration whose kernel protocol has C(persist) (as calico-node's) leaves BIRD's routes in
    the kernel when BIRD exits, so a crashed BIRD does not take the pods' routes with it. When the
    module stops BIRD (O(state=absent)), it removes the C(proto bird) routes to the prefixes of the
    lab's configuration, IPv4 and IPv6 (its C(blackhole) blocks, C(labnet_peer_blocks) and
    C(labnet_peer_blocks_v6)) at once; the peers withdraw what it announced.
  - O(daemon=process) after a crash (a pid file without its process) starts BIRD with C(-R), graceful
    restart recovery, as calico-node always does, and reports it in RV(actions).
  - O(daemon=service) after the first start adds a runtime drop-in to the unit
    (C(/run/systemd/system/<service_name>.service.d/labnet-calico-recover.conf)), so that every later
    start of the unit, the package's C(Restart=on-abort) after a crash included, runs BIRD with C(-R).
    The first start has nothing to recover. O(state=absent) removes the drop-in.
requirements:
  - bird2 (C(bird), C(birdc)); C(systemctl) for O(daemon=service)
author:
  - labnet.calico contributors (@labnet-calico)
options:
  config:
    description:
      - The whole configuration file. Required with O(state=present). The module puts a first line
        of its own on it, by which it knows the file is the lab's.
    type: str
  daemon:
    description: Run BIRD as the system service or as a process of the lab's own.
    type: str
    choices: [service, process]
    default: service
  config_path:
    description:
      - Where the configuration lives. Default C(/etc/bird/bird.conf) (O(daemon=service)); required
        with O(daemon=process).
    type: path
  socket:
    description:
      - BIRD's control socket, for C(birdc -s). Default C(/run/bird/bird.ctl) (O(daemon=service));
        required with O(daemon=process).
    type: path
  pid_file:
    description: Pid file of the process (O(daemon=process) only, required there).
    type: path
  service_name:
    description: Name of the system service (O(daemon=service) only).
    type: str
    default: bird
  state_dir:
    description:
      - Where O(daemon=service) keeps the configuration it replaced and the service's earlier state.
    type: path
    default: /var/lib/labnet-calico
  installed_now:
    description:
      - O(daemon=service) only. The play has just installed BIRD, and its package started and enabled
        the service; the service is then recorded as the lab's, so that O(state=absent) stops and
        disables it instead of starting it again with the package's configuration.
    type: bool
    default: false
  wait_sessions:
    description:
      - With O(state=established), the BGP sessions to wait for (polled with C(birdc show protocols)
        once a second, at most O(wait_timeout) seconds).
      - Each is a dict with C(name), the session's protocol name in BIRD (C(Mesh_172_16_91_202)), and
        optionally C(peer), the host it goes to (for the message); other keys are ignored, so the
        sessions of the C(labnet.calico.calico_bird_config) filter fit as they are.
    type: list
    elements: dict
    default: []
  wait_routes:
    description:
      - With O(state=established), the prefixes to wait for in the kernel as C(proto bird) routes,
        IPv4 or IPv6 (polled with the sessions; both families are read).
    type: list
    elements: str
    default: []
  wait_timeout:
    description:
      - Seconds to wait for O(wait_sessions) and O(wait_routes). When they are not all there by then,
        the module fails with one message naming the missing sessions (with BIRD's state for each),
        the missing prefixes, O(log) and the C(birdc) command to look further.
    type: int
    default: 90
  log:
    description:
      - Where this BIRD logs, named in the message of a failed wait. Default C(journalctl -u) and
        O(service_name) (O(daemon=service)).
    type: str
  state:
    description:
      - V(present) writes the configuration and runs BIRD; V(absent) stops it and removes what the
        module wrote.
      - V(established) changes nothing and waits for O(wait_sessions) and O(wait_routes) (skipped in
        check mode, where BIRD may not run yet). A separate task from V(present), so that every host
        has started its BIRD before any waits for its peers.
    type: str
    choices: [present, absent, established]
    default: present
extends_documentation_fragment:
  - labnet.calico.attributes
notes:
  - Runs C(bird), C(birdc) and C(systemctl) with argument lists and C(LC_ALL=C); needs root.
  - In diff mode the diff is the configuration file.
seealso:
  - module: labnet.calico.calico_route
  - name: BIRD 2 user's guide
    description: Configuration of BGP, static and kernel protocols.
    link: https://bird.network.cz/?get_doc&f=bird.html&v=20
'''

EXAMPLES = r'''
- name: BIRD as the system service
  labnet.calico.calico_bird:
    config: "{{ lookup('ansible.builtin.template', 'bird.conf.j2') }}"

- name: One BIRD process of the lab's own (in a network namespace, through the netns connection)
  labnet.calico.calico_bird:
    daemon: process
    config: "{{ lookup('ansible.builtin.template', 'bird.conf.j2') }}"
    config_path: /run/labnet-calico-bird-host-a/bird.conf
    socket: /run/labnet-calico-bird-host-a/bird.ctl
    pid_file: /run/labnet-calico-bird-host-a/bird.pid

- name: Wait until its session to host-b is up and host-b's block is in the kernel (one message if not)
  labnet.calico.calico_bird:
    daemon: process
    config_path: /run/labnet-calico-bird-host-a/bird.conf
    socket: /run/labnet-calico-bird-host-a/bird.ctl
    pid_file: /run/labnet-calico-bird-host-a/bird.pid
    state: established
    wait_sessions: [{name: Mesh_172_16_91_202, peer: host-b}]
    wait_routes: [10.10.1.0/24]
    log: /run/labnet-calico-bird-host-a/bird.log

- name: Stop it; its routes go with it
  labnet.calico.calico_bird:
    daemon: process
    config_path: /run/labnet-calico-bird-host-a/bird.conf
    socket: /run/labnet-calico-bird-host-a/bird.ctl
    pid_file: /run/labnet-calico-bird-host-a/bird.pid
    state: absent
'''

RETURN = r'''
config_changed:
  description: Whether the configuration file was (or in check mode would be) written.
  returned: success
  type: bool
actions:
  description:
    - What the module did to BIRD, in order (V(started), V(recovered after a crash), V(reconfigured), V(stopped),
      V(disabled)).
    - O(daemon=service) also V(restarts recover with -R) when it added the drop-in, V(restarts as packaged) when it
      removed it.
  returned: success
  type: list
  elements: str
  sample: [started]
waited:
  description: Seconds the module waited for O(wait_sessions) and O(wait_routes).
  returned: success
  type: float
'''

import json
import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labnet.calico.plugins.module_utils.bird_runner import (
    HEADER, SAVED_CONFIG, SERVICE_RECORD, Bird,
)
from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError, run_guarded


def check_params(params):
    if params['daemon'] == 'process':
        for name in ('config_path', 'socket', 'pid_file'):
            if not params[name]:
                raise LabError('%s: required with daemon=process' % name)
    for name in ('config_path', 'socket', 'pid_file', 'state_dir'):
        if params[name] and not os.path.isabs(params[name]):
            raise LabError('%s: %s is not an absolute path' % (name, params[name]))
    if params['state'] == 'present' and params['config'] is None:
        raise LabError('config: required with state=present')
    for index, session in enumerate(params['wait_sessions']):
        if not isinstance(session.get('name'), str) or not session['name']:
            raise LabError('wait_sessions[%d].name: a session name is required, got %r' % (index, session.get('name')))
    if not 0 <= params['wait_timeout'] <= 3600:
        raise LabError('wait_timeout: %d is outside 0-3600' % params['wait_timeout'])


def take_over_service(module, bird):
    """Before the first write: keep the service's file and whether it ran, for state=absent."""
    state_dir = module.params['state_dir']
    record_path = os.path.join(state_dir, SERVICE_RECORD)
    if os.path.exists(record_path):
        return
    current = bird.current_config()
    installed_now = module.params['installed_now']
    record = {'was_active': bird.service_active() and not installed_now,
              'was_enabled': bird.service_enabled() and not installed_now, 'saved_config': None}
    if not os.path.isdir(state_dir):
        os.makedirs(state_dir, 0o700)
    if current is not None and not current.startswith(HEADER):
        record['saved_config'] = os.path.join(state_dir, SAVED_CONFIG)
        shutil.copy2(bird.config_path, record['saved_config'])
    with open(record_path, 'w') as handle:
        json.dump(record, handle)


def ensure_present(module, bird):
    wanted = HEADER + module.params['config']
    current = bird.current_config()
    config_changed = current != wanted
    bird.check_config(wanted)
    if module.check_mode:
        running = bird.running()
        if not running:
            bird.actions.append('started')
        elif config_changed:
            bird.actions.append('reconfigured')
        if bird.service:
            bird.recover_on_restart()
        return config_changed, current, wanted
    if config_changed:
        if bird.service:
            take_over_service(module, bird)
        bird.write_config(wanted)
    if not bird.running():
        bird.start()
    elif config_changed:
        try:
            bird.reconfigure()
        except LabError:
            # Put the old file back, so that the next run sees the change again and retries.
            if current is None:
                os.unlink(bird.config_path)
            else:
                bird.write_config(current)
            raise
    if bird.service:
        bird.recover_on_restart()  # after the first start: that one has nothing to recover
    return config_changed, current, wanted


def ensure_absent(module, bird):
    current = bird.current_config()
    ours = current is not None and current.startswith(HEADER)
    if bird.service:
        record_path = os.path.join(module.params['state_dir'], SERVICE_RECORD)
        record = None
        if os.path.exists(record_path):
            with open(record_path) as handle:
                record = json.load(handle)
        if record is None and not ours and not os.path.exists(bird.recover_dropin):
            return False, current, current
        saved = None
        if record and record.get('saved_config'):
            with open(record['saved_config']) as handle:
                saved = handle.read()
        after = saved if saved is not None else (None if ours else current)
        # Records written before was_enabled existed: leave the service's enablement alone.
        disable = record is not None and not record.get('was_enabled', True) and bird.service_enabled()
        if module.check_mode:
            if bird.service_active():
                bird.actions.append('stopped')
            if disable:
                bird.actions.append('disabled')
            bird.recover_on_restart(False)
            return True, current, after
        if bird.service_active():
            bird.stop()
        elif ours:
            bird.withdraw_routes()
        if saved is not None:
            bird.write_config(saved)
            os.unlink(record['saved_config'])
        elif ours:
            os.unlink(bird.config_path)
        bird.recover_on_restart(False)  # the service the lab found starts as its package starts it
        if disable:
            bird.disable()
        if record and record.get('was_active'):
            bird.start()
        if record:
            os.unlink(record_path)
        return True, current, after
    pid = bird.process_pid()
    leftovers = [path for path in (bird.socket, bird.pid_file) if os.path.exists(path)]
    after = None if ours else current  # a file that is not the lab's stays
    if pid is None and not ours and not leftovers:
        return False, current, after
    if module.check_mode:
        if pid is not None:
            bird.actions.append('stopped')
        return True, current, after
    if pid is not None:
        bird.stop()
    elif ours:
        bird.withdraw_routes()  # the last BIRD crashed: its routes are still in the kernel
    for path in leftovers + ([bird.config_path] if ours else []):
        if os.path.exists(path):
            os.unlink(path)
    return True, current, after


def run_module(module):
    check_params(module.params)
    bird = Bird(module)
    if module.params['state'] == 'established':
        module.exit_json(changed=False, config_changed=False, actions=[], waited=bird.wait())
    if module.params['state'] == 'present':
        config_changed, before, after = ensure_present(module, bird)
        changed = config_changed or bool(bird.actions)
    else:
        changed, before, after = ensure_absent(module, bird)
        config_changed = before != after
    result = dict(changed=changed, config_changed=config_changed, actions=bird.actions, waited=0.0)
    if module._diff:
        result['diff'] = {'before': before or '', 'after': after or '',
                          'before_header': bird.config_path, 'after_header': bird.config_path}
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type='str'),
            daemon=dict(type='str', choices=['service', 'process'], default='service'),
            config_path=dict(type='path'),
            socket=dict(type='path'),
            pid_file=dict(type='path'),
            service_name=dict(type='str', default='bird'),
            state_dir=dict(type='path', default='/var/lib/labnet-calico'),
            installed_now=dict(type='bool', default=False),
            wait_sessions=dict(type='list', elements='dict', default=[]),
            wait_routes=dict(type='list', elements='str', default=[]),
            wait_timeout=dict(type='int', default=90),
            log=dict(type='str'),
            state=dict(type='str', choices=['present', 'absent', 'established'], default='present'),
        ),
        supports_check_mode=True,
    )
    run_guarded(module, run_module)


if __name__ == '__main__':
    main()
