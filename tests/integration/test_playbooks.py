"""The playbooks end to end on the netns provider, as a user runs them (root; real namespaces).

Checks the embedded lab's promises: every pod reaches every pod, a second run changes nothing on
any host, switching modes converges in place (the other mode's device and FDB entries gone),
teardown removes what the lab made, and nothing is left. Every test runs the inventories under
names of its own (labtest.Lab: '<host>-<suffix>', lab 'l<suffix>'), so a lab a user left running
(the seeds' host-a ... netns04) is never touched, and it compares only its own objects.
"""

import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.labnet.calico.plugins.module_utils.bird import parse_show_protocols
from ansible_collections.labnet.calico.plugins.module_utils.iproute import workload_host_ifname, workload_id
from labtest import BIN, LAB_PROTOS, ROOT, Lab, ansible_env, assert_play, ip_json, netns_list, recap, run

PLAYBOOK = os.path.join(BIN, 'ansible-playbook')
SEEDS = os.path.join(ROOT, 'inventory', 'hosts.yml')

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def run_playbook(name, inventory, *extra):
    return run([PLAYBOOK, os.path.join(ROOT, 'playbooks', name), '-i', inventory] + list(extra),
               cwd=ROOT, env=ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT='json'), timeout=600)  # no line wrapping


@pytest.fixture
def labs():
    """Labs a test registers as (Lab, inventory path): torn down with teardown.yml afterwards; what
    teardown left of the lab fails the test (and is removed by exact name)."""
    made = {}
    before = {}

    def register(lab, inventory):
        before.setdefault(id(lab), (lab, lab.state()))
        made.setdefault(id(lab), []).append(inventory)
        return inventory

    def teardown(inventories):
        for inventory in inventories:
            run_playbook('teardown.yml', inventory)

    yield register
    # One lab's inventories one after the other; different labs (names of their own) at once.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(teardown, made.values()))
    left = []
    for lab, state in before.values():
        left += lab.remove_leftovers()
        assert lab.state()['root_links'] == state['root_links'] and lab.state()['root_routes'] == state['root_routes']
    assert left == [], 'teardown left %s' % left


def hosts_of(lab, *bases):
    return [lab.names[b] for b in bases]


def routes(host, *selector):
    return ip_json('-n', host, 'route', 'show', *selector)


def lab_objects(host):
    """What of the lab is in a host namespace: pod links, tunnel devices, routes of the lab's protocols."""
    links = ip_json('-n', host, '-d', 'link', 'show')
    return {'links': sorted(l['ifname'] for l in links if l['ifname'].startswith('cali')
                            or l['ifname'] == 'vxlan.calico' or (l['ifname'] == 'tunl0' and 'UP' in l['flags'])),
            'routes': sorted('%s %s' % (r['dst'], r.get('protocol')) for r in routes(host, 'table', 'all')
                             if r.get('protocol') in LAB_PROTOS and r.get('protocol') != '79')}


def fdb(host):
    out = run(['bridge', '-n', host, '-j', 'fdb', 'show'], timeout=30, check=True).stdout
    return [f for f in json.loads(out or '[]') if f.get('ifname') == 'vxlan.calico']


def vxlan_neighbours(host):
    return [n for n in ip_json('-n', host, 'neigh', 'show', 'nud', 'permanent') if n.get('dev') == 'vxlan.calico']


def assert_mode(lab, hosts, mode):
    """Between hosts, the routes go as MODE says, and the other mode's device and entries are gone."""
    for host in hosts:
        peer_routes = [r for r in routes(host) if r.get('protocol') == '78' and r.get('type') != 'blackhole']
        assert len(peer_routes) == len(hosts) - 1, (host, peer_routes)
        names = [l['ifname'] for l in ip_json('-n', host, 'link', 'show')]
        if mode == 'vxlan':
            assert all(r['dev'] == 'vxlan.calico' for r in peer_routes), peer_routes
            assert len(fdb(host)) >= len(hosts) - 1 and len(vxlan_neighbours(host)) >= len(hosts) - 1
        else:
            assert all(r['dev'] == 'eth0' for r in peer_routes), peer_routes
            assert 'vxlan.calico' not in names
            assert not fdb(host) and not vxlan_neighbours(host)


