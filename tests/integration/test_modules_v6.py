"""The datapath modules' IPv6 half, for real in throw-away namespaces: create, rerun unchanged, drift
repaired, check mode, absent. The fixture and the ad hoc runner are test_modules.py's; nothing here
touches the root namespace."""

import os

import pytest

from labtest import ip, ip_json, netns_list, run
from test_modules import lab, module, pods  # noqa: F401  # pylint: disable=unused-import  # lab is the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def v6(lab):
    """The host namespace's IPv6 underlay: fd00:77:91::1/64 on eth0, no DAD (it is up at once)."""
    ip('-n', lab['host'], 'addr', 'add', 'fd00:77:91::1/64', 'dev', 'eth0', 'nodad')


def lab_routes(netns):
    """Both families' routes of the lab's protocol 77 in a namespace, as ip prints them."""
    return ip('-n', netns, '-4', 'route', 'show', 'proto', '77') + ip('-n', netns, '-6', 'route', 'show', 'proto', '77')


def test_route_both_families_replace_purge_drift_checkmode_absent(lab):
    host = lab['host']
    v6(lab)
    pod = pods(lab, 'r1')
    ip('netns', 'add', pod)
    ip('-n', pod, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x0')
    for dev in ('eth0', 'x0'):
        ip('-n', pod, 'link', 'set', dev, 'up')
    ip('-n', host, '-6', 'route', 'add', 'fd00:99::/64', 'via', 'fd00:77:91::9', 'proto', 'static')  # not ours
    routes = {'purge': True, 'routes': [
        {'dest': 'fd00:77:245::/122', 'via': 'fd00:77:91::2', 'dev': 'eth0'},
        {'dest': 'fd00:77:244::/122', 'type': 'blackhole'},
        {'dest': 'fd00:77:244::2/128', 'dev': 'eth1', 'scope': 'link'},
        {'dest': 'fd00:77:246::/122', 'via': 'fd00:77:91::3', 'dev': 'eth0', 'onlink': True, 'mtu': 1430},
        {'dest': '10.77.0.0/24', 'type': 'blackhole'},
        {'dest': '::/0', 'via': 'fe80::ecee:eeff:feee:eeee', 'dev': 'eth0', 'netns': pod}]}
    before = (lab_routes(host), lab_routes(pod))
    assert module(lab, 'calico_route', routes, check=True)['changed']
    assert (lab_routes(host), lab_routes(pod)) == before == ('', '')
    result = module(lab, 'calico_route', routes)
    assert result['changed']
    assert not module(lab, 'calico_route', routes)['changed']            # IPv6's metric 1024 compares equal
    table = ip('-n', host, '-6', 'route')
    assert 'fd00:77:245::/122 via fd00:77:91::2 dev eth0 proto 77 metric 1024' in table
    assert 'blackhole fd00:77:244::/122 dev lo proto 77 metric 1024' in table
    assert 'fd00:77:244::2 dev eth1 proto 77 metric 1024' in table
    assert 'fd00:77:246::/122 via fd00:77:91::3 dev eth0 proto 77 metric 1024 onlink mtu 1430' in table
    assert 'blackhole 10.77.0.0/24 proto 77' in ip('-n', host, 'route')
    assert 'default via fe80::ecee:eeff:feee:eeee dev eth0 proto 77 metric 1024' in ip('-n', pod, '-6', 'route')
    # Drift: another gateway, a stale IPv6 route of ours, the pod's default gone.
    ip('-n', host, '-6', 'route', 'replace', 'fd00:77:245::/122', 'via', 'fd00:77:91::7', 'dev', 'eth0', 'proto', '77')
    ip('-n', host, '-6', 'route', 'add', 'fd00:77:250::/122', 'dev', 'eth0', 'proto', '77')
    ip('-n', pod, '-6', 'route', 'del', 'default')
    result = module(lab, 'calico_route', routes)
    assert result['changed'] and result['purged'] == ['fd00:77:250::/122 dev eth0 proto 77 metric 1024']
    assert not module(lab, 'calico_route', routes)['changed']
    table = ip('-n', host, '-6', 'route')
    assert 'fd00:77:245::/122 via fd00:77:91::2 ' in table and 'fd00:77:250' not in table
    assert table.count('fd00:77:245::/122') == 1
    assert 'default via fe80::ecee:eeff:feee:eeee' in ip('-n', pod, '-6', 'route')
    # absent by destination, then purge of everything ours: both families go, the foreign route stays.
    gone = module(lab, 'calico_route', {'dest': 'fd00:77:246::/122', 'state': 'absent'})
    assert gone['changed'] and 'fd00:77:246' not in ip('-n', host, '-6', 'route')
    assert module(lab, 'calico_route', {'routes': [], 'purge': True, 'purge_netns': [None, pod]})['changed']
    assert (lab_routes(host), lab_routes(pod)) == ('', '')
    assert 'fd00:99::/64 via fd00:77:91::9 dev eth0 proto static' in ip('-n', host, '-6', 'route')


def pod_v6(pod):
    """The pod's global IPv6 addresses on eth0 ('addr/prefix', nodad or not) and its IPv6 sysctls."""
    link = ip_json('-n', pod, 'addr', 'show', 'dev', 'eth0')[0]
    addresses = sorted('%s/%s%s' % (a['local'], a['prefixlen'], ' nodad' if a.get('nodad') else '')
                       for a in link['addr_info'] if a['family'] == 'inet6' and a['scope'] == 'global')
    values = dict((key, ip('netns', 'exec', pod, 'cat', '/proc/sys/net/ipv6/conf/' + key).strip())
                  for key in ('all/disable_ipv6', 'default/disable_ipv6', 'lo/disable_ipv6', 'eth0/accept_dad',
                              'all/forwarding'))
    return addresses, values


def test_veth_and_proxy_arp_ipv6_create_rerun_drift_checkmode_absent(lab):
    host = lab['host']
    pod = pods(lab, 'v1')
    args = {'workload': pod, 'address': '10.77.0.2', 'address6': 'fd00:77:244::2'}
    assert module(lab, 'calico_veth', args, check=True)['changed'] and pod not in netns_list()
    result = module(lab, 'calico_veth', args)
    assert result['changed'] and result['workloads'][0]['address6'] == 'fd00:77:244::2/128'
    cali = result['workloads'][0]['host_ifname']
    assert not module(lab, 'calico_veth', args)['changed']                 # the link-local address is no drift
    assert pod_v6(pod) == (['fd00:77:244::2/128 nodad'], {
        'all/disable_ipv6': '0', 'default/disable_ipv6': '0', 'lo/disable_ipv6': '0', 'eth0/accept_dad': '0',
        'all/forwarding': '0'})
    assert '10.77.0.2/32' in ip('-n', pod, '-4', 'addr', 'show', 'eth0')
    # The host end's link-local address is the pod's gateway: from ee:ee:ee:ee:ee:ee.
    assert 'fe80::ecee:eeff:feee:eeee/64' in ip('-n', host, '-6', 'addr', 'show', cali)
    # Drift: a second IPv6 address, DAD back on, forwarding on.
    ip('-n', pod, 'addr', 'add', 'fd00:77:244::9/128', 'dev', 'eth0', 'nodad')
    ip('netns', 'exec', pod, 'sysctl', '-q', '-w', 'net.ipv6.conf.eth0.accept_dad=1', 'net.ipv6.conf.all.forwarding=1')
    assert module(lab, 'calico_veth', args)['changed']
    assert pod_v6(pod)[0] == ['fd00:77:244::2/128 nodad'] and pod_v6(pod)[1]['eth0/accept_dad'] == '0'
    assert pod_v6(pod)[1]['all/forwarding'] == '0'
    assert not module(lab, 'calico_veth', args)['changed']
    # The host end's IPv6 sysctls (proxy_arp ipv6) and the host's IPv6 forwarding.
    sysctls = {'interfaces': [cali], 'ipv6': True, 'ip6_forward': True}
    assert module(lab, 'proxy_arp', sysctls, check=True)['changed']
    assert host_sysctl(host, 'conf/%s/proxy_ndp' % cali) == '0'
    assert module(lab, 'proxy_arp', sysctls)['changed'] and not module(lab, 'proxy_arp', sysctls)['changed']
    keys = ('disable_ipv6', 'accept_dad', 'proxy_ndp', 'forwarding', 'accept_ra')
    assert [host_sysctl(host, 'conf/%s/%s' % (cali, key)) for key in keys] == ['0', '0', '1', '1', '0']
    assert host_sysctl(host, 'conf/all/forwarding') == '1'
    ip('netns', 'exec', host, 'sysctl', '-q', '-w', 'net.ipv6.conf.%s.proxy_ndp=0' % cali)
    assert module(lab, 'proxy_arp', sysctls)['changed'] and host_sysctl(host, 'conf/%s/proxy_ndp' % cali) == '1'
    # No NDP entries of ours: the gateway is real, not proxied.
    assert ip('-n', host, '-6', 'neigh', 'show', 'proxy') == ''
    # An IPv4-only rerun leaves the IPv6 address alone (unmanaged), absent removes everything.
    assert not module(lab, 'calico_veth', {'workload': pod, 'address': '10.77.0.2'})['changed']
    assert module(lab, 'calico_veth', dict(args, state='absent', delete_netns=True))['changed']
    assert cali not in ip('-n', host, 'link') and pod not in netns_list()


def host_sysctl(host, key):
    return ip('netns', 'exec', host, 'cat', '/proc/sys/net/ipv6/' + key).strip()


def test_vxlan_v6_tunnel_and_neighbours_create_rerun_drift_checkmode_absent(lab):
    host = lab['host']
    v6(lab)
    vxlan = {'mode': 'vxlan', 'parent': 'eth0', 'local': '172.31.250.1', 'address': '10.77.0.0', 'mtu_from': 'eth0',
             'local6': 'fd00:77:91::1', 'address6': 'fd00:77:244::', 'mac6': '66:00:00:00:06:01'}
    assert module(lab, 'calico_tunnel', vxlan, check=True)['changed']
    assert 'vxlan' not in ip('-n', host, 'link')
    result = module(lab, 'calico_tunnel', vxlan)
    assert result['changed'] and result['tunnel']['name'] == 'vxlan.calico'
    assert result['tunnel6']['name'] == 'vxlan-v6.calico' and result['tunnel6']['mtu'] == 1430
    assert not module(lab, 'calico_tunnel', vxlan)['changed']
    link = ip_json('-n', host, '-d', 'addr', 'show', 'vxlan-v6.calico')[0]
    info = link['linkinfo']['info_data']
    assert (link['mtu'], link['address'], info['id'], info['port'], info['local6'], info['link'], info['learning']) == \
        (1430, '66:00:00:00:06:01', 4096, 4789, 'fd00:77:91::1', 'eth0', False)
    assert [(a['local'], a['prefixlen']) for a in link['addr_info'] if a['scope'] == 'global'] == [('fd00:77:244::', 128)]
    assert ip_json('-n', host, 'link', 'show', 'vxlan.calico')[0]['mtu'] == 1450
    # Neighbour and FDB entries of a v6 peer, beside a v4 one.
    neigh = {'purge': True,
             'neighbours': [{'address': 'fd00:77:245::', 'lladdr': '66:00:00:00:06:02', 'dev': 'vxlan-v6.calico'},
                            {'address': '10.77.1.0', 'lladdr': '66:00:00:00:04:02', 'dev': 'vxlan.calico'}],
             'fdb': [{'lladdr': '66:00:00:00:06:02', 'dev': 'vxlan-v6.calico', 'dst': 'fd00:77:91::2'},
                     {'lladdr': '66:00:00:00:04:02', 'dev': 'vxlan.calico', 'dst': '172.31.250.2'}]}
    assert module(lab, 'calico_neigh', neigh, check=True)['changed']
    assert ip('-n', host, 'neigh', 'show', 'dev', 'vxlan-v6.calico') == ''
    assert module(lab, 'calico_neigh', neigh)['changed'] and not module(lab, 'calico_neigh', neigh)['changed']
    assert 'fd00:77:245:: lladdr 66:00:00:00:06:02 PERMANENT' in ip('-n', host, 'neigh', 'show', 'dev', 'vxlan-v6.calico')
    fdb = run(['bridge', '-n', host, 'fdb', 'show', 'dev', 'vxlan-v6.calico'], timeout=30).stdout
    assert '66:00:00:00:06:02 dst fd00:77:91::2 self permanent' in fdb
    # Drift: a wrong MAC and a stale v6 entry; the device's source address changed (recreated).
    ip('-n', host, 'neigh', 'replace', 'fd00:77:245::', 'lladdr', '66:00:00:00:06:09', 'dev', 'vxlan-v6.calico', 'nud', 'permanent')
    ip('-n', host, 'neigh', 'replace', 'fd00:77:250::', 'lladdr', '66:00:00:00:06:0a', 'dev', 'vxlan-v6.calico', 'nud', 'permanent')
    assert module(lab, 'calico_neigh', neigh)['changed']
    table = ip('-n', host, 'neigh', 'show', 'dev', 'vxlan-v6.calico')
    assert 'fd00:77:245:: lladdr 66:00:00:00:06:02' in table and 'fd00:77:250' not in table
    assert module(lab, 'calico_tunnel', dict(vxlan, local6='fd00:77:91::5'))['changed']
    assert ip_json('-n', host, '-d', 'link', 'show', 'vxlan-v6.calico')[0]['linkinfo']['info_data']['local6'] == 'fd00:77:91::5'
    # VXLAN without local6 keeps vxlan.calico and removes the lab's vxlan-v6.calico; mode all removes both.
    assert module(lab, 'calico_tunnel', vxlan)['changed']
    v4_only = dict((k, v) for k, v in vxlan.items() if k not in ('local6', 'address6', 'mac6'))
    assert module(lab, 'calico_tunnel', v4_only)['changed']
    links = ip('-n', host, 'link')
    assert 'vxlan-v6.calico' not in links and 'vxlan.calico' in links
    assert module(lab, 'calico_tunnel', vxlan)['changed']
    removed = module(lab, 'calico_tunnel', {'mode': 'all', 'state': 'absent'})
    assert [t['name'] for t in removed['tunnels']] == ['tunl0', 'vxlan.calico', 'vxlan-v6.calico']
    assert 'vxlan' not in ip('-n', host, 'link')
    assert not module(lab, 'calico_tunnel', {'mode': 'all', 'state': 'absent'})['changed']
