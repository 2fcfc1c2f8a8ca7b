"""IPv6-only hosts end to end on the netns provider (issue 13), as a user runs it (root; real namespaces).

inventories/ipv6-only under names of its own: BGP mode, verify (the IPv6 matrix alone, "no IPv4 in this
lab"), a rerun that changes nothing, VXLAN mode (vxlan-v6.calico alone), BGP with BIRD (IPv6 sessions
only, router id from the node name as CALICO_ROUTER_ID=hash gives it), teardown. After each step nothing
IPv4 of the lab's making exists: no IPv4 address, route or 169.254.1.1 in hosts and pods, no proxy ARP
or IPv4 forwarding, no tunl0 or vxlan.calico. Expected values are written here from the inventory and
Calico's source, not computed by the plan code.
"""

import hashlib
import os
import re

import pytest

from labtest import ROOT, assert_play, ip_json, run
from test_dual_stack import EXPECTED, mode_step, pod_state, proc_sys, routes6, run_playbook, two_host_lab, vtep_mac6

INVENTORY = os.path.join(ROOT, 'inventories', 'ipv6-only', 'hosts.yml')
# inventories/ipv6-only has the dual-stack inventory's IPv6 addresses, blocks and pods: its EXPECTED holds.

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def hash_router_id(name):
    """confd's HashToIPv4 (confd/pkg/resource/template/util.go): sha256, 4 bytes, first byte > 223 less 32."""
    digest = bytearray(hashlib.sha256(name.encode()).digest()[:4])
    digest[0] = digest[0] - 32 if digest[0] > 223 else digest[0]
    return '.'.join(map(str, digest))


def no_ipv4(lab, netns, host_end=False):
    """Nothing IPv4 in NETNS but the loopback the kernel gives lo: no address, no route of any table but
    the kernel's local ones for 127.0.0.0/8, no tunl0 up or addressed, IPv4 forwarding and proxy ARP off."""
    addresses = [(link['ifname'], a['local']) for link in ip_json('-n', netns, '-4', 'addr', 'show')
                 for a in link['addr_info']]
    assert addresses in ([], [('lo', '127.0.0.1')]), (netns, addresses)
    routes = [r for r in ip_json('-n', netns, '-4', 'route', 'show', 'table', 'all')
              if not (r.get('table') == 'local' and r.get('dev') == 'lo')]
    assert routes == [], (netns, routes)
    assert ip_json('-n', netns, '-4', 'neigh', 'show') == [], netns
    links = dict((l['ifname'], l) for l in ip_json('-n', netns, 'link', 'show'))
    assert 'vxlan.calico' not in links, netns
    assert 'UP' not in links.get('tunl0', {}).get('flags', []), netns
    assert proc_sys(netns, 'net/ipv4/ip_forward') == '0', netns
    for name in links if host_end else []:
        if name.startswith('cali'):
            assert proc_sys(netns, 'net/ipv4/conf/%s/proxy_arp' % name) == '0', name


def assert_v6_only(lab, mode, routing='static'):
    for host, want in EXPECTED.items():
        hostns = lab.names[host]
        peer = EXPECTED['host-b' if host == 'host-a' else 'host-a']
        no_ipv4(lab, hostns, host_end=True)
        assert proc_sys(hostns, 'net/ipv6/conf/all/forwarding') == '1'
        for pod, address in want['pods6'].items():
            pod_state(lab, host, pod, address)   # /128 nodad, default via GATEWAY6, the host end's v6 sysctls
            no_ipv4(lab, lab.names[pod])
        by_dst = dict((r['dst'], r) for r in routes6(hostns))
        assert by_dst[want['block6']]['protocol'] == ('bird' if routing == 'bird' else '78')
        route = by_dst[peer['block6']]
        links = dict((l['ifname'], l) for l in ip_json('-n', hostns, '-d', 'link', 'show'))
        if mode == 'vxlan':
            assert (route['gateway'], route['dev']) == (peer['tunnel6'], 'vxlan-v6.calico')
            assert links['vxlan-v6.calico']['address'] == vtep_mac6(hostns)
        else:
            assert (route['gateway'], route['dev'], route['protocol']) == (
                peer['node6'], 'eth0', 'bird' if routing == 'bird' else '78')
            assert 'vxlan-v6.calico' not in links


def test_ipv6_only_bgp_vxlan_bird_rerun_and_teardown(tmp_path):
    with two_host_lab(INVENTORY, tmp_path) as (lab, inventory, hosts):
        # IPIP is refused before anything is made, naming the host, the field and its value.
        output = assert_play(run_playbook('ipip.yml', inventory), hosts, expect_failure=True)
        assert '%s: calico_node_address_v6: fd00:91::201/64 without calico_node_address: IPIP mode carries IPv4 ' \
               'only' % hosts[0] in output, output[-3000:]
        assert lab.namespaces() == []
        output = mode_step(lab, inventory, hosts, 'bgp', assert_v6_only,
                           ping=('netns01', EXPECTED['host-b']['pods6']['netns04']), rerun=True)
        assert 'over IPv6' in output and 'no IPv4 in this lab' in output and 'probed over IPv4' not in output
        # verify's drawing of the lab shows the hosts with their IPv6 values (lab_pictures).
        assert '| block fd00:10:244::40/122 ' in output and 'underlay fd00:91::/64' in output, output[-3000:]
        output = mode_step(lab, inventory, hosts, 'vxlan', assert_v6_only)
        assert 'between hosts: vxlan-v6.calico (VXLAN, VNI 4096)' in output, output[-3000:]
        output = mode_step(lab, inventory, hosts, 'bgp', assert_v6_only, routing='bird')
        assert '1/1 BGP sessions Established (IPv6 1/1)' in output, output[-3000:]
        for host in hosts:
            # No IPv4 channel, table or session; the router id is the node name's hash, as BIRD runs it.
            run_dir = '/run/labnet-calico-bird-%s' % host
            config = open(os.path.join(run_dir, 'bird.conf')).read()
            assert 'router id %s;' % hash_router_id(host) in config and not re.search(r'\bipv4\b', config)
            status = run(['ip', 'netns', 'exec', host, 'birdc', '-s', os.path.join(run_dir, 'bird.ctl'),
                          'show', 'status'], timeout=10, check=True).stdout
            assert 'Router ID is %s' % hash_router_id(host) in status, status
