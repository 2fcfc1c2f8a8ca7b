"""What a dual-stack Molecule scenario checks on every lab host over IPv6, with pytest-testinfra
(issue 13). The expectations are written by hand in molecule/<scenario>/expected.yml (each host's
node_address_v6, block_v6, pods_v6, peers_v6), not computed by the plan code; scenarios without them
skip this file. Calico's facts: cni-plugin/pkg/dataplane/linux/dataplane_linux.go (the pod),
felix/dataplane/linux/endpoint_mgr.go (the host end), see docs/dual-stack.md.
"""

import json
import os

import pytest
import testinfra.utils.ansible_runner
import yaml

SCENARIO_DIR = os.environ.get('MOLECULE_SCENARIO_DIRECTORY') or os.path.join(
    os.path.dirname(__file__), '..', '..', os.environ['MOLECULE_SCENARIO_NAME'])
EXPECTED = yaml.safe_load(open(os.path.join(SCENARIO_DIR, 'expected.yml')))
HOSTS = EXPECTED['hosts']
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.path.dirname(os.environ['MOLECULE_INVENTORY_FILE']))
testinfra_hosts = RUNNER.get_hosts('calico_nodes')
PEER_PROTO = {'static': '78', 'bird': 'bird'}[EXPECTED['routing']]
GATEWAY6 = 'fe80::ecee:eeff:feee:eeee'   # the link-local address of ee:ee:ee:ee:ee:ee (EUI-64)

pytestmark = pytest.mark.skipif(not any('pods_v6' in h for h in HOSTS.values()), reason='no IPv6 in this scenario')


def me(host):
    return HOSTS[host.backend.get_hostname()]


def ip_json(host, *args):
    return json.loads(host.check_output('ip -j ' + ' '.join(args)) or '[]')


def proc_sys(host, path):
    return host.check_output('cat /proc/sys/' + path).strip()


def sysctls(host, paths, pod=None):
    """{path: value} of many /proc/sys files in one command (each testinfra command is an Ansible run)."""
    prefix = 'ip netns exec %s ' % pod if pod else ''
    values = host.check_output(prefix + 'cat ' + ' '.join('/proc/sys/' + p for p in paths)).split()
    return dict(zip(paths, values))


def test_ipv6_forwarding_and_underlay(host):
    assert proc_sys(host, 'net/ipv6/conf/all/forwarding') == '1'
    eth0 = ip_json(host, 'addr', 'show', 'dev', 'eth0')[0]
    assert ['%s/%d' % (a['local'], a['prefixlen']) for a in eth0['addr_info']
            if a['family'] == 'inet6' and a.get('scope') == 'global'] == [me(host)['node_address_v6']]


def test_pod_side_over_ipv6(host):
    for pod, address in me(host)['pods_v6'].items():
        addresses = ip_json(host, '-n', pod, 'addr', 'show', 'dev', 'eth0')[0]['addr_info']
        assert [(a['local'], a['prefixlen'], bool(a.get('nodad'))) for a in addresses
                if a['family'] == 'inet6' and a.get('scope') == 'global'] == [(address, 128, True)]
        default = [r for r in ip_json(host, '-n', pod, '-6', 'route', 'show') if r['dst'] == 'default']
        assert [(r.get('gateway'), r['dev']) for r in default] == [(GATEWAY6, 'eth0')]
        names = ('all/disable_ipv6', 'default/disable_ipv6', 'lo/disable_ipv6', 'eth0/accept_dad', 'all/forwarding')
        paths = ['net/ipv6/conf/' + name for name in names]
        assert sysctls(host, paths, pod) == dict.fromkeys(paths, '0'), pod


def test_host_side_over_ipv6(host):
    for pod, address in me(host)['pods_v6'].items():
        routes = [r for r in ip_json(host, '-6', 'route', 'show') if r['dst'] == address]
        assert len(routes) == 1 and routes[0]['protocol'] == '77' and routes[0]['dev'].startswith('cali'), routes
        ifname = routes[0]['dev']
        link = ip_json(host, 'addr', 'show', 'dev', ifname)[0]
        assert [a['local'] for a in link['addr_info'] if a['family'] == 'inet6'] == [GATEWAY6]
        want = dict(('net/ipv6/conf/%s/%s' % (ifname, name), value) for name, value in (
            ('proxy_ndp', '1'), ('forwarding', '1'), ('accept_dad', '0'), ('disable_ipv6', '0'), ('accept_ra', '0')))
        assert sysctls(host, sorted(want)) == want, ifname
    # The gateway is a real address: no proxy-NDP entries.
    assert ip_json(host, '-6', 'neigh', 'show', 'proxy') == []


def test_ipv6_routes_between_hosts(host):
    mine = me(host)
    routes = ip_json(host, '-6', 'route', 'show')
    by_dst = dict((r['dst'], r) for r in routes)
    assert by_dst[mine['block_v6']].get('type') == 'blackhole'
    for name, peer in mine['peers_v6'].items():
        route = by_dst[peer['block']]
        assert (route['gateway'], route['dev'], route['protocol']) == (peer['via'], peer['dev'], PEER_PROTO), name
        assert len([r for r in routes if r['dst'] == peer['block']]) == 1


def test_pods_reach_pods_on_other_hosts_over_ipv6(host):
    """Two hops across hosts: hop limit 62."""
    source = sorted(me(host)['pods_v6'])[0]
    for name in me(host)['peers_v6']:
        remote = HOSTS[name]['pods_v6']
        result = host.run('ip netns exec %s ping -6 -n -c 2 -i 0.2 -W 2 -w 5 %s' % (source, remote[sorted(remote)[0]]))
        assert result.rc == 0, result.stdout + result.stderr
        assert 'ttl=62' in result.stdout or 'hlim=62' in result.stdout, result.stdout