def test_seeds_lab_bgp_rerun_switch_and_teardown(labs, tmp_path):
    lab = Lab()
    inventory = labs(lab, lab.inventory(SEEDS, tmp_path / 'hosts.yml'))
    hosts = hosts_of(lab, 'host-a', 'host-b')
    before = lab.state()
    output = assert_play(run_playbook('bgp.yml', inventory), hosts)
    assert '4 pods reach each other (bgp mode)' in output
    assert_mode(lab, hosts, 'bgp')
    assert_play(run_playbook('bgp.yml', inventory), hosts, changed=0)
    output = assert_play(run_playbook('vxlan.yml', inventory), hosts)
    assert '4 pods reach each other (vxlan mode)' in output
    assert_mode(lab, hosts, 'vxlan')
    assert re.search(r'%s: \S+ -> \S+ on eth0: 2 requests out, 2 replies in, e.g. out 172\.16\.91\.201 > '
                     r'172\.16\.91\.202 VXLAN vni 4096, ' % hosts[0], output), output[-3000:]
    assert_play(run_playbook('vxlan.yml', inventory), hosts, changed=0)
    output = assert_play(run_playbook('bgp.yml', inventory), hosts)
    assert '4 pods reach each other (bgp mode)' in output
    assert_mode(lab, hosts, 'bgp')        # vxlan.calico, its FDB and neighbour entries are gone
    assert re.search(r'%s: \S+ -> \S+ on eth0: 2 requests out, 2 replies in, e.g. out 10\.10\.0\.\d+ > '
                     r'10\.10\.1\.\d+ ICMP echo request' % hosts[0], output), output[-3000:]
    assert_play(run_playbook('bgp.yml', inventory), hosts, changed=0)

    # The teardown role on the hosts alone (--limit keeps the namespaces): what the lab made is gone.
    assert_play(run_playbook('teardown.yml', inventory, '--limit', 'calico_nodes'), hosts)
    for host in hosts:
        assert host in netns_list()
        assert lab_objects(host) == {'links': [], 'routes': []}, host
    pods = [lab.names[p] for p in ('netns01', 'netns02', 'netns03', 'netns04')]
    assert not [p for p in pods if p in netns_list()]
    assert_play(run_playbook('teardown.yml', inventory), hosts)
    assert lab.state() == before


def test_three_hosts_from_a_pool(labs, tmp_path):
    lab = Lab()
    source = open(os.path.join(ROOT, 'inventories', 'three-hosts-pool', 'hosts.yml')).read()
    inventory = labs(lab, lab.inventory(source, tmp_path / 'hosts.yml'))
    hosts = hosts_of(lab, 'node-1', 'node-2', 'node-3')
    n = lab.names
    output = assert_play(run_playbook('bgp.yml', inventory), hosts)
    assert '5 pods reach each other (bgp mode)' in output
    # IPAM: node-1 gets the pool's first /26, its pods the addresses after the tunnel address.
    assert '%s 192.168.50.11/24 block 10.244.0.0/26 pods %s=10.244.0.1, %s=10.244.0.2' % (
        n['node-1'], n['pod-1a'], n['pod-1b']) in output
    assert_play(run_playbook('bgp.yml', inventory), hosts, changed=0)
    # A pod taken out of the inventory is gone after the next run: its pair, routes and namespace.
    fewer_text = source.replace('[{name: pod-2a}, {name: pod-2b}]', '[{name: pod-2a}]')
    fewer = lab.inventory(fewer_text, tmp_path / 'fewer.yml')
    output = assert_play(run_playbook('bgp.yml', fewer), hosts)
    assert '4 pods reach each other (bgp mode)' in output
    assert n['pod-2b'] not in netns_list()
    assert len(routes(n['node-2'], 'proto', '77')) == 1
    assert_play(run_playbook('bgp.yml', fewer), hosts, changed=0)
    # A pod moved to another host: done in one run, although its namespace still held the old host's
    # pair when the play began (every host purges before any host creates).
    moved = lab.inventory(fewer_text.replace('[{name: pod-1a}, {name: pod-1b}]', '[{name: pod-1a}]')
                          .replace('[{name: pod-3a}]', '[{name: pod-3a}, {name: pod-1b}]'), tmp_path / 'moved.yml')
    labs(lab, moved)
    output = assert_play(run_playbook('bgp.yml', moved), hosts)
    assert '4 pods reach each other (bgp mode)' in output
    assert re.search(r'%s \S+ block (\S+) pods %s=\S+, %s=' % (n['node-3'], n['pod-3a'], n['pod-1b']), output), \
        output[-3000:]
    cali = workload_host_ifname(workload_id('default', n['pod-1b']))
    assert run(['ip', '-n', n['node-3'], 'link', 'show', cali], timeout=30).returncode == 0
    assert run(['ip', '-n', n['node-1'], 'link', 'show', cali], timeout=30).returncode != 0
    assert_play(run_playbook('bgp.yml', moved), hosts, changed=0)


