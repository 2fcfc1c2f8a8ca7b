"""The roles' module arguments for dual stack (v6mod's part of issue 13), from the real plan."""
from ansible_collections.labnet.calico.plugins.filter import calico_lab

from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_dual_stack_plan import DUAL, plan


def test_host_end_interfaces_ask_ipv6_only_for_pods_with_ip6():
    a = plan()['host-a']
    names = [w['host_ifname'] for w in a['workloads']]
    assert calico_lab.host_end_interfaces(a) == [{'name': names[0], 'ipv6': True}, {'name': names[1], 'ipv6': True}]
    v4_hosts = dict((h, {'calico_node_address': hv['calico_node_address'], 'calico_pod_cidr': hv['calico_pod_cidr'],
                         'calico_workloads': [{'name': w['name']} for w in hv['calico_workloads']]})
                    for h, hv in DUAL.items())
    v4 = plan(v4_hosts, pool_v6=None)['host-a']
    assert calico_lab.host_end_interfaces(v4) == [w['host_ifname'] for w in v4['workloads']]  # as before
