"""Golden test: the seeds' lab on the netns provider, its programmed state compared with hand-written files.

For each mode (tests/integration/golden/<mode>-<routing>/<host>.txt) every lab host's links, addresses,
routes, permanent neighbours, FDB entries and sysctls, and the same of each of its pods, are printed in
a fixed form and compared line by line with the expected file, which says for each fact where in
Calico's source it comes from ('#' lines are comments). Per-run names and random MACs are replaced by
placeholders: {host-a}, {netns01}, cali{netns01} (Calico's name: cali + sha1("default.<pod>")[:11]),
{mac netns01} (the pod end's MAC), {vtep host-b} (Felix's VTEP MAC: 66 + sha1(<host>)[0:5]), {lab}. Both
names are computed here from Calico's definitions, not with the lab's functions, so a lab that named
them otherwise shows its own names in the diff. With BIRD, each host's BIRD configuration is
also compared with golden/bgp-bird/<host>.bird.conf (its comments and blank lines dropped).

Covered here (netns provider): bgp-static, bgp-bird, vxlan-static, and VXLAN with calico_routing bird,
whose golden is vxlan-static (Calico's BIRD programs no route into a VXLAN pool; the lab runs no BIRD
in VXLAN mode). IPIP needs the ipip driver: ipip-bird and ipip-static are compared on the QEMU VMs of
the Molecule ipip scenario (molecule/shared/tests/test_lab.py test_golden_state, then
test_routing_switch.py after a converge with calico_routing static). Every mode x routing pair has one.

A mismatch fails with a unified diff. LABNET_GOLDEN_WRITE=1 also writes what was found next to the
expected file (<host>.txt.actual), to review, never to copy blindly. The normaliser is golden_state.py,
shared with the VMs' golden test (molecule/shared/tests/test_lab.py test_golden_state, IPIP in the Molecule
ipip scenario).
"""

import hashlib
import json
import os
import sys

import pytest

import golden_state
from golden_state import GOLDEN, calico_veth_name
from labtest import BIN, ROOT, Lab, ansible_env, assert_play, ip, ip_json, run

PLAYBOOK = os.path.join(BIN, 'ansible-playbook')
SEEDS = os.path.join(ROOT, 'inventory', 'hosts.yml')
HOSTS = {'host-a': ['netns01', 'netns02'], 'host-b': ['netns03', 'netns04']}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def run_playbook(name, inventory, *extra):
    return run([PLAYBOOK, name, '-i', inventory] + list(extra), cwd=ROOT,
               env=ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT='json'), timeout=600)


def in_netns(netns):
    """golden_state's RUN for a lab namespace of this machine."""
    return lambda argv: run(['ip', 'netns', 'exec', netns] + argv, timeout=30, check=True).stdout


def placeholders(lab):
    macs = dict((pod, golden_state.pod_mac(in_netns(lab.names[pod]))) for pods in HOSTS.values() for pod in pods)
    return golden_state.placeholders(lab.names, HOSTS, macs, lab.lab)


def host_state(lab, base):
    """The host's lines, then each pod's under '[<pod>]', names replaced by placeholders, in a fixed order."""
    host_lines = golden_state.namespace_lines(in_netns(lab.names[base]), python=sys.executable)
    pod_lines = dict((pod, golden_state.namespace_lines(in_netns(lab.names[pod]), pod=True, python=sys.executable))
                     for pod in HOSTS[base])
    return golden_state.host_state(base, host_lines, pod_lines, placeholders(lab))


def compare(lab, directory, suffix='.txt', state=None, what='programmed on '):
    """Each host's STATE (default: host_state) against GOLDEN/DIRECTORY/<host>SUFFIX."""
    problems = [golden_state.difference(os.path.join(GOLDEN, directory, base + suffix),
                                        (state or host_state)(lab, base), what + base) for base in HOSTS]
    problems = [p for p in problems if p]
    assert not problems, 'the %s differs from the golden files:\n%s' % (
        'programmed state' if state is None else 'BIRD configuration', '\n'.join(problems))


@pytest.fixture
def seeds(tmp_path):
    lab = Lab()
    inventory = lab.inventory(SEEDS, tmp_path / 'hosts.yml')
    try:
        yield lab, inventory
    finally:
        run_playbook(os.path.join(ROOT, 'playbooks', 'teardown.yml'), inventory)
        left = lab.remove_leftovers()
        assert not left, 'teardown left %s' % left


GOLDEN_PLAY = os.path.join(ROOT, 'tests', 'integration', 'playbooks', 'golden.yml')


POD_IPS = {'netns01': '10.10.0.2', 'netns02': '10.10.0.3', 'netns03': '10.10.1.2', 'netns04': '10.10.1.3'}


