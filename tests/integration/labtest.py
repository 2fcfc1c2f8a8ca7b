"""What the integration tests share: bounded commands, ansible runs that fail unless failure was
expected, the PLAY RECAP of every host, and lab names with a per-test suffix.

Every lab a test builds has names of its own (``<name>-<suffix>``), so a lab a user left running
(the seeds' host-a, netns01, ...) or another test's lab is never touched, and a test looks only at
its own objects.
"""

import ipaddress
import json
import os
import re
import secrets
import subprocess

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BIN = os.path.join(ROOT, '.venv', 'bin')
# The lab's route protocols (pods, peers, netns_lab's default routes) and BIRD's.
LAB_PROTOS = ('77', '78', '79', 'bird')


def run(argv, timeout=60, **kwargs):
    """subprocess.run, always bounded in time, output captured as text."""
    kwargs.setdefault('capture_output', True)
    kwargs.setdefault('text', True)
    check = kwargs.pop('check', False)  # callers read returncode themselves
    return subprocess.run(argv, timeout=timeout, check=check, **kwargs)


def ip(*args, check=True):
    return run(['ip'] + list(args), timeout=30, check=check).stdout


def ip_json(*args):
    return json.loads(ip('-j', *args) or '[]')


def netns_list():
    return sorted(item['name'] for item in ip_json('netns', 'list'))


def ansible_env(**extra):
    return dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1', **extra)


def recap(output):
    """{host: {'ok': n, 'changed': n, 'unreachable': n, 'failed': n, ...}} from the PLAY RECAP."""
    hosts = {}
    for host, counts in re.findall(r'^(\S+)\s+:\s+(ok=.*)$', output, re.M):
        hosts[host] = dict((k, int(v)) for k, v in re.findall(r'(\w+)=(\d+)', counts))
    return hosts


def assert_play(result, hosts, changed=None, expect_failure=False):
    """A playbook run: rc 0, and every host of HOSTS in the recap with failed=0 and unreachable=0
    (and changed=CHANGED when given: an int for every host, or {host: n}). With expect_failure, the
    run must fail instead. Returns the whole output."""
    output = result.stdout + result.stderr
    if expect_failure:
        assert result.returncode != 0, output[-4000:]
        return output
    assert result.returncode == 0, output[-4000:]
    counts = recap(output)
    missing = sorted(set(hosts) - set(counts))
    assert not missing, 'no recap line for %s\n%s' % (missing, output[-4000:])
    bad = dict((h, c) for h, c in counts.items() if c['failed'] or c['unreachable'])
    assert not bad, '%s\n%s' % (bad, output[-4000:])
    if changed is not None:
        want = changed if isinstance(changed, dict) else dict((h, changed) for h in counts)
        # On a mismatch, name the tasks that changed (the tail of the output may not show them).
        assert dict((h, counts[h]['changed']) for h in want) == want, '\n'.join(changed_tasks(output) + [output[-2000:]])
    return output


def changed_tasks(output):
    """'TASK [...] changed: [host]' for every task that changed something."""
    task, found = None, []
    for line in output.splitlines():
        if line.startswith('TASK ['):
            task = line.rstrip('* ')
        elif line.startswith('changed: ['):
            found.append('%s %s' % (task, line.split(' =>')[0]))
    return found


def adhoc_result(proc, host='localhost'):
    """The JSON result of HOST in ad-hoc output ("host | STATUS => {...}", oneline or json format),
    with 'failed' and 'unreachable' set from the status, and '_rc' the command's return code."""
    found = re.search(r'^%s \| (\S+?)!? => ' % re.escape(host), proc.stdout, re.M)
    assert found, proc.stdout[-3000:] + proc.stderr[-3000:]
    result, _end = json.JSONDecoder().raw_decode(proc.stdout[found.end():])
    result['failed'] = found.group(1) == 'FAILED' or bool(result.get('failed'))
    result['unreachable'] = found.group(1) == 'UNREACHABLE'
    result['_rc'] = proc.returncode
    return result


def assert_module(result, expect_failure=False):
    """A module run succeeded (rc 0, not failed), or failed if that was expected; returns RESULT.
    A failed module reports changed=false, so a "rerun changed nothing" check must come after this."""
    if expect_failure:
        assert result['failed'] and result['_rc'] != 0, result
    else:
        assert not result['failed'] and not result['unreachable'] and result['_rc'] == 0, result
    return result


