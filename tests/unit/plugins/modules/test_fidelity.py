"""Planning of what Felix and the CNI plugin program beyond the veth pair, without root."""
import pytest

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError
from ansible_collections.labnet.calico.plugins.module_utils.tunnel_mtu import ENCAPSULATION_OVERHEAD, mtu_from_underlay
from ansible_collections.labnet.calico.plugins.module_utils import interface_sysctls, workload
from ansible_collections.labnet.calico.plugins.modules import proxy_arp


class FakeModule:
    check_mode = False


class FakeIPRoute:
    """Links by (netns, name) and the host's permanent neighbours, as IPRoute returns them."""

    def __init__(self, links=None, neighbours=None, check_mode=False):
        self.module = FakeModule()
        self.module.check_mode = check_mode
        self._links = links or {}
        self._neighbours = neighbours or []
        self.done = []

    def link(self, name, netns=None):
        return self._links.get((netns, name))

    def query(self, args, netns=None, tool='ip'):
        assert args == ['neigh', 'show', 'nud', 'permanent']
        return self._neighbours


class FakePlanner:
    def __init__(self, pod_links):
        self._pod_links = pod_links

    def pod_links(self, netns):
        return self._pod_links.get(netns, {})


def test_overheads_are_felixs():
    # felix/dataplane/linux/int_dataplane.go: ipipMTUOverhead = 20, vxlanMTUOverhead = 50; none for BGP.
    assert ENCAPSULATION_OVERHEAD == {'none': 0, 'ipip': 20, 'vxlan': 50, 'vxlan6': 70}


@pytest.mark.parametrize('encapsulation, underlay, wanted', [
    ('none', 1500, 1500), ('ipip', 1500, 1480), ('vxlan', 1500, 1450),
    ('none', 1400, 1400), ('ipip', 1400, 1380), ('vxlan', 1400, 1350),
])
def test_mtu_from_underlay(encapsulation, underlay, wanted):
    iproute = FakeIPRoute(links={(None, 'eth0'): {'mtu': underlay}})
    assert mtu_from_underlay(iproute, 'eth0', encapsulation, 'mtu_from') == wanted


def test_mtu_from_underlay_refuses():
    iproute = FakeIPRoute(links={(None, 'eth0'): {'mtu': 100}})
    with pytest.raises(LabError, match=r'^mtu_from: no device eth9 on this host$'):
        mtu_from_underlay(iproute, 'eth9', 'vxlan', 'mtu_from')
    with pytest.raises(LabError, match=r'^mtu_from: MTU 50 is outside 68-65535$'):
        mtu_from_underlay(iproute, 'eth0', 'vxlan', 'mtu_from')
    with pytest.raises(LabError, match=r"^mtu_from: unknown encapsulation 'gre'"):
        mtu_from_underlay(iproute, 'eth0', 'gre', 'mtu_from')


def spec(**overrides):
    item = {'workload': 'p1', 'netns': 'p1', 'host_ifname': 'cali1', 'pod_ifname': 'eth0', 'state': 'present',
            'static_arp': True, 'address': '10.0.0.2/32', 'pod_ip_forward': '0'}
    item.update(overrides)
    return item


def test_static_arp_added_replaced_and_stale_removed():
    pod = {'p1': {'eth0': {'mac': '5a:00:00:00:00:01'}}}
    neighbours = [{'dst': '10.0.0.2', 'dev': 'cali1', 'lladdr': '02:00:00:00:00:09', 'state': ['PERMANENT']},
                  {'dst': '10.0.0.7', 'dev': 'cali1', 'lladdr': '02:00:00:00:00:07', 'state': ['PERMANENT']},
                  {'dst': '10.0.0.8', 'dev': 'eth0', 'lladdr': '02:00:00:00:00:08', 'state': ['PERMANENT']}]
    changes, before, after = workload.static_arp_changes(
        FakeIPRoute(neighbours=neighbours), FakePlanner(pod), [spec()], set())
    assert [c.args for c in changes] == [
        ['neigh', 'del', '10.0.0.7', 'dev', 'cali1'],
        ['neigh', 'replace', '10.0.0.2', 'lladdr', '5a:00:00:00:00:01', 'dev', 'cali1', 'nud', 'permanent']]
    assert after == ['p1: neigh 10.0.0.2 lladdr 5a:00:00:00:00:01 dev cali1 permanent']
    assert len(before) == 2      # the other device's entry is not ours to judge


def test_static_arp_in_place_is_unchanged_and_opt_out_is_left_alone():
    pod = {'p1': {'eth0': {'mac': '5a:00:00:00:00:01'}}}
    neighbours = [{'dst': '10.0.0.2', 'dev': 'cali1', 'lladdr': '5A:00:00:00:00:01', 'state': ['PERMANENT']}]
    iproute = FakeIPRoute(neighbours=neighbours)
    assert workload.static_arp_changes(iproute, FakePlanner(pod), [spec()], set())[0] == []
    assert workload.static_arp_changes(iproute, FakePlanner(pod), [spec(static_arp=False)], set()) == ([], [], [])
    assert workload.static_arp_changes(iproute, FakePlanner(pod), [spec(address=None)], set()) == ([], [], [])


def test_static_arp_of_a_new_pair_reads_the_mac_after_creation_and_not_in_check_mode():
    links = {('p1', 'eth0'): {'mac': '5a:00:00:00:00:02'}}
    changes = workload.static_arp_changes(FakeIPRoute(links=links), FakePlanner({}), [spec()], set(['p1']))[0]
    assert changes[0].args[4] == '5a:00:00:00:00:02'
    check = FakeIPRoute(links=links, check_mode=True)
    changes = workload.static_arp_changes(check, FakePlanner({}), [spec()], set(['p1']))[0]
    assert changes[0].args[4] == workload.UNKNOWN_MAC


