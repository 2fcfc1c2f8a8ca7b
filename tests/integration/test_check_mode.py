"""Check mode on a machine without the lab: each mode's playbook, with the default inventory (its
names given this test's suffix, so that a lab of the default inventory left up - as CI leaves the
seeds' lab during the suite - is neither in the way nor touched), says what it would make (hosts, pods,
routes, tunnels), ends rc 0, and leaves the machine as it was - no namespace, no VM process, no file of
the VMs' run directory."""

import glob
import json
import os
import re
import subprocess

import pytest

from labtest import Lab

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PLAYBOOK = os.path.join(ROOT, '.venv', 'bin', 'ansible-playbook')
INVENTORY = os.path.join(ROOT, 'inventory', 'hosts.yml')
VM_RUN_DIR = os.path.expanduser('~/.cache/labnet-calico/run')
BASE_NAMES = ('host-a', 'host-b', 'netns01', 'netns02', 'netns03', 'netns04')

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def machine(lab):
    """What this lab would make, and nothing else (other labs may come and go meanwhile): its
    namespaces, the root namespace's links and routes, its hosts' VM processes and run files."""
    def ip(*args):
        return subprocess.run(['ip'] + list(args), capture_output=True, text=True, check=True).stdout
    names = set(lab.names[n] for n in BASE_NAMES) | set([lab.names['switch 172.16.91.0/24']])
    ours = re.compile(r'\b(%s|%s)\b' % (re.escape(lab.names['host-a']), re.escape(lab.names['host-b'])))
    qemu = subprocess.run(['pgrep', '-a', '-x', 'qemu-system-x86'], capture_output=True, text=True,
                          check=False).stdout.splitlines()
    return {'netns': sorted(set(ip('netns', 'list').split()) & names),
            'links': sorted(link['ifname'] for link in json.loads(ip('-j', 'link', 'show'))),
            'routes': ip('route', 'show', 'table', 'all'), 'qemu': [line for line in qemu if ours.search(line)],
            'vm_files': sorted(path for path in glob.glob(os.path.join(VM_RUN_DIR, '**'), recursive=True)
                               if ours.search(os.path.relpath(path, VM_RUN_DIR)))}


@pytest.mark.parametrize('playbook, tunnel', [('bgp.yml', None), ('vxlan.yml', 'vxlan.calico'), ('ipip.yml', 'tunl0')])
def test_check_diff_on_a_machine_without_the_lab(playbook, tunnel, tmp_path):
    lab = Lab()
    inventory = lab.inventory(INVENTORY, tmp_path / 'hosts.yml')
    n = lab.names
    before = machine(lab)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    result = subprocess.run([PLAYBOOK, os.path.join(ROOT, 'playbooks', playbook), '-i', inventory, '--check', '--diff'],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert 'UNREACHABLE' not in output and 'unreachable=1' not in output, output[-4000:]
    # What it would make, host by host.
    assert re.search(r'%s \((netns|qemu), would be made\): underlay eth0 172\.16\.91\.201/24, block 10\.10\.0\.0/24'
                     % re.escape(n['host-a']), output), output[-4000:]
    assert 'pod %s: namespace %s, eth0 10.10.1.2/32' % (n['netns03'], n['netns03']) in output
    assert 'route 10.10.0.0/24 blackhole' in output
    if tunnel == 'tunl0':
        assert 'route 10.10.1.0/24 via 172.16.91.202 dev tunl0 onlink' in output
    elif tunnel == 'vxlan.calico':
        assert 'route 10.10.1.0/24 via 10.10.1.0 dev vxlan.calico onlink' in output
    else:
        assert 'route 10.10.1.0/24 via 172.16.91.202 dev eth0' in output
    if tunnel:
        assert 'tunnel %s 10.10.0.0/32' % tunnel in output
    # Which provider, and why (auto).
    assert 'auto: ' in output
    # Nothing made.
    assert machine(lab) == before
