"""The playbooks end to end on the netns provider, as a user runs them (root; real namespaces).

Checks the embedded lab's promises: every pod reaches every pod, a second run changes nothing,
switching modes converges in place, and teardown leaves the machine exactly as it was.
"""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from ansible_collections.labnet.calico.plugins.module_utils.bird import parse_show_protocols
from ansible_collections.labnet.calico.plugins.module_utils.iproute import workload_host_ifname

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PLAYBOOK = os.path.join(ROOT, '.venv', 'bin', 'ansible-playbook')

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def run_playbook(name, inventory, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    result = subprocess.run([PLAYBOOK, os.path.join(ROOT, 'playbooks', name), '-i', inventory] + list(extra),
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return result


def recap(output):
    """{host: {'ok': n, 'changed': n, 'failed': n, ...}} from the PLAY RECAP."""
    hosts = {}
    for host, counts in re.findall(r'^(\S+)\s+:\s+(ok=.*)$', output, re.M):
        hosts[host] = dict((k, int(v)) for k, v in re.findall(r'(\w+)=(\d+)', counts))
    return hosts


def machine_state():
    """What teardown must leave exactly as it found: namespaces, root links and routes."""
    def ip(*args):
        return subprocess.run(['ip'] + list(args), capture_output=True, text=True, check=True).stdout
    links = sorted((link['ifname'], link.get('address')) for link in json.loads(ip('-j', 'link', 'show')))
    return {'netns': sorted(ip('netns', 'list').split()), 'links': links,
            'routes': ip('route', 'show', 'table', 'all')}


@pytest.fixture
def clean_machine():
    before = machine_state()
    inventories = []
    yield inventories
    for inventory in inventories:
        run_playbook('teardown.yml', inventory)
    assert machine_state() == before


def assert_ok(result, changed=None):
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    counts = recap(output)
    assert counts and all(c['failed'] == 0 and c['unreachable'] == 0 for c in counts.values()), output[-4000:]
    if changed is not None:
        assert dict((h, c['changed']) for h, c in counts.items()) == dict((h, changed) for h in counts), \
            output[-4000:]
    return output


def test_seeds_lab_bgp_rerun_switch_and_teardown(clean_machine):
    inventory = os.path.join(ROOT, 'inventory', 'hosts.yml')
    clean_machine.append(inventory)
    before = machine_state()
    output = assert_ok(run_playbook('bgp.yml', inventory))
    assert '4 pods reach each other (bgp mode)' in output
    assert_ok(run_playbook('bgp.yml', inventory), changed=0)
    output = assert_ok(run_playbook('vxlan.yml', inventory))
    assert '4 pods reach each other (vxlan mode)' in output
    assert_ok(run_playbook('vxlan.yml', inventory), changed=0)
    output = assert_ok(run_playbook('bgp.yml', inventory))
    assert '4 pods reach each other (bgp mode)' in output
    assert_ok(run_playbook('bgp.yml', inventory), changed=0)
    assert_ok(run_playbook('teardown.yml', inventory))
    assert machine_state() == before


def test_three_hosts_from_a_pool(clean_machine, tmp_path):
    inventory = os.path.join(ROOT, 'inventories', 'three-hosts-pool', 'hosts.yml')
    clean_machine.append(inventory)
    output = assert_ok(run_playbook('bgp.yml', inventory))
    assert '5 pods reach each other (bgp mode)' in output
    # IPAM: node-1 gets the pool's first /26, its pods the addresses after the tunnel address.
    assert 'node-1 192.168.50.11/24 block 10.244.0.0/26 pods pod-1a=10.244.0.1, pod-1b=10.244.0.2' in output
    assert_ok(run_playbook('bgp.yml', inventory), changed=0)
    # A pod taken out of the inventory is gone after the next run: its pair, routes and namespace.
    fewer = tmp_path / 'hosts.yml'
    fewer.write_text(open(inventory).read().replace('[{name: pod-2a}, {name: pod-2b}]', '[{name: pod-2a}]'))
    output = assert_ok(run_playbook('bgp.yml', str(fewer)))
    assert '4 pods reach each other (bgp mode)' in output
    assert 'pod-2b' not in subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    node2 = subprocess.run(['ip', '-n', 'node-2', 'route', 'show', 'proto', '77'], capture_output=True, text=True)
    assert len(node2.stdout.splitlines()) == 1
    assert_ok(run_playbook('bgp.yml', str(fewer)), changed=0)
    # A pod moved to another host: done in one run, although its namespace still held the old host's
    # pair when the play began (every host purges before any host creates).
    moved = tmp_path / 'moved.yml'
    moved.write_text(fewer.read_text().replace('[{name: pod-1a}, {name: pod-1b}]', '[{name: pod-1a}]')
                     .replace('[{name: pod-3a}]', '[{name: pod-3a}, {name: pod-1b}]'))
    clean_machine.insert(0, str(moved))   # torn down with the inventory that has it where it is
    output = assert_ok(run_playbook('bgp.yml', str(moved)))
    assert '4 pods reach each other (bgp mode)' in output
    assert re.search(r'node-3 \S+ block (\S+) pods pod-3a=\S+, pod-1b=', output), output[-3000:]
    cali = workload_host_ifname('pod-1b')
    assert subprocess.run(['ip', '-n', 'node-3', 'link', 'show', cali], capture_output=True).returncode == 0
    assert subprocess.run(['ip', '-n', 'node-1', 'link', 'show', cali], capture_output=True).returncode != 0
    assert_ok(run_playbook('bgp.yml', str(moved)), changed=0)


def test_ipip_stops_before_any_change_without_the_driver(clean_machine, tmp_path):
    modinfo = shutil.which('modinfo') or '/sbin/modinfo'
    if os.path.isdir('/sys/module/ipip') or (
            os.path.exists(modinfo) and subprocess.run([modinfo, 'ipip'], capture_output=True).returncode == 0):
        pytest.skip('this kernel has ipip: the refusal cannot be shown here')
    # The netns provider chosen explicitly (the default inventory's auto would take VMs here).
    inventory = str(tmp_path / 'hosts.yml')
    with open(inventory, 'w') as handle:
        handle.write(open(os.path.join(ROOT, 'inventory', 'hosts.yml')).read()
                     .replace('calico_lab_provider: auto', 'calico_lab_provider: netns'))
    clean_machine.append(inventory)
    result = run_playbook('ipip.yml', inventory)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'has no ipip driver' in output
    # The hosts exist (the provider made them), but nothing of the datapath was programmed.
    for host in ('host-a', 'host-b'):
        links = subprocess.run(['ip', '-n', host, '-j', 'link', 'show'], capture_output=True, text=True).stdout
        assert '"ifname":"cali' not in links


def test_bad_inventory_fails_before_anything_changes(tmp_path):
    before = machine_state()
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(open(os.path.join(ROOT, 'inventory', 'hosts.yml')).read()
                         .replace('{name: netns04, ip: 10.10.1.3}', '{name: netns04, ip: 10.10.0.3}'))
    result = run_playbook('bgp.yml', str(inventory))
    assert result.returncode != 0
    assert "10.10.0.3 is outside host-b's block 10.10.1.0/24" in result.stdout + result.stderr
    assert machine_state() == before


def bird_blocks(host):
    """Blocks routed by BIRD in a netns lab host, {dst: type}."""
    out = subprocess.run(['ip', '-n', host, '-j', 'route', 'show', 'proto', 'bird'], capture_output=True,
                         text=True, check=True).stdout
    return dict((r['dst'], r.get('type', 'unicast')) for r in json.loads(out or '[]'))


def bird_sessions(host):
    """{session: (since, info)} from the host's BIRD."""
    out = subprocess.run(['birdc', '-s', '/run/labnet-calico-bird-%s/bird.ctl' % host, 'show', 'protocols'],
                         capture_output=True, text=True, check=True).stdout
    return dict((row['name'], (row['since'], row['info'])) for row in parse_show_protocols(out) if row['proto'] == 'BGP')


def lab_birds(hosts):
    found = subprocess.run(['pgrep', '-f', '-a', '/run/labnet-calico-bird-'], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if any('/run/labnet-calico-bird-%s/' % h in line for h in hosts)]


def test_bird_four_hosts_stop_withdraws_rerun_restores(clean_machine, tmp_path):
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(subprocess.run([os.path.join(ROOT, '.venv', 'bin', 'python'),
                                         os.path.join(ROOT, 'benchmarks', 'make-inventory.py'), '4', '1'],
                                        capture_output=True, text=True, check=True).stdout)
    clean_machine.append(str(inventory))
    bird = ['-e', 'calico_routing=bird']
    assert_ok(run_playbook('bgp.yml', str(inventory)))
    # Static to bird while a pod on s1 pings a pod on s4 (namespace to namespace, bounded): BIRD's
    # routes come in beside the static ones before those go, so not one echo is lost.
    ping = subprocess.Popen(['ip', 'netns', 'exec', 's1p1', 'ping', '-n', '-q', '-i', '0.2', '-c', '200', '-w', '60',
                             json.loads(subprocess.run(['ip', '-n', 's4p1', '-j', '-4', 'addr', 'show', 'eth0'],
                                                       capture_output=True, text=True, check=True).stdout)
                             [0]['addr_info'][0]['local']], stdout=subprocess.PIPE, text=True)
    output = assert_ok(run_playbook('bgp.yml', str(inventory), *bird))
    summary = ping.communicate(timeout=90)[0]
    assert ' 200 received, 0% packet loss' in summary, summary
    assert '4 hosts: all BGP sessions Established, all blocks proto bird' in output
    assert '4 pods reach each other (bgp mode)' in output
    blocks = dict((h, bird_blocks(h)) for h in ('s1', 's2', 's3', 's4'))
    s4_block = next(dst for dst, kind in blocks['s4'].items() if kind == 'blackhole')
    assert all(blocks[h].get(s4_block) == 'unicast' for h in ('s1', 's2', 's3'))
    sessions = bird_sessions('s1')
    assert len(sessions) == 3 and all(info.startswith('Established') for _since, info in sessions.values())
    assert_ok(run_playbook('bgp.yml', str(inventory), *bird), changed=0)
    assert bird_sessions('s1') == sessions      # a re-run restarts no session (same "since" times)

    # Stop s4's BIRD as an operator would (SIGTERM): the others withdraw its block at once.
    pid = open('/run/labnet-calico-bird-s4/bird.pid').read().strip()
    subprocess.run(['kill', '-TERM', pid], check=True)
    deadline = time.time() + 15
    while time.time() < deadline and any(s4_block in bird_blocks(h) for h in ('s1', 's2', 's3')):
        time.sleep(0.5)
    assert not any(s4_block in bird_blocks(h) for h in ('s1', 's2', 's3'))
    assert bird_blocks('s4') == {}

    output = assert_ok(run_playbook('bgp.yml', str(inventory), *bird))
    assert recap(output)['s4']['changed'] == 1 and recap(output)['s1']['changed'] == 0  # only s4's BIRD started
    assert '4 pods reach each other (bgp mode)' in output
    assert all(bird_blocks(h).get(s4_block) == 'unicast' for h in ('s1', 's2', 's3'))

    # Back to static routes: the lab's BIRDs stop and take their routes with them.
    output = assert_ok(run_playbook('bgp.yml', str(inventory)))
    assert '4 pods reach each other (bgp mode)' in output
    assert lab_birds(('s1', 's2', 's3', 's4')) == [] and all(bird_blocks(h) == {} for h in ('s1', 's2', 's3', 's4'))


def test_two_subnets_vxlan_cross_subnet_then_teardown(clean_machine, tmp_path):
    """Hosts on two subnets (a router namespace between them): VXLAN cross_subnet, then a teardown,
    which must not judge the inventory by BGP mode's one-segment rule."""
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text('\n'.join([
        'all:',
        '  vars: {calico_ipam_pool: 10.244.0.0/16, calico_vxlan_mode: cross_subnet}',
        '  children:',
        '    calico_nodes:',
        '      vars:',
        '        calico_lab_provider: netns',
        '        ansible_connection: labnet.calico.netns',
        '        ansible_python_interpreter: "{{ ansible_playbook_python }}"',
        '      hosts:',
        '        x1: {calico_node_address: 192.168.81.11/24, calico_workloads: [{name: x1p}]}',
        '        x2: {calico_node_address: 192.168.81.12/24, calico_workloads: [{name: x2p}]}',
        '        x3: {calico_node_address: 192.168.82.13/24, calico_workloads: [{name: x3p}]}',
        '']))
    clean_machine.append(str(inventory))
    output = assert_ok(run_playbook('vxlan.yml', str(inventory)))
    assert '3 pods reach each other (vxlan mode)' in output
    assert_ok(run_playbook('teardown.yml', str(inventory)))