def ipip_driver():
    """Found without loading anything: /sys/module, then modinfo."""
    if os.path.isdir('/sys/module/ipip'):
        return 'loaded'
    modinfo = '/sbin/modinfo' if os.path.exists('/sbin/modinfo') else '/usr/sbin/modinfo'
    if os.path.exists(modinfo) and run([modinfo, 'ipip'], timeout=10).returncode == 0:
        return 'loadable'
    return 'absent'


def test_ipip_stops_before_any_change_without_the_driver(labs, tmp_path):
    if ipip_driver() != 'absent':
        pytest.skip('this kernel has ipip: the refusal cannot be shown here')
    lab = Lab()
    # The netns provider chosen explicitly (the default inventory's auto would take VMs here).
    netns = open(SEEDS).read().replace('calico_lab_provider: auto', 'calico_lab_provider: netns')
    inventory = labs(lab, lab.inventory(netns, tmp_path / 'hosts.yml'))
    output = assert_play(run_playbook('ipip.yml', inventory), [], expect_failure=True)
    assert 'has no ipip driver' in output
    # The hosts exist (the provider made them), but nothing of the datapath was programmed.
    for host in hosts_of(lab, 'host-a', 'host-b'):
        assert lab_objects(host) == {'links': [], 'routes': []}


def test_bad_inventory_fails_before_anything_changes(labs, tmp_path):
    lab = Lab()
    inventory = lab.inventory(open(SEEDS).read().replace('{name: netns04, ip: 10.10.1.3}',
                                                         '{name: netns04, ip: 10.10.0.3}'), tmp_path / 'hosts.yml')
    before = lab.state()
    output = assert_play(run_playbook('bgp.yml', inventory), [], expect_failure=True)
    assert "10.10.0.3 is outside %s's block 10.10.1.0/24" % lab.names['host-b'] in output
    assert lab.state() == before


def bird_blocks(host):
    """Blocks routed by BIRD in a netns lab host, {dst: type}."""
    return dict((r['dst'], r.get('type', 'unicast')) for r in routes(host, 'proto', 'bird'))


def bird_sessions(host):
    """{session: (since, info)} from the host's BIRD."""
    out = run(['birdc', '-s', '/run/labnet-calico-bird-%s/bird.ctl' % host, 'show', 'protocols'],
              timeout=30, check=True).stdout
    return dict((row['name'], (row['since'], row['info'])) for row in parse_show_protocols(out) if row['proto'] == 'BGP')


def lab_birds(hosts):
    found = run(['pgrep', '-f', '-a', '/run/labnet-calico-bird-'], timeout=10).stdout
    return [line for line in found.splitlines() if any('/run/labnet-calico-bird-%s/' % h in line for h in hosts)]


