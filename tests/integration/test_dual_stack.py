"""Dual stack end to end on the netns provider (issue 13), as a user runs it (root; real namespaces).

One lab, inventories/dual-stack under names of its own (labtest.Lab), through BGP, VXLAN and BGP with
BIRD: every pod reaches every pod over IPv4 and IPv6 (verify's matrices, and a ping of our own), the
IPv6 state is Calico's (checked against values written here from the inventory and from Calico's
source, not computed by the plan code), a rerun changes nothing (BGP; calico_tunnel's own tests rerun
vxlan-v6.calico), each mode switch converges (the other
mode's IPv6 routes and devices gone), teardown leaves nothing of either family.
"""

import contextlib
import hashlib
import os
import re

import pytest

from labtest import BIN, LAB_PROTOS, ROOT, Lab, ansible_env, assert_play, ip, ip_json, run

PLAYBOOK = os.path.join(BIN, 'ansible-playbook')
INVENTORY = os.path.join(ROOT, 'inventories', 'dual-stack', 'hosts.yml')
GATEWAY6 = 'fe80::ecee:eeff:feee:eeee'   # the link-local address of ee:ee:ee:ee:ee:ee (EUI-64)
# By hand from inventories/dual-stack: /122 blocks of fd00:10:244::/48 in inventory order, the block's
# first address the tunnel's, pods the next free ones (netns04 gives its own).
EXPECTED = {
    'host-a': {'node6': 'fd00:91::201', 'block6': 'fd00:10:244::/122', 'tunnel6': 'fd00:10:244::',
               'pods6': {'netns01': 'fd00:10:244::1', 'netns02': 'fd00:10:244::2'}},
    'host-b': {'node6': 'fd00:91::202', 'block6': 'fd00:10:244::40/122', 'tunnel6': 'fd00:10:244::40',
               'pods6': {'netns03': 'fd00:10:244::41', 'netns04': 'fd00:10:244::4a'}},
}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def run_playbook(name, inventory, *extra):
    return run([PLAYBOOK, os.path.join(ROOT, 'playbooks', name), '-i', inventory] + list(extra),
               cwd=ROOT, env=ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT='json'), timeout=600)


def proc_sys(netns, path):
    return run(['ip', 'netns', 'exec', netns, 'cat', '/proc/sys/' + path], timeout=10, check=True).stdout.strip()


def routes6(netns):
    return ip_json('-n', netns, '-6', 'route', 'show')


def vtep_mac6(host):
    """Felix's IPv6 VTEP MAC: 0x66 and 5 bytes of sha1('<node>-v6') (felix/calc/vxlan_resolver.go)."""
    digest = hashlib.sha1((host + '-v6').encode()).hexdigest()
    return ':'.join(['66'] + [digest[i:i + 2] for i in range(0, 10, 2)])


def pod_state(lab, host, pod, address):
    """The CNI plugin's IPv6 pod (cni-plugin/pkg/dataplane/linux/dataplane_linux.go)."""
    netns, ifname = lab.names[pod], None
    eth0 = ip_json('-n', netns, 'addr', 'show', 'dev', 'eth0')[0]
    globals6 = [a for a in eth0['addr_info'] if a['family'] == 'inet6' and a.get('scope') == 'global']
    assert [(a['local'], a['prefixlen'], bool(a.get('nodad'))) for a in globals6] == [(address, 128, True)], eth0
    default = [r for r in routes6(netns) if r['dst'] == 'default']
    assert [(r.get('gateway'), r['dev']) for r in default] == [(GATEWAY6, 'eth0')], default
    for path, value in (('all/disable_ipv6', '0'), ('default/disable_ipv6', '0'), ('lo/disable_ipv6', '0'),
                        ('eth0/accept_dad', '0'), ('all/forwarding', '0')):
        assert proc_sys(netns, 'net/ipv6/conf/' + path) == value, (pod, path)
    # The host end: /128 scope link to the pod, Felix's IPv6 sysctls, its link-local the pod's gateway.
    hostns = lab.names[host]
    found = [r for r in routes6(hostns) if r['dst'] == address]
    assert len(found) == 1 and found[0]['protocol'] == '77', found
    ifname = found[0]['dev']
    assert ifname.startswith('cali')
    link = ip_json('-n', hostns, 'addr', 'show', 'dev', ifname)[0]
    assert [a['local'] for a in link['addr_info'] if a['family'] == 'inet6'] == [GATEWAY6], link
    for path, value in (('proxy_ndp', '1'), ('forwarding', '1'), ('accept_dad', '0'), ('disable_ipv6', '0'),
                        ('accept_ra', '0')):
        assert proc_sys(hostns, 'net/ipv6/conf/%s/%s' % (ifname, path)) == value, (ifname, path)
    # No proxy-NDP and no static NDP entry: the gateway is the host end's real link-local address.
    assert ip_json('-n', hostns, '-6', 'neigh', 'show', 'proxy') == []
    assert ip_json('-n', netns, '-6', 'neigh', 'show', 'nud', 'permanent') == []


