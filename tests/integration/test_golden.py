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

A mismatch fails with a unified diff. LABNET_GOLDEN_WRITE=1 also writes what was found next to the
expected file (<host>.txt.actual), to review, never to copy blindly.
"""

import difflib
import hashlib
import json
import os
import sys

import pytest

from ansible_collections.labnet.calico.plugins.module_utils.iproute import normalize_link, normalize_route, route_argv
from labtest import BIN, ROOT, Lab, ansible_env, assert_play, ip, ip_json, run

PLAYBOOK = os.path.join(BIN, 'ansible-playbook')
SEEDS = os.path.join(ROOT, 'inventory', 'hosts.yml')
GOLDEN = os.path.join(os.path.dirname(__file__), 'golden')
HOSTS = {'host-a': ['netns01', 'netns02'], 'host-b': ['netns03', 'netns04']}
CALI_SYSCTLS = ('net/ipv4/conf/%s/proxy_arp', 'net/ipv4/neigh/%s/proxy_delay', 'net/ipv4/conf/%s/forwarding',
                'net/ipv4/conf/%s/route_localnet', 'net/ipv4/conf/%s/rp_filter', 'net/ipv6/conf/%s/accept_ra')

READ_SYSCTLS = '''
import os, sys
for key in sys.argv[1:]:
    path = '/proc/sys/' + key
    print(open(path).read().strip() if os.path.exists(path) else '-')
'''

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def run_playbook(name, inventory, *extra):
    return run([PLAYBOOK, name, '-i', inventory] + list(extra), cwd=ROOT,
               env=ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT='json'), timeout=600)


def sysctls(netns, keys):
    """Values of KEYS (paths under /proc/sys) in NETNS, with one process; '-' where the kernel has none."""
    argv = ['ip', 'netns', 'exec', netns, sys.executable, '-c', READ_SYSCTLS] + list(keys)
    return dict(zip(keys, run(argv, timeout=30, check=True).stdout.split()))


def link_line(link):
    words = ['link', link['name'], link['kind'] or '-', 'mtu', str(link['mtu']), 'up' if link['up'] else 'down']
    if link['name'].startswith('cali') or link['kind'] == 'vxlan':
        words += ['mac', link['mac']]
    if link['kind'] == 'vxlan':
        info = link['info']
        words += ['id', str(info.get('id')), 'local', str(info.get('local')), 'dev', str(info.get('link')),
                  'port', str(info.get('port')),
                  'learning', str(bool(info.get('learning'))).lower()]
    return ' '.join(words)


def namespace_lines(netns, pod=False):
    lines = []
    links = [normalize_link(raw) for raw in ip_json('-n', netns, '-d', 'addr', 'show')]
    for link in sorted(links, key=lambda l: l['name']):
        if link['name'] == 'lo' or not (pod or link['name'] in ('eth0', 'vxlan.calico', 'tunl0')
                                        or link['name'].startswith('cali')):
            continue
        lines.append(link_line(link))
        lines.extend('addr %s %s' % (link['name'], a) for a in link['addresses'])
    for raw in ip_json('-n', netns, '-4', '-N', 'route', 'show', 'table', 'main'):
        lines.append('route ' + ' '.join(route_argv(normalize_route(raw))))
    for n in ip_json('-n', netns, '-4', 'neigh', 'show', 'nud', 'permanent'):
        lines.append('neigh %s dev %s lladdr %s permanent' % (n['dst'], n['dev'], n.get('lladdr', '-')))
    if not pod:
        out = run(['bridge', '-n', netns, '-j', 'fdb', 'show'], timeout=30, check=True).stdout
        for f in json.loads(out or '[]'):
            if 'permanent' == f.get('state') and f.get('mac') != '00:00:00:00:00:00' and f.get('dst'):
                lines.append('fdb %s dev %s dst %s self permanent' % (f['mac'], f['ifname'], f['dst']))
    keys = ['net/ipv4/ip_forward']
    if not pod:
        keys += [k % l['name'] for l in links if l['name'].startswith('cali') for k in CALI_SYSCTLS]
    lines.extend('sysctl %s = %s' % (k, v) for k, v in sorted(sysctls(netns, keys).items()))
    return lines


def calico_veth_name(pod, namespace='default'):
    """libcalico-go/lib/backend/k8s/conversion/workload_endpoint_default.go VethNameForWorkload."""
    return 'cali' + hashlib.sha1(('%s.%s' % (namespace, pod)).encode()).hexdigest()[:11]


def felix_vtep_mac(node):
    """felix/calc/vxlan_resolver.go vtepMACForHost (a node without VXLANTunnelMACAddr)."""
    return ':'.join('%02x' % b for b in b'f' + hashlib.sha1(node.encode()).digest()[:5])


def placeholders(lab):
    """{actual text: placeholder}: per-run names, the pods' random MACs, the VTEP MACs."""
    found = {lab.lab: '{lab}'}
    for name in HOSTS:
        found[felix_vtep_mac(lab.names[name])] = '{vtep %s}' % name
    for pods in HOSTS.values():
        for pod in pods:
            found[calico_veth_name(lab.names[pod])] = 'cali{%s}' % pod
            eth0 = json.loads(ip('-n', lab.names[pod], '-j', 'link', 'show', 'eth0'))[0]['address']
            found[eth0] = '{mac %s}' % pod
    for base_name, actual in lab.names.items():
        found.setdefault(actual, '{%s}' % base_name)
    return found