def make_pairs_as_before(lab):
    """The lab's pods as the lab made them before it used Calico's workload id: the host end named
    cali + sha1(<pod>)[:11] and tagged labnet.calico:<pod>, with its pod end, address and routes."""
    for base, pods in HOSTS.items():
        host = lab.names[base]
        for pod in pods:
            netns, address = lab.names[pod], POD_IPS[pod]
            old = 'cali' + hashlib.sha1(netns.encode()).hexdigest()[:11]
            ip('-n', host, 'link', 'del', calico_veth_name(netns))
            ip('-n', host, 'link', 'add', old, 'address', 'ee:ee:ee:ee:ee:ee', 'type', 'veth',
               'peer', 'name', 'eth0', 'netns', netns)
            ip('-n', host, 'link', 'set', 'dev', old, 'alias', 'labnet.calico:' + netns, 'up')
            ip('-n', netns, 'addr', 'add', address + '/32', 'dev', 'eth0')
            ip('-n', netns, 'link', 'set', 'dev', 'eth0', 'up')
            ip('-n', netns, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link', 'proto', '77')
            ip('-n', netns, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0', 'proto', '77')
            ip('-n', host, 'route', 'add', address + '/32', 'dev', old, 'scope', 'link', 'proto', '77')
            names = [link['ifname'] for link in ip_json('-n', host, 'link', 'show')]
            assert old in names and calico_veth_name(netns) not in names, names


def test_golden_bgp_static(seeds):
    lab, inventory = seeds
    hosts = [lab.names['host-a'], lab.names['host-b']]
    assert_play(run_playbook(GOLDEN_PLAY, inventory, '-e', 'golden_mode=bgp'), hosts)
    compare(lab, 'bgp-static')
    # A lab made with the old names converges in one run: its pairs are purged as the lab's own (by
    # their tag), Calico's are made in the same namespaces, and the next run changes nothing.
    make_pairs_as_before(lab)
    assert_play(run_playbook(GOLDEN_PLAY, inventory, '-e', 'golden_mode=bgp'), hosts)
    compare(lab, 'bgp-static')
    assert_play(run_playbook(GOLDEN_PLAY, inventory, '-e', 'golden_mode=bgp'), hosts, changed=0)


def test_golden_vxlan_static_and_bird_and_a_1400_underlay(seeds):
    lab, inventory = seeds
    hosts = [lab.names['host-a'], lab.names['host-b']]
    assert_play(run_playbook(GOLDEN_PLAY, inventory, '-e', 'golden_mode=vxlan'), hosts)
    compare(lab, 'vxlan-static')
    # VXLAN with calico_routing bird (golden vxlan-bird = vxlan-static): in Calico, BIRD programs no route
    # into a VXLAN pool, Felix does (confd/pkg/backends/calico/bgp_processor.go, "VXLAN routes are
    # handled by Felix"); the lab keeps its own routes and runs no BIRD. Switching changes nothing.
    assert_play(run_playbook(GOLDEN_PLAY, inventory, '-e', 'golden_mode=vxlan', '-e', 'calico_routing=bird'),
                hosts, changed=0)
    compare(lab, 'vxlan-static')
    assert not [h for h in hosts if os.path.exists('/run/labnet-calico-bird-%s' % h)], 'a lab BIRD in VXLAN mode'
    # The underlay's MTU drops to 1400: one re-run gives Felix's values (1400 - 50) everywhere.
    for host in hosts:
        ip('-n', host, 'link', 'set', 'eth0', 'mtu', '1400')
    assert_play(run_playbook(GOLDEN_PLAY, inventory, '-e', 'golden_mode=vxlan'), hosts)
    for base, pods in HOSTS.items():
        host = lab.names[base]
        assert json.loads(ip('-n', host, '-j', 'link', 'show', 'vxlan.calico'))[0]['mtu'] == 1350
        for pod in pods:
            cali = calico_veth_name(lab.names[pod])
            assert json.loads(ip('-n', host, '-j', 'link', 'show', cali))[0]['mtu'] == 1350
            assert json.loads(ip('-n', lab.names[pod], '-j', 'link', 'show', 'eth0'))[0]['mtu'] == 1350
        tunnel_routes = [r for r in ip_json('-n', host, 'route', 'show', 'dev', 'vxlan.calico') if 'gateway' in r]
        assert tunnel_routes and all(r.get('metrics') == [{'mtu': 1350}] for r in tunnel_routes), tunnel_routes
    assert_play(run_playbook(GOLDEN_PLAY, inventory, '-e', 'golden_mode=vxlan'), hosts, changed=0)


def bird_config_lines(lab, base):
    """The host's BIRD configuration without its comments and blank lines, names as placeholders."""
    with open('/run/labnet-calico-bird-%s/bird.conf' % lab.names[base]) as handle:
        return golden_state.bird_config_lines(handle.read(), placeholders(lab))


def test_golden_bgp_bird(seeds):
    lab, inventory = seeds
    hosts = [lab.names['host-a'], lab.names['host-b']]
    assert_play(run_playbook(GOLDEN_PLAY, inventory, '-e', 'golden_mode=bgp', '-e', 'calico_routing=bird'), hosts)
    compare(lab, 'bgp-bird')
    compare(lab, 'bgp-bird', '.bird.conf', bird_config_lines, 'BIRD configuration of ')
