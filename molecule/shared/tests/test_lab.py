"""What every Molecule scenario checks on every lab host, with pytest-testinfra.

The expected state is derived from the inventory with the collection's own plan filter, so the same
tests serve the netns lab, the VMs and any inventory. CALICO_EXPECT_MODE (bgp or ipip) says which
routes between hosts to expect; CALICO_EXPECT_ROUTING (static or bird) which protocol carries them.
"""

import json
import os
import sys

import pytest
import testinfra.utils.ansible_runner

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'collections'))

from ansible_collections.labnet.calico.plugins.filter.calico_bird import bird_config  # noqa: E402
from ansible_collections.labnet.calico.plugins.filter.calico_lab import calico_lab_plan  # noqa: E402
from ansible_collections.labnet.calico.plugins.module_utils.bird import established, parse_show_protocols  # noqa: E402

# Molecule's inventory directory holds its generated file and the scenario's linked inventory.
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.path.dirname(os.environ['MOLECULE_INVENTORY_FILE']))
NODES = RUNNER.get_hosts('calico_nodes')
testinfra_hosts = NODES

MODE = os.environ.get('CALICO_EXPECT_MODE', 'bgp')
ROUTING = os.environ.get('CALICO_EXPECT_ROUTING', 'static')
PEER_PROTO = {'static': '78', 'bird': '12'}[ROUTING]
HOSTVARS = dict((name, RUNNER.get_variables(name)) for name in NODES)
SAMPLE = next(iter(HOSTVARS.values())) if HOSTVARS else {}
# The plan (IPAM) follows inventory order, as in Ansible's groups; get_hosts() sorts by name.
INVENTORY_ORDER = RUNNER.inventory.get('calico_nodes', {}).get('hosts', [])
ORDERED_NODES = [h for h in INVENTORY_ORDER if h in NODES] + [h for h in NODES if h not in INVENTORY_ORDER]
PLAN = calico_lab_plan(HOSTVARS, ORDERED_NODES, pool=SAMPLE.get('calico_ipam_pool'),
                       block_size=SAMPLE.get('calico_block_size', 26), mode=MODE,
                       ipip_mode=SAMPLE.get('calico_ipip_mode', 'always'))


def me(host):
    return PLAN[host.backend.get_hostname()]


def ip_json(host, *args):
    return json.loads(host.check_output('ip -j ' + ' '.join(args)) or '[]')


def proc_sys(host, path):
    return host.check_output('cat /proc/sys/' + path).strip()


def test_ip_forward(host):
    assert proc_sys(host, 'net/ipv4/ip_forward') == '1'


def test_host_side_of_every_pod(host):
    for pod in me(host)['workloads']:
        link = ip_json(host, '-d', 'link', 'show', 'dev', pod['host_ifname'])[0]
        assert link['address'] == 'ee:ee:ee:ee:ee:ee'
        assert 'UP' in link['flags']
        assert link['linkinfo']['info_kind'] == 'veth'
        assert link['ifalias'] == 'labnet.calico:' + pod['name']
        assert proc_sys(host, 'net/ipv4/conf/%s/proxy_arp' % pod['host_ifname']) == '1'
        assert proc_sys(host, 'net/ipv4/neigh/%s/proxy_delay' % pod['host_ifname']) == '0'
        assert proc_sys(host, 'net/ipv4/conf/%s/forwarding' % pod['host_ifname']) == '1'
        routes = ip_json(host, 'route', 'show', pod['ip'] + '/32')
        assert [(r['dev'], r.get('scope'), r['protocol']) for r in routes] == [(pod['host_ifname'], 'link', '77')]


def test_pod_side_of_every_pod(host):
    for pod in me(host)['workloads']:
        addresses = ip_json(host, '-n', pod['netns'], 'addr', 'show', 'dev', 'eth0')[0]['addr_info']
        assert [(a['local'], a['prefixlen']) for a in addresses if a['family'] == 'inet'] == [(pod['ip'], 32)]
        routes = dict((r['dst'], r) for r in ip_json(host, '-n', pod['netns'], 'route', 'show'))
        assert routes['169.254.1.1']['dev'] == 'eth0' and routes['169.254.1.1']['scope'] == 'link'
        assert routes['default']['gateway'] == '169.254.1.1' and routes['default']['dev'] == 'eth0'