def test_pod_ip_forward_values():
    assert workload.pod_ip_forward_value(False, 'f') == '0'
    assert workload.pod_ip_forward_value('yes', 'f') == '1'
    assert workload.pod_ip_forward_value(None, 'f') is None
    with pytest.raises(LabError, match=r"^workloads\[0\]\.pod_ip_forward: 'maybe' is not a boolean$"):
        workload.pod_ip_forward_value('maybe', 'workloads[0].pod_ip_forward')


def proxy_params(**overrides):
    params = dict(interfaces=['cali1'], proxy_arp=True, proxy_delay=0, forwarding=True, route_localnet=True,
                  rp_filter='default', accept_ra=0, netns=None, ip_forward=None, ipv6=False,
                  ip6_forward=None)
    params.update(overrides)
    return params


def test_proxy_arp_wants_felixs_values():
    wanted = proxy_arp.wanted_values(proxy_params())[None]
    assert wanted == {'net/ipv4/conf/cali1/proxy_arp': '1', 'net/ipv4/neigh/cali1/proxy_delay': '0',
                      'net/ipv4/conf/cali1/forwarding': '1', 'net/ipv4/conf/cali1/route_localnet': '1',
                      'net/ipv4/conf/cali1/rp_filter': 'default', 'net/ipv6/conf/cali1/accept_ra': '0'}


def test_proxy_arp_rp_filter_copies_the_default_and_accept_ra_needs_ipv6():
    wanted = {'net/ipv4/conf/cali1/rp_filter': 'default', 'net/ipv6/conf/cali1/accept_ra': '0'}
    with_v6 = {interface_sysctls.RP_FILTER_DEFAULT: '2', interface_sysctls.IPV6_PRESENT: '1'}
    without_v6 = {interface_sysctls.RP_FILTER_DEFAULT: '0', interface_sysctls.IPV6_PRESENT: None}
    assert interface_sysctls.resolve(wanted, with_v6) == {'net/ipv4/conf/cali1/rp_filter': '2',
                                                          'net/ipv6/conf/cali1/accept_ra': '0'}
    assert interface_sysctls.resolve(wanted, without_v6) == {'net/ipv4/conf/cali1/rp_filter': '0'}


def test_proxy_arp_ipv6_adds_the_host_ends_ipv6_values_and_needs_ipv6():
    wanted = proxy_arp.wanted_values(proxy_params(interfaces=['cali1', {'name': 'cali2', 'ipv6': False}],
                                                  ipv6=True, ip6_forward=True))[None]
    assert dict((k, v) for k, v in wanted.items() if k.startswith('net/ipv6/')) == {
        'net/ipv6/conf/cali1/accept_ra': '0', 'net/ipv6/conf/cali2/accept_ra': '0',
        'net/ipv6/conf/cali1/disable_ipv6': '0', 'net/ipv6/conf/cali1/accept_dad': '0',
        'net/ipv6/conf/cali1/proxy_ndp': '1', 'net/ipv6/conf/cali1/forwarding': '1',
        'net/ipv6/conf/all/forwarding': '1'}
    with pytest.raises(LabError, match='^ip6_forward: the kernel of namespace p1 has no IPv6'):
        interface_sysctls.resolve({'net/ipv6/conf/all/forwarding': '1'}, {interface_sysctls.IPV6_PRESENT: None}, 'p1')


@pytest.mark.parametrize('overrides, message', [
    ({'rp_filter': 'loose'}, "interfaces[0].rp_filter: 'loose' is not 0, 1, 2 or default"),
    ({'accept_ra': 3}, "interfaces[0].accept_ra: 3 is not 0, 1 or 2"),
])
def test_proxy_arp_refuses_bad_values(overrides, message):
    with pytest.raises(LabError) as error:
        proxy_arp.wanted_values(proxy_params(**overrides))
    assert str(error.value) == message


def test_pod_sysctls_of_an_ipv6_pod_are_the_cni_plugins():
    spec = {'pod_ip_forward': '0', 'pod_ifname': 'eth0', 'address': '10.10.0.2/32', 'address6': None}
    assert workload.pod_sysctl_values(spec) == {'net/ipv4/ip_forward': '0'}   # IPv4 only: as before
    assert workload.pod_sysctl_values(dict(spec, address6='fd00:10:244::2/128')) == {
        'net/ipv4/ip_forward': '0', 'net/ipv6/conf/all/forwarding': '0',
        'net/ipv6/conf/all/disable_ipv6': '0', 'net/ipv6/conf/default/disable_ipv6': '0',
        'net/ipv6/conf/lo/disable_ipv6': '0', 'net/ipv6/conf/eth0/accept_dad': '0'}
    assert 'net/ipv6/conf/all/forwarding' not in workload.pod_sysctl_values(
        dict(spec, pod_ip_forward=None, address6='fd00:10:244::2/128'))
    # A pod of an IPv6-only lab: the IPv6 half alone (configureContainerSysctls writes ip_forward if hasIPv4).
    assert workload.pod_sysctl_values(dict(spec, address=None, address6='fd00:10:244::2/128')) == {
        'net/ipv6/conf/all/forwarding': '0',
        'net/ipv6/conf/all/disable_ipv6': '0', 'net/ipv6/conf/default/disable_ipv6': '0',
        'net/ipv6/conf/lo/disable_ipv6': '0', 'net/ipv6/conf/eth0/accept_dad': '0'}