def test_bird_four_hosts_stop_withdraws_rerun_restores(labs, tmp_path):
    lab = Lab()
    source = run([os.path.join(BIN, 'python'), os.path.join(ROOT, 'benchmarks', 'make-inventory.py'), '4', '1'],
                 timeout=30, check=True).stdout
    inventory = labs(lab, lab.inventory(source, tmp_path / 'hosts.yml'))
    s1, s2, s3, s4 = hosts = hosts_of(lab, 's1', 's2', 's3', 's4')
    bird = ['-e', 'calico_routing=bird']
    output = assert_play(run_playbook('bgp.yml', inventory), hosts)
    # A static run on a lab where no BIRD ever ran has nothing to stop, and shows no such task.
    assert "The lab's BIRD stopped" not in output
    # Static to bird while a pod on s1 pings a pod on s4 (namespace to namespace, bounded): BIRD's
    # routes come in beside the static ones before those go, so not one echo is lost.
    target = ip_json('-n', lab.names['s4p1'], '-4', 'addr', 'show', 'eth0')[0]['addr_info'][0]['local']
    ping = subprocess_ping(lab.names['s1p1'], target)
    output = assert_play(run_playbook('bgp.yml', inventory, *bird), hosts)
    summary = ping.communicate(timeout=90)[0]
    assert ' 200 received, 0% packet loss' in summary, summary
    assert 'FAILED - RETRYING' not in output        # the wait for the sessions is quiet
    assert '4 hosts: all BGP sessions Established, all blocks proto bird' in output
    assert '4 pods reach each other (bgp mode)' in output
    blocks = dict((h, bird_blocks(h)) for h in hosts)
    s4_block = next(dst for dst, kind in blocks[s4].items() if kind == 'blackhole')
    assert all(blocks[h].get(s4_block) == 'unicast' for h in (s1, s2, s3))
    sessions = bird_sessions(s1)
    assert len(sessions) == 3 and all(info.startswith('Established') for _since, info in sessions.values())
    assert_play(run_playbook('bgp.yml', inventory, *bird), hosts, changed=0)
    assert bird_sessions(s1) == sessions      # a re-run restarts no session (same "since" times)

    # Stop s4's BIRD as an operator would (SIGTERM): the others withdraw its block at once.
    pid = open('/run/labnet-calico-bird-%s/bird.pid' % s4).read().strip()
    run(['kill', '-TERM', pid], timeout=10, check=True)
    deadline = time.time() + 15
    while time.time() < deadline and any(s4_block in bird_blocks(h) for h in (s1, s2, s3)):
        time.sleep(0.5)
    assert not any(s4_block in bird_blocks(h) for h in (s1, s2, s3))
    # s4's own kernel keeps BIRD's routes (persist, as calico-node's BIRD); a stop by the lab removes them.
    assert bird_blocks(s4).get(s4_block) == 'blackhole'

    output = assert_play(run_playbook('bgp.yml', inventory, *bird), hosts)
    assert recap(output)[s4]['changed'] == 1 and recap(output)[s1]['changed'] == 0  # only s4's BIRD started
    assert '4 pods reach each other (bgp mode)' in output
    assert all(bird_blocks(h).get(s4_block) == 'unicast' for h in (s1, s2, s3))

    # Back to static routes: the lab's BIRDs stop and take their routes with them.
    output = assert_play(run_playbook('bgp.yml', inventory), hosts)
    assert '4 pods reach each other (bgp mode)' in output
    assert "The lab's BIRD stopped" in output and recap(output)[s1]['changed'] >= 1
    assert lab_birds(hosts) == [] and all(bird_blocks(h) == {} for h in hosts)


def test_bird_sigkill_loses_no_ping_rerun_recovers(labs, tmp_path):
    """A crash of BIRD (SIGKILL) on one host of three: its kernel routes stay, its peers keep its
    block (graceful restart), so a pod pinging through it loses nothing for 10 s; a re-run starts
    it again with graceful restart recovery (-R) and changes only that host."""
    lab = Lab()
    source = run([os.path.join(BIN, 'python'), os.path.join(ROOT, 'benchmarks', 'make-inventory.py'), '3', '1'],
                 timeout=30, check=True).stdout
    inventory = labs(lab, lab.inventory(source, tmp_path / 'hosts.yml'))
    s1, s2, s3 = hosts = hosts_of(lab, 's1', 's2', 's3')
    bird = ['-e', 'calico_routing=bird']
    assert_play(run_playbook('bgp.yml', inventory, *bird), hosts)
    blocks = dict((h, bird_blocks(h)) for h in hosts)
    s2_block = next(dst for dst, kind in blocks[s2].items() if kind == 'blackhole')
    pid = int(open('/run/labnet-calico-bird-%s/bird.pid' % s2).read().strip())
    os.kill(pid, 9)
    deadline = time.time() + 10
    while time.time() < deadline and lab_birds([s2]):
        time.sleep(0.2)
    assert lab_birds([s2]) == []
    # s1's pod to s2's pod for 10 s: s1 needs s2's block (kept by graceful restart), s2 the route back
    # to s1's block (left in its kernel by the dead BIRD).
    target = ip_json('-n', lab.names['s2p1'], '-4', 'addr', 'show', 'eth0')[0]['addr_info'][0]['local']
    ping = subprocess_ping(lab.names['s1p1'], target, count=50, deadline=20)
    summary = ping.communicate(timeout=40)[0]
    assert ' 50 received, 0% packet loss' in summary, summary
    assert bird_blocks(s1).get(s2_block) == 'unicast' and bird_blocks(s3).get(s2_block) == 'unicast'
    assert sorted(bird_blocks(s2)) == sorted(blocks[s2])  # the dead BIRD's routes, still in s2's kernel

    output = assert_play(run_playbook('bgp.yml', inventory, *bird), hosts, changed={s1: 0, s2: 1, s3: 0})
    assert '3 pods reach each other (bgp mode)' in output
    assert ' -R' in ''.join(lab_birds([s2]))  # started with graceful restart recovery
    assert all(bird_blocks(h).get(s2_block) == 'unicast' for h in (s1, s3))


