"""Felix's chains for IPv6 (ip6tables) beside IPv4's: which rules go to which family, the cali60 sets, the
ICMPv6 accepts of neighbour discovery; compared with a recorded ip6tables-save of a netns host."""
import os

import pytest

from ansible_collections.labnet.calico.plugins.module_utils import felix_rules as fr
from ansible_collections.labnet.calico.plugins.module_utils.calico_policy import (
    expected_matrix, ipv6_only_rules, normalize, verdict,
)
from ansible_collections.labnet.calico.plugins.module_utils.calico_selector import ipset_name, parse
from ansible_collections.labnet.calico.plugins.modules.calico_policy import _diff

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
# What the recorded host (policy-ip6tables-save.txt) was programmed with, by felix_rules and ip6tables-restore.
POLICIES = normalize([
    {'name': 'web-default-deny', 'order': 100, 'selector': 'app == "web"', 'types': ['Ingress']},
    {'name': 'allow', 'order': 10, 'selector': 'app == "web"', 'ingress': [
        {'action': 'Allow', 'protocol': 'TCP', 'source': {'selector': 'role == "client"',
                                                          'nets': ['fd00:10:244::/48', 'fd00:99::/64']},
         'destination': {'ports': [80]}},
        {'action': 'Allow', 'protocol': 'TCP', 'source': {'nets': ['10.244.0.0/16']}, 'destination': {'ports': [81]}},
        {'action': 'Allow', 'protocol': 'ICMPv6', 'icmp': {'type': 128}},
        {'action': 'Deny', 'protocol': 'ICMP'},
        {'action': 'Allow', 'ipVersion': 6, 'protocol': 'UDP', 'destination': {'ports': [53]}},
        {'action': 'Allow', 'protocol': 'UDP', 'destination': {'ports': [54]}}]},
])
PODS = [{'name': 'a1', 'ip': '10.244.0.2', 'ip6': 'fd00:10:244::2', 'host_ifname': 'cali1234567890a',
         'labels': {'app': 'web'}},
        {'name': 'a2', 'ip': '10.244.0.3', 'ip6': 'fd00:10:244::3', 'host_ifname': 'cali1234567890b',
         'labels': {'role': 'client'}},
        {'name': 'b1', 'ip': '10.244.1.2', 'ip6': None, 'labels': {'role': 'client'}}]
HOST = PODS[:2]
ALLOW = fr.policy_chain('ingress', 'allow')


def rules_of(state, chain):
    return [line.split('" ', 1)[1] for line in state['chains'][chain]]


def test_rules_go_to_their_family_as_felix_filters_them():
    v4, v6 = (fr.render(HOST, PODS, POLICIES, family) for family in (4, 6))
    policy4, policy6 = ' | '.join(rules_of(v4, ALLOW)), ' | '.join(rules_of(v6, ALLOW))
    # IPv6 nets, ICMPv6 and ipVersion 6 only in ip6tables; IPv4 nets and ICMP only in iptables; UDP 54 in both.
    assert '--dports 80' in policy6 and '--dports 80' not in policy4
    assert '--dports 81' in policy4 and '-s 10.244.0.0/16' in policy4 and '--dports 81' not in policy6
    assert '-p ipv6-icmp -m icmp6 --icmpv6-type 128 -j MARK' in policy6 and 'icmp6' not in policy4
    assert '-p icmp -j DROP' in policy4 and '-p icmp ' not in policy6
    assert '--dports 53' in policy6 and '--dports 53' not in policy4
    assert '--dports 54' in policy4 and '--dports 54' in policy6
    # The policy chain's first rule carries Felix's comment in each family.
    assert rules_of(v6, ALLOW)[0].startswith('-m comment --comment "NetworkPolicy default/allow ingress"')


def test_icmpv6_of_neighbour_discovery_before_the_egress_policy():
    v4, v6 = (rules_of(fr.render(HOST, PODS, POLICIES, family), 'cali-wl-to-host') for family in (4, 6))
    assert v4 == ['-j cali-from-wl-dispatch', '-m comment --comment "Configured DefaultEndpointToHostAction" -j ACCEPT']
    assert v6[:6] == ['-p ipv6-icmp -m icmp6 --icmpv6-type %d -j ACCEPT' % t for t in (130, 131, 132, 133, 135, 136)]
    assert v6[6:] == v4


def test_sets_per_family_one_id():
    v4, v6 = (fr.render(HOST, PODS, POLICIES, family)['sets'] for family in (4, 6))
    clients = parse('(projectcalico.org/namespace == "default") && (role == "client")')
    name4, name6 = ipset_name(clients, 4), ipset_name(clients, 6)
    assert name4.startswith('cali40s:') and name6 == 'cali60s:' + name4[len('cali40s:'):]
    assert v4 == {}  # the only selector of IPv4 rules is in the IPv6-nets rule
    # b1 has no ip6: no member of the IPv6 set; the nets set is cali60n.
    assert v6[name6] == ['fd00:10:244::3']
    assert [m for n, m in v6.items() if n.startswith('cali60n:')] == [['fd00:10:244::/48', 'fd00:99::/64']]


