"""Policy validation (the inventory check) and the verdict model."""
import pytest

from ansible_collections.labnet.calico.plugins.module_utils.calico_policy import (
    check_labels, check_policies, expected_matrix, normalize, probe_services, verdict,
)
from ansible_collections.labnet.calico.plugins.module_utils.inventory_check import check_inventory

WEB = {'name': 'web', 'ip': '10.244.0.2', 'labels': {'app': 'web'}}
CLIENT = {'name': 'client', 'ip': '10.244.0.3', 'labels': {'role': 'client'}}
OTHER = {'name': 'other', 'ip': '10.244.1.2', 'labels': {}}
DENY_WEB = {'name': 'web-deny', 'order': 100, 'selector': 'app == "web"', 'types': ['Ingress']}
ALLOW_80 = {'name': 'allow-clients', 'order': 10, 'selector': 'app == "web"',
            'ingress': [{'action': 'Allow', 'protocol': 'TCP', 'source': {'selector': 'role == "client"'},
                         'destination': {'ports': [80]}}]}


def problems_of(policies):
    return check_policies(policies)[1]


@pytest.mark.parametrize('policy, words', [
    ({'name': 'Bad_Name'}, ['calico_policies[0].name', 'Bad_Name']),
    ({'name': 'p', 'selector': 'app = "web"'}, ['calico_policies p.selector', 'does not parse']),
    ({'name': 'p', 'types': ['Inbound']}, ['calico_policies p.types']),
    ({'name': 'p', 'ingress': [{'action': 'Accept'}]}, ['calico_policies p.ingress[0].action', 'Accept']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'destination': {'ports': [80]}}]}, ['ports need protocol']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'protocol': 'TCP', 'destination': {'ports': [70000]}}]},
     ['destination.ports', '70000']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'protocol': 'TCP', 'destination': {'ports': list(range(16))}}]},
     ['more than 15 ports']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'source': {'nets': ['10.0.0.0/33']}}]}, ['source.nets', '10.0.0.0/33']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'protocol': 'ICMPv6', 'ipVersion': 4}]},
     ['p.ingress[0].ipVersion', 'ICMPv6 needs ipVersion 6']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'protocol': 'ICMP', 'ipVersion': 6}]}, ['ICMP needs ipVersion 4']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'ipVersion': 5}]}, ['p.ingress[0].ipVersion', '5 is not 4 or 6']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'source': {'nets': ['10.0.0.0/8']},
                                'destination': {'nets': ['fd00::/8']}}]},
     ['IPv4 CIDRs (calico_policies p.ingress[0].source.nets)', 'IPv6 CIDRs (calico_policies p.ingress[0].destination.nets)']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'ipVersion': 4, 'source': {'nets': ['fd00::/8']}}]},
     ['p.ingress[0].source.nets', 'IPv6 CIDRs in a rule for IPv4 only']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'source': {'notNets': ['::/0']}}]}, ['notNets', 'catch-all']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'source': {'nets': ['fd00::/129']}}]}, ['source.nets', 'fd00::/129']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'protocol': 'TCP', 'icmp': {'type': 8}}]}, ['icmp needs protocol ICMP or ICMPv6']),
    ({'name': 'p', 'ingress': [{'action': 'Allow', 'source': {'selectr': 'a == "b"'}}]}, ['unknown key selectr']),
    ({'name': 'p', 'order': 'first'}, ['p.order', "'first'"]),
    ({'name': 'p', 'types': ['Ingress'], 'egress': [{'action': 'Allow'}]}, ['p.egress', 'no Egress']),
    ({'name': 'p', 'sellector': 'all()'}, ['unknown key sellector']),
])
def test_bad_policy_named_with_field(policy, words):
    problems = problems_of([policy])
    assert len(problems) == 1
    for word in words:
        assert word in problems[0]


def test_duplicate_names_and_not_a_list():
    assert 'given twice' in problems_of([{'name': 'a'}, {'name': 'a'}])[0]
    assert problems_of({'name': 'a'}) == ["calico_policies: {'name': 'a'} must be a list of policies"]


def test_defaults_and_order():
    policies = normalize([{'name': 'z'}, {'name': 'b', 'order': 5, 'egress': [{'action': 'Allow'}]}, {'name': 'a', 'order': 5}])
    assert [p['name'] for p in policies] == ['a', 'b', 'z']  # by order, unset last, then by name
    assert policies[0]['types'] == ['Ingress']
    assert policies[1]['types'] == ['Ingress', 'Egress']
    # Calico's converter adds the policy's namespace to its selector (networkpolicyprocessor.go)
    assert policies[2]['selector'] == '(all() && projectcalico.org/namespace == "default")'


def test_labels_checked():
    problems = []
    check_labels('host-a', 0, {'app': 'web', 'tier': 1, 'bad key': 'x'}, problems)
    assert len(problems) == 2
    assert 'host-a: calico_workloads[0].labels.tier: 1' in problems[0] or 'host-a: calico_workloads[0].labels.tier: 1' in problems[1]
    assert any("key 'bad key'" in p for p in problems)
    problems = []
    check_labels('host-a', 1, ['app'], problems)
    assert 'must be a mapping' in problems[0]
    problems = []
    check_labels('host-a', 2, {'projectcalico.org/namespace': 'prod'}, problems)
    assert "Calico's own" in problems[0]