def subprocess_ping(netns, address, count=200, deadline=60):
    """COUNT pings (5 a second) in the background inside a lab namespace, bounded by DEADLINE s."""
    import subprocess
    return subprocess.Popen(['ip', 'netns', 'exec', netns, 'ping', '-n', '-q', '-i', '0.2', '-c', str(count),
                             '-w', str(deadline), address], stdout=subprocess.PIPE, text=True)


def test_two_subnets_vxlan_cross_subnet_per_pair_then_teardown(labs, tmp_path):
    """Hosts on two subnets (a router namespace between them), VXLAN cross_subnet: x1 <-> x2 (same
    subnet) plain over eth0, x1/x2 <-> x3 through vxlan.calico, on the routes and on the wire; then
    a teardown, which must not judge the inventory by BGP mode's one-segment rule."""
    lab = Lab()
    inventory = labs(lab, lab.inventory({'all': {
        'vars': {'calico_ipam_pool': '10.244.0.0/16', 'calico_vxlan_mode': 'cross_subnet'},
        'children': {'calico_nodes': {
            'vars': {'calico_lab_provider': 'netns', 'ansible_connection': 'labnet.calico.netns',
                     'ansible_python_interpreter': '{{ ansible_playbook_python }}'},
            'hosts': {'x1': {'calico_node_address': '192.168.81.11/24', 'calico_workloads': [{'name': 'x1p'}]},
                      'x2': {'calico_node_address': '192.168.81.12/24', 'calico_workloads': [{'name': 'x2p'}]},
                      'x3': {'calico_node_address': '192.168.82.13/24', 'calico_workloads': [{'name': 'x3p'}]}}}}}},
        tmp_path / 'hosts.yml'))
    x1, x2, x3 = hosts = hosts_of(lab, 'x1', 'x2', 'x3')
    output = assert_play(run_playbook('vxlan.yml', inventory), hosts)
    assert '3 pods reach each other (vxlan mode)' in output
    block = dict((h, [r['dst'] for r in routes(h) if r.get('type') == 'blackhole']) for h in hosts)
    assert all(len(b) == 1 for b in block.values()), block
    encapsulated = {(x1, x2): False, (x2, x1): False, (x1, x3): True, (x3, x1): True, (x2, x3): True, (x3, x2): True}
    for (src, dst), vxlan in encapsulated.items():
        peer = routes(src, block[dst][0])
        assert [r['dev'] for r in peer] == ['vxlan.calico' if vxlan else 'eth0'], (src, dst, peer)
    assert len([r for r in routes(x1) if r.get('protocol') == '78' and r.get('type') != 'blackhole']) == 2
    line = re.compile(r'"(%s): \S+ -> (\S+) on eth0: 2 requests out, 2 replies in, e.g. out ([^"]*)"' % '|'.join(hosts))
    seen = dict(((h, t), wire) for h, t, wire in line.findall(output))
    pod_host = {lab.names['x1p']: x1, lab.names['x2p']: x2, lab.names['x3p']: x3}
    assert len(seen) == 6, output[-3000:]
    for (host, target), wire in seen.items():
        assert ('VXLAN vni 4096' in wire) is encapsulated[(host, pod_host[target])], (host, target, wire)
    assert_play(run_playbook('vxlan.yml', inventory), hosts, changed=0)
    assert_play(run_playbook('teardown.yml', inventory), hosts)