ORDER = ('link', 'route', 'neigh', 'fdb', 'sysctl')


def sort_key(line):
    """Links each followed by their addresses, then routes, neighbours, FDB entries, sysctls."""
    kind, name = line.split()[0], line.split()[1]
    if kind == 'addr':
        return (0, name, 1, line)
    return (ORDER.index(kind), name if kind == 'link' else '', 0, line)


def host_state(lab, base):
    """The host's lines, then each pod's under '[<pod>]', names replaced by placeholders, in a fixed order."""
    names = placeholders(lab)

    def block(title, lines):
        fixed = []
        for line in lines:
            for actual in sorted(names, key=len, reverse=True):
                line = line.replace(actual, names[actual])
            fixed.append(line)
        return ['[%s]' % title] + sorted(fixed, key=sort_key)

    lines = block(base, namespace_lines(lab.names[base]))
    for pod in HOSTS[base]:
        lines += [''] + block(pod, namespace_lines(lab.names[pod], pod=True))
    return '\n'.join(lines) + '\n'


def expected(path):
    return ''.join(line for line in open(path) if not line.startswith('#'))


def compare(lab, directory, suffix='.txt', state=None, what='programmed on '):
    """Each host's STATE (default: host_state) against GOLDEN/DIRECTORY/<host>SUFFIX."""
    problems = []
    for base in HOSTS:
        path = os.path.join(GOLDEN, directory, base + suffix)
        actual = (state or host_state)(lab, base)
        if os.environ.get('LABNET_GOLDEN_WRITE'):
            with open(path + '.actual', 'w') as out:
                out.write(actual)
        wanted = expected(path)
        if actual != wanted:
            problems.append(''.join(difflib.unified_diff(
                wanted.splitlines(True), actual.splitlines(True), 'expected ' + os.path.relpath(path, ROOT),
                what + base)))
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


def test_golden_vxlan_static_and_a_1400_underlay(seeds):
    lab, inventory = seeds
    hosts = [lab.names['host-a'], lab.names['host-b']]
    assert_play(run_playbook(GOLDEN_PLAY, inventory, '-e', 'golden_mode=vxlan'), hosts)
    compare(lab, 'vxlan-static')
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
    names = placeholders(lab)
    lines = []
    with open('/run/labnet-calico-bird-%s/bird.conf' % lab.names[base]) as handle:
        for line in handle:
            line = line.split('#', 1)[0].rstrip()
            for actual in sorted(names, key=len, reverse=True):
                line = line.replace(actual, names[actual])
            if line:
                lines.append(line + '\n')
    return ''.join(lines)


def test_golden_bgp_bird(seeds):
    lab, inventory = seeds
    hosts = [lab.names['host-a'], lab.names['host-b']]
    assert_play(run_playbook(GOLDEN_PLAY, inventory, '-e', 'golden_mode=bgp', '-e', 'calico_routing=bird'), hosts)
    compare(lab, 'bgp-bird')
    compare(lab, 'bgp-bird', '.bird.conf', bird_config_lines, 'BIRD configuration of ')