def test_inventory_check_refuses_bad_policy_and_labels():
    hostvars = {'host-a': {'calico_node_address': '172.16.91.201/24', 'calico_policies': [{'name': 'p', 'selector': 'a ='}],
                           'calico_workloads': [{'name': 'pod1', 'labels': {'app': ['x']}}]}}
    _lab, problems = check_inventory(hostvars, ['host-a'])
    assert any(p.startswith('calico_policies p.selector') for p in problems)
    assert any(p.startswith('host-a: calico_workloads[0].labels.app') for p in problems)


def test_unselected_allows_selected_denies_what_no_rule_allows():
    policies = normalize([DENY_WEB, ALLOW_80])
    assert verdict(policies, CLIENT, WEB, 6, 80)[0] == 'allow'
    assert verdict(policies, CLIENT, WEB, 6, 81)[0] == 'deny'
    assert verdict(policies, CLIENT, WEB, 1)[0] == 'deny'
    assert verdict(policies, OTHER, WEB, 6, 80)[0] == 'deny'      # not a client
    assert verdict(policies, WEB, CLIENT, 6, 80)[0] == 'allow'    # client is selected by nothing
    assert verdict(policies, WEB, OTHER, 1)[0] == 'allow'


def test_order_deny_first_wins_and_pass_skips_to_profile():
    deny = {'name': 'deny-first', 'order': 1, 'selector': 'app == "web"',
            'ingress': [{'action': 'Deny', 'source': {'nets': ['10.244.0.3/32']}}]}
    policies = normalize([deny, ALLOW_80])
    assert verdict(policies, CLIENT, WEB, 6, 80) == ('deny', 'ingress: deny-first ingress[0]')
    passing = dict(deny, ingress=[{'action': 'Pass', 'source': {'nets': ['10.244.1.0/24']}}])
    policies = normalize([passing, DENY_WEB])
    assert verdict(policies, OTHER, WEB, 1)[0] == 'allow'    # Pass: the end of the tier, then the profile allows
    assert verdict(policies, CLIENT, WEB, 1)[0] == 'deny'


def test_log_goes_on_and_egress_deny():
    log = {'name': 'log', 'order': 1, 'selector': 'all()', 'types': ['Egress'],
           'egress': [{'action': 'Log'}, {'action': 'Deny', 'destination': {'notNets': ['10.244.0.0/24']}},
                      {'action': 'Allow'}]}
    policies = normalize([log])
    assert verdict(policies, WEB, CLIENT, 1)[0] == 'allow'
    assert verdict(policies, WEB, OTHER, 1) == ('deny', 'egress: log egress[1]')


def test_not_selector_and_not_ports():
    policy = {'name': 'p', 'selector': 'app == "web"', 'ingress': [
        {'action': 'Allow', 'protocol': 'UDP', 'source': {'notSelector': 'role == "client"'},
         'destination': {'notPorts': ['50:60']}}]}
    policies = normalize([policy])
    assert verdict(policies, OTHER, WEB, 17, 53)[0] == 'deny'
    assert verdict(policies, OTHER, WEB, 17, 61)[0] == 'allow'
    assert verdict(policies, CLIENT, WEB, 17, 61)[0] == 'deny'


def test_matrix_services():
    policies = normalize([DENY_WEB, ALLOW_80])
    assert probe_services(policies) == [('tcp', 80)]
    matrix = expected_matrix(policies, [WEB, CLIENT])
    assert sorted(matrix) == [('client', 'web', 'icmp'), ('client', 'web', 'tcp/80'),
                              ('web', 'client', 'icmp'), ('web', 'client', 'tcp/80')]
    assert matrix[('client', 'web', 'tcp/80')][0] == 'allow'
    assert matrix[('client', 'web', 'icmp')][0] == 'deny'


def test_namespaces_as_calico():
    shop_web = dict(WEB, name='shop-web', ip='10.244.2.2', namespace='shop')
    shop_client = dict(CLIENT, name='shop-client', ip='10.244.2.3', namespace='shop')
    policies = normalize([dict(DENY_WEB, namespace='shop'), dict(ALLOW_80, namespace='shop')])
    assert verdict(policies, CLIENT, WEB, 1)[0] == 'allow'              # default's web: no policy of its namespace
    assert verdict(policies, shop_client, shop_web, 6, 80)[0] == 'allow'
    assert verdict(policies, CLIENT, shop_web, 6, 80)[0] == 'deny'      # a client of another namespace
    not_client = {'name': 'p', 'namespace': 'shop', 'selector': 'app == "web"', 'ingress': [
        {'action': 'Allow', 'source': {'notSelector': 'role == "client"'}}]}
    policies = normalize([not_client])
    assert verdict(policies, dict(OTHER, namespace='shop'), shop_web, 1)[0] == 'allow'
    assert verdict(policies, OTHER, shop_web, 1)[0] == 'deny'           # notSelector limits to the namespace too
    assert problems_of([{'name': 'p', 'namespace': 'Bad_NS'}])[0].startswith('calico_policies p.namespace')