def test_ipset_family_and_members_of_recorded_save():
    with open(os.path.join(FIXTURES, 'policy-ipset-save-v6.txt')) as f:
        text = f.read()
    assert all(name.startswith('cali60') for name in fr.parse_ipset_save(text, 6))
    assert fr.parse_ipset_save(text, 4) == {}
    assert fr.parse_ipset_save(text)['cali60s:' + ipset_name(parse(
        '(projectcalico.org/namespace == "default") && (role == "client")'))[8:]] == ['fd00:10:244::3']
    changes = fr.plan({'chains': {}, 'builtin': {}}, fr.render(HOST, PODS, POLICIES, 6), {})
    assert fr.ipset_create_text(changes, 6).startswith('create cali60')
    assert ' hash:net family inet6 comment\n' in fr.ipset_create_text(changes, 6)


def test_recorded_ip6tables_host_needs_nothing_and_absent_removes_only_the_lab():
    with open(os.path.join(FIXTURES, 'policy-ip6tables-save.txt')) as f:
        saved = fr.parse_save(f.read())
    with open(os.path.join(FIXTURES, 'policy-ipset-save-v6.txt')) as f:
        sets = fr.parse_ipset_save(f.read(), 6)
    wanted = fr.render(HOST, PODS, POLICIES, 6)
    assert not fr.changed(fr.plan(saved, wanted, sets))
    # A rule deleted by hand in ip6tables: that chain alone is rewritten.
    saved['chains'][ALLOW].pop(1)
    assert fr.plan(saved, wanted, sets)['write'] == [ALLOW]
    gone = fr.plan(saved, None, sets)
    assert sorted(gone['delete']) == sorted(saved['chains']) and gone['destroy'] == list(sets)
    assert [line.split(' -j ')[-1] for line in gone['unjump']] == ['cali-INPUT', 'cali-FORWARD', 'cali-OUTPUT']
    assert 'other' not in fr.restore_text(gone, None)


def test_recorded_ip6tables_drift_in_the_diff_check_mode_shows():
    """A cali-FORWARD rule deleted by hand (the drift test_policy_v6 makes): the diff calico_policy returns,
    in check mode too, has it in after only, and nothing of the foreign chain."""
    with open(os.path.join(FIXTURES, 'policy-ip6tables-save.txt')) as f:
        text = f.read()
    with open(os.path.join(FIXTURES, 'policy-ipset-save-v6.txt')) as f:
        sets = fr.parse_ipset_save(f.read(), 6)
    deleted = '-A cali-FORWARD -i cali+ -m comment --comment "cali:ghcdza-rIu_MXVwf" -j cali-from-wl-dispatch'
    saved = fr.parse_save(text.replace(deleted + '\n', ''))
    wanted = fr.render(HOST, PODS, POLICIES, 6)
    changes = fr.plan(saved, wanted, sets)
    assert fr.changed(changes) and changes['write'] == ['cali-FORWARD'] and not changes['delete']
    before, after = _diff(saved, changes, wanted, sets)
    # The one rule to add, as it is to be written (its matches in Felix's order, the same rule id); the kept
    # rules of the chain as the kernel prints them, so they do not show as changed.
    added = [l for l in wanted['chains']['cali-FORWARD'] if 'cali:ghcdza-rIu_MXVwf' in l]
    assert added == ['-A cali-FORWARD -m comment --comment "cali:ghcdza-rIu_MXVwf" -i cali+ -j cali-from-wl-dispatch']
    assert after.splitlines() == before.splitlines()[:2] + added + before.splitlines()[2:]
    assert 'other' not in before + after


@pytest.mark.parametrize('family, expected', [
    (4, {('a2', 'a1', 'tcp/80'): 'deny', ('a2', 'a1', 'icmp'): 'deny', ('b1', 'a1', 'tcp/80'): 'deny',
         ('a2', 'a1', 'udp/53'): 'deny', ('a2', 'a1', 'udp/54'): 'allow'}),
    (6, {('a2', 'a1', 'tcp/80'): 'allow', ('a2', 'a1', 'icmp'): 'allow', ('a2', 'a1', 'udp/53'): 'allow'}),
])
def test_model_judges_each_family_apart(family, expected):
    matrix = expected_matrix(POLICIES, PODS, family)
    for key, want in expected.items():
        assert matrix[key][0] == want, (family, key, matrix[key])
    # b1 has no ip6: no IPv6 cell names it.
    assert (family == 4) == any('b1' in key for key in matrix)
    assert verdict(POLICIES, PODS[1], PODS[0], 6, 81, family)[0] == ('allow' if family == 4 else 'deny')


def test_an_ipv6_only_rule_is_named_for_a_lab_without_ipv6():
    texts = ipv6_only_rules(POLICIES)
    assert [t.split(':', 1)[0] for t in texts] == ['calico_policies allow.ingress[0]', 'calico_policies allow.ingress[2]',
                                                   'calico_policies allow.ingress[4]']
    assert 'source.nets fd00:10:244::/48, fd00:99::/64 makes it' in texts[0]
    assert 'protocol ICMPv6 makes it' in texts[1] and 'ipVersion 6 makes it' in texts[2]