def test_gateway_answered_by_proxy_arp(host):
    """A pod's ARP for 169.254.1.1 is answered with the host end's MAC, ee:ee:ee:ee:ee:ee."""
    others = [w for h in PLAN for w in PLAN[h]['workloads']]
    for pod in me(host)['workloads']:
        target = next(w for w in others if w['name'] != pod['name'])
        host.run('ip netns exec %s ping -c 1 -W 2 %s' % (pod['netns'], target['ip']))
        neighbours = ip_json(host, '-n', pod['netns'], 'neigh', 'show', '169.254.1.1')
        assert neighbours and neighbours[0]['lladdr'] == 'ee:ee:ee:ee:ee:ee'
        assert neighbours[0]['state'][0] in ('REACHABLE', 'STALE', 'DELAY', 'PROBE')


def test_routes_between_hosts(host):
    mine = me(host)
    routes = ip_json(host, 'route', 'show')
    by_dst = dict((r['dst'], r) for r in routes)
    assert by_dst[mine['block']].get('type') == 'blackhole'
    for peer in mine['peers']:
        route = by_dst[peer['block']]
        assert route['gateway'] == peer['node_ip']
        assert route['protocol'] in (PEER_PROTO, {'12': 'bird', '78': '78'}[PEER_PROTO])
        if MODE == 'ipip' and peer['encapsulate']:
            assert route['dev'] == 'tunl0' and 'onlink' in route['flags']
        else:
            assert route['dev'] == mine['underlay_dev']
        assert len([r for r in routes if r['dst'] == peer['block']]) == 1


@pytest.mark.skipif(MODE != 'ipip', reason='IPIP mode only')
def test_tunl0(host):
    mine = me(host)
    link = ip_json(host, 'addr', 'show', 'dev', 'tunl0')[0]
    underlay = ip_json(host, 'link', 'show', 'dev', mine['underlay_dev'])[0]
    assert 'UP' in link['flags']
    assert link['mtu'] == underlay['mtu'] - 20
    assert [(a['local'], a['prefixlen']) for a in link['addr_info'] if a['family'] == 'inet'] == \
        [(mine['tunnel_address'], 32)]


def test_pods_reach_pods_on_other_hosts(host):
    """Two hops across hosts (TTL 62); in IPIP mode the requests leave through tunl0, else not."""
    mine = me(host)
    if not mine['workloads']:
        pytest.skip('no pods on this host')
    source = mine['workloads'][0]
    for peer in mine['peers']:
        remote = PLAN[peer['name']]['workloads']
        if not remote:
            continue
        before = host.run('ip -s -j link show tunl0')
        result = host.run('ip netns exec %s ping -n -c 2 -i 0.2 -W 2 -w 5 %s' % (source['netns'], remote[0]['ip']))
        after = host.run('ip -s -j link show tunl0')
        assert result.rc == 0, result.stdout + result.stderr
        assert 'ttl=62' in result.stdout
        if before.rc == 0 and after.rc == 0:
            sent = json.loads(after.stdout)[0]['stats64']['tx']['packets'] - \
                json.loads(before.stdout)[0]['stats64']['tx']['packets']
            expect_tunnel = MODE == 'ipip' and peer['encapsulate']
            assert sent == (2 if expect_tunnel else 0), 'tunl0 sent %d packets' % sent
        else:
            assert not (MODE == 'ipip' and peer['encapsulate']), 'no tunl0 in IPIP mode'


def bird_socket(host):
    name = host.backend.get_hostname()
    if HOSTVARS[name].get('calico_lab_provider') == 'netns':
        return '/run/labnet-calico-bird-%s/bird.ctl' % HOSTVARS[name].get('ansible_netns_name', name)
    return '/run/bird/bird.ctl'


@pytest.mark.skipif(ROUTING != 'bird', reason='calico_routing bird only')
def test_bgp_sessions_established(host):
    """Every session the topology asks for (full mesh, or to/from the route reflectors) is up."""
    name = host.backend.get_hostname()
    wanted = bird_config(PLAN, name, SAMPLE.get('calico_route_reflectors') or [],
                         SAMPLE.get('calico_route_reflector_cluster_id', '244.0.0.1'),
                         SAMPLE.get('calico_as_number', 64512))
    rows = parse_show_protocols(host.check_output('birdc -s %s show protocols' % bird_socket(host)))
    assert sorted(s['name'] for s in wanted['sessions']) == sorted(r['name'] for r in rows if r['proto'] == 'BGP')
    assert established(rows) == set(s['name'] for s in wanted['sessions'])
    reflectors = SAMPLE.get('calico_route_reflectors') or []
    if reflectors and name not in reflectors:
        assert len(wanted['sessions']) == len(reflectors)  # a client peers with the reflectors only