def assert_v6(lab, mode, routing='static'):
    """Every host and pod as Calico programs IPv6 in MODE; the other mode's IPv6 objects gone."""
    for host, want in EXPECTED.items():
        hostns = lab.names[host]
        peer = EXPECTED['host-b' if host == 'host-a' else 'host-a']
        assert proc_sys(hostns, 'net/ipv6/conf/all/forwarding') == '1'
        eth0 = ip_json('-n', hostns, 'addr', 'show', 'dev', 'eth0')[0]
        assert [a['local'] + '/%d' % a['prefixlen'] for a in eth0['addr_info']
                if a['family'] == 'inet6' and a.get('scope') == 'global'] == [want['node6'] + '/64']
        for pod, address in want['pods6'].items():
            pod_state(lab, host, pod, address)
        by_dst = dict((r['dst'], r) for r in routes6(hostns))
        # With BIRD the blackhole is BIRD's (node/filesystem/etc/calico/confd/templates/bird6_aggr.cfg.template).
        blackhole = by_dst[want['block6']]
        assert (blackhole.get('type'), blackhole['protocol']) == ('blackhole', 'bird' if routing == 'bird' else '78')
        route = by_dst[peer['block6']]
        links = dict((l['ifname'], l) for l in ip_json('-n', hostns, '-d', 'link', 'show'))
        if mode == 'vxlan':
            assert (route['gateway'], route['dev'], route['protocol']) == (peer['tunnel6'], 'vxlan-v6.calico', '78')
            assert 'onlink' in route['flags']
            vxlan = links['vxlan-v6.calico']
            info = vxlan['linkinfo']['info_data']
            assert (info['id'], info['port'], vxlan['address']) == (4096, 4789, vtep_mac6(hostns))
            # Felix's vxlanV6MTUOverhead (felix/dataplane/linux/int_dataplane.go): 70.
            assert vxlan['mtu'] == links['eth0']['mtu'] - 70
            vaddr = ip_json('-n', hostns, 'addr', 'show', 'dev', 'vxlan-v6.calico')[0]['addr_info']
            assert [(a['local'], a['prefixlen']) for a in vaddr if a.get('scope') == 'global'] == [(want['tunnel6'], 128)]
            neighbours = ip_json('-n', hostns, '-6', 'neigh', 'show', 'dev', 'vxlan-v6.calico')
            assert [(n['dst'], n['lladdr']) for n in neighbours] == [(peer['tunnel6'], vtep_mac6(lab.names[
                'host-b' if host == 'host-a' else 'host-a']))]
        else:
            proto = 'bird' if routing == 'bird' else '78'
            assert (route['gateway'], route['dev'], route['protocol']) == (peer['node6'], 'eth0', proto), route
            assert 'vxlan-v6.calico' not in links
        assert len([r for r in routes6(hostns) if r['dst'] == peer['block6']]) == 1


def ping6(lab, source, target):
    """Our own probe across hosts, inside the pod (bounded): two hops, hop limit 64 - 2."""
    result = run(['ip', 'netns', 'exec', lab.names[source], 'ping', '-6', '-n', '-c', '2', '-i', '0.2', '-W', '2',
                  '-w', '5', target], timeout=15)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r'(ttl|hlim)=62\b', result.stdout), result.stdout


def v6_objects(lab):
    """What of the lab is IPv6 in the root namespace: routes of the lab's protocols (there must be none)."""
    return sorted('%s %s' % (r['dst'], r.get('protocol')) for r in ip_json('-6', 'route', 'show', 'table', 'all')
                  if r.get('protocol') in LAB_PROTOS)


@contextlib.contextmanager
def two_host_lab(source, tmp_path):
    """SOURCE's lab (host-a, host-b) under names of its own: (lab, inventory, hosts); torn down after,
    and then nothing of it may be left, of either family."""
    lab = Lab()
    inventory = lab.inventory(source, tmp_path / 'hosts.yml')
    hosts = [lab.names['host-a'], lab.names['host-b']]
    before = lab.state(), v6_objects(lab)
    try:
        yield lab, inventory, hosts
    finally:
        output = run_playbook('teardown.yml', inventory)
        left = lab.remove_leftovers()
    assert_play(output, hosts)
    assert left == [], 'teardown left %s' % left
    assert (lab.state(), v6_objects(lab)) == before
    assert not [n for n in ip('netns', 'list').split() if n.startswith(lab.lab + '-')]


def mode_step(lab, inventory, hosts, mode, expected, routing='static', ping=None, rerun=False):
    """One step of a two-host lab's tests: MODE's playbook (BIRD when ROUTING is bird), verified ('4 pods reach
    each other'), EXPECTED(lab, MODE, routing=ROUTING) on the kernel's state, our own ping6 of PING (source
    pod, target address) when given, and with RERUN the same run again changing nothing. Returns the output."""
    extra = ['-e', 'calico_routing=bird'] if routing == 'bird' else []
    output = assert_play(run_playbook(mode + '.yml', inventory, *extra), hosts)
    assert '4 pods reach each other (%s mode)' % mode in output, output[-3000:]
    expected(lab, mode, routing=routing)
    if ping:
        ping6(lab, *ping)
    if rerun:
        assert_play(run_playbook(mode + '.yml', inventory, *extra), hosts, changed=0)
    return output


def test_dual_stack_bgp_vxlan_bird_rerun_and_teardown(tmp_path):
    with two_host_lab(INVENTORY, tmp_path) as (lab, inventory, hosts):
        output = mode_step(lab, inventory, hosts, 'bgp', assert_v6,
                           ping=('netns01', EXPECTED['host-b']['pods6']['netns04']), rerun=True)
        assert re.search(r'IPv6', output), output[-3000:]
        mode_step(lab, inventory, hosts, 'vxlan', assert_v6, ping=('netns03', EXPECTED['host-a']['pods6']['netns02']))
        # Back to BGP mode, with BIRD: IPv6 blocks learned proto bird, vxlan-v6.calico gone.
        mode_step(lab, inventory, hosts, 'bgp', assert_v6, routing='bird')