def new_suffix():
    """Four hex digits: short enough for interface names derived from host names (15 chars)."""
    return secrets.token_hex(2)


class Lab(object):
    """One test's names: every host and pod of an inventory gets '-<suffix>', the netns lab name is
    'l<suffix>' (its switch and router namespaces start with it)."""

    def __init__(self, suffix=None):
        self.suffix = suffix or new_suffix()
        self.lab = 'l' + self.suffix
        self.names = {}

    def name(self, base):
        self.names[base] = '%s-%s' % (base, self.suffix)
        return self.names[base]

    def inventory(self, source, path):
        """Write SOURCE (a path, YAML text or dict) to PATH with this lab's names; returns PATH."""
        if isinstance(source, dict):
            data = source
        else:
            text = open(source).read() if os.path.exists(source) else source
            data = yaml.safe_load(text)
        group = data['all']['children']['calico_nodes']
        hosts = {}
        for host, hostvars in (group.get('hosts') or {}).items():
            hostvars = dict(hostvars or {})
            if hostvars.get('calico_workloads'):
                hostvars['calico_workloads'] = [dict(w, name=self.name(w['name'])) for w in hostvars['calico_workloads']]
            hosts[self.name(host)] = hostvars
        group['hosts'] = hosts
        # netns_lab's switch per subnet and its router (netns_lab.py: switch_name, router_name).
        for hostvars in hosts.values():
            # An IPv6-only host's segment is its IPv6 subnet.
            network = ipaddress.ip_interface(hostvars.get('calico_node_address')
                                             or hostvars['calico_node_address_v6']).network
            self.names['switch ' + str(network)] = '%s-sw-%s-%d' % (
                self.lab, str(network.network_address).replace('.', '-').replace(':', '-'), network.prefixlen)
        self.names['router'] = self.lab + '-router'
        all_vars = data['all'].setdefault('vars', {}) or {}
        if all_vars.get('calico_route_reflectors'):
            all_vars['calico_route_reflectors'] = [self.name(h) for h in all_vars['calico_route_reflectors']]
        all_vars['netns_hosts_lab'] = self.lab
        data['all']['vars'] = all_vars
        with open(str(path), 'w') as out:
            yaml.safe_dump(data, out, default_flow_style=False)
        return str(path)

    def namespaces(self):
        """This lab's namespaces that exist: its hosts and pods, its switches and router."""
        return [n for n in netns_list() if n in self.names.values()]

    def state(self):
        """What the lab made: its namespaces, and in the root namespace any link tagged with this
        lab's names or route of the lab's protocols (there must be none of either)."""
        mine = set(self.names.values()) | {self.lab}
        links = sorted(link['ifname'] for link in ip_json('-d', 'link', 'show')
                       if any(n in link.get('ifalias', '') for n in mine))
        routes = sorted(json.dumps(r, sort_keys=True) for r in ip_json('route', 'show', 'table', 'all')
                        if r.get('protocol') in LAB_PROTOS)
        return {'netns': self.namespaces(), 'root_links': links, 'root_routes': routes}

    def remove_leftovers(self):
        """Delete, by exact name, whatever of this lab is still there (after a failed test); returns it."""
        left = self.namespaces()
        remove_netns(left)
        return left


def registered_lab(labs, source, tmp_path, *bases):
    """SOURCE under names of its own, registered with LABS (test_playbooks' fixture: torn down after the
    test): (lab, inventory path, the inventory's data as written, the names of the hosts BASES)."""
    lab = Lab()
    inventory = labs(lab, lab.inventory(source, tmp_path / 'hosts.yml'))
    with open(inventory) as handle:
        data = yaml.safe_load(handle)
    return lab, inventory, data, [lab.names[base] for base in bases]


def remove_netns(names):
    """Delete the namespaces NAMES (exact names) that exist, killing what still runs in them."""
    for netns in [n for n in names if n in netns_list()]:
        for pid in ip('netns', 'pids', netns, check=False).split():
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
        ip('netns', 'del', netns, check=False)
