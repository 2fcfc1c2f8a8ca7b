"""Calico network policy in a dual-stack lab (issue 13): the same chains in ip6tables as in iptables, each rule
in the family of its nets or protocol, cali60 sets, and verify's matrix probed over IPv6 too - an IPv6 allow
(TCP 80 to the web pod from the IPv6 pool, closed over IPv4) and an IPv6 deny (the clients' ICMPv6) met by
real probes; neighbour discovery under the clients' egress deny; rerun, drift in ip6tables (check mode
sees it and leaves it, a run repairs it), and removal from both families.

One lab (inventories/policy-dual-stack: 2 hosts, 4 pods, 3 policies). One bgp.yml run (which verifies),
then the policy role alone.
"""

import os
import re

import pytest

from ansible_collections.labnet.calico.plugins.module_utils import felix_rules, probe
from ansible_collections.labnet.calico.plugins.module_utils.iproute import workload_host_ifname, workload_id
from labtest import ROOT, assert_play, registered_lab, run
from test_playbooks import labs, run_playbook  # noqa: F401  # pylint: disable=unused-import
from test_policy import counter, in_host, policy_only, with_policies

SOURCE = os.path.join(ROOT, 'inventories', 'policy-dual-stack', 'hosts.yml')

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def saved(host, family, counters=False):
    return in_host(host, 'iptables-save' if family == 4 else 'ip6tables-save', '-t', 'filter',
                   *(['-c'] if counters else []))


def rules_now(host):
    """{family: the table's chains and rules} of HOST (iptables-save without its dated comment lines)."""
    return dict((family, [l for l in saved(host, family).splitlines() if not l.startswith('#')]) for family in (4, 6))


def pod_ip6(pod):
    """The pod's global IPv6 address, read from its namespace."""
    text = run(['ip', '-n', pod, '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'],
               timeout=30, check=True).stdout
    return text.split()[3].split('/')[0]


def test_dual_stack_policy_both_families(labs, tmp_path):  # noqa: F811
    lab, inventory, data, hosts = registered_lab(labs, SOURCE, tmp_path, 'node-1', 'node-2')
    n = lab.names

    # One run: routes of both families, policy in both tables, verify's matrix per family.
    output = assert_play(run_playbook('bgp.yml', inventory), hosts)
    assert '48 pair/service cells (IPv4 24, IPv6 24; icmp, tcp/80) allowed or denied as calico_policies say' in output
    # IPv4: web-1 takes nothing (its TCP 80 rule is for the IPv6 pool); clients ping over IPv4.
    # IPv6: clients reach web-1 on TCP 80 but send no ICMPv6; plain-2 pings web-1 not, reaches it on TCP 80.
    v4, v6 = output.index('policy matrix IPv4'), output.index('policy matrix IPv6')
    row = r'"%s +%s"'
    assert re.search(row % (re.escape(n['client-1']), r'D D +\. +A A +A A'), output[v4:v6]), output[v4:v6 + 3000]
    assert re.search(row % (re.escape(n['client-1']), r'D A +\. +D A +D A'), output[v6:]), output[v6:v6 + 3000]
    assert re.search(row % (re.escape(n['plain-2']), r'D A +A A +A A +\.'), output[v6:]), output[v6:v6 + 3000]

    # ip6tables has the lab's chains; the IPv6-nets rule is there only, the ICMPv6 deny too; iptables has neither.
    allow = felix_rules.policy_chain('ingress', 'http-over-ipv6')
    deny = felix_rules.policy_chain('egress', 'clients-no-ping6')
    text4, text6 = saved(n['node-1'], 4), saved(n['node-1'], 6)
    assert re.search(r'^-A FORWARD -m comment --comment "cali:\S{16}" -j cali-FORWARD$', text6, re.M), text6
    assert re.search(r'^-A %s -s fd00:10:244::/48 -p tcp .*--dports 80 .*-j MARK' % re.escape(allow), text6, re.M), text6
    assert re.search(r'^-A %s -p ipv6-icmp .*-j DROP' % re.escape(deny), text6, re.M), text6
    assert not [l for l in text4.splitlines() if l.startswith('-A %s ' % allow)], text4
    assert not [l for l in text4.splitlines() if l.startswith('-A %s ' % deny) and 'DROP' in l], text4
    assert '-m icmp6 --icmpv6-type 135 -j ACCEPT' in text6 and 'icmp6' not in text4

    # Real packets: web-1's end of tier dropped IPv6 probes too; client-1's ICMPv6 deny dropped its pings.
    web1 = 'cali-tw-' + workload_host_ifname(workload_id('default', n['web-1']))
    counted = saved(n['node-1'], 6, counters=True)
    assert counter(counted, web1, 'End of tier default') > 0
    assert counter(counted, deny, '-p ipv6-icmp') > 0

    # Neighbour discovery under client-1's egress deny: its neighbours forgotten, a TCP 80 probe to web-1 over
    # IPv6 still opens, and the host's accept of neighbour solicitations counted it (static.go ICMPv6Filter).
    client1 = n['client-1']
    solicitations = counter(saved(n['node-1'], 6, counters=True), 'cali-wl-to-host', '--icmpv6-type 135')
    run(['ip', '-n', client1, '-6', 'neigh', 'flush', 'dev', 'eth0'], timeout=30, check=True)
    pids, errors = probe.start_listeners({n['web-1']: [('tcp', 80)]}, 20)
    try:
        assert not errors, errors
        answer = probe.probe_from_namespaces({client1: [('k', 'tcp', pod_ip6(n['web-1']), 80)]}, 3.0)
    finally:
        probe.stop_listeners(list(pids.values()))
    assert answer[client1]['results']['k'] == 'open', answer
    assert counter(saved(n['node-1'], 6, counters=True), 'cali-wl-to-host', '--icmpv6-type 135') > solicitations

    # Rerun: nothing changes. Drift in ip6tables: a rule deleted by hand is restored, a foreign chain stays.
    assert_play(policy_only(inventory), hosts, changed=0)
    rules = [l for l in saved(n['node-1'], 6).splitlines() if l.startswith('-A cali-FORWARD ')]
    assert len(rules) == 4, rules
    in_host(n['node-1'], 'ip6tables', '-D', 'cali-FORWARD', '2')
    in_host(n['node-1'], 'ip6tables', '-N', 'not-the-labs')
    in_host(n['node-1'], 'ip6tables', '-A', 'FORWARD', '-j', 'not-the-labs')
    drifted = rules_now(n['node-1'])
    assert rules[1] not in drifted[6]
    # Check mode sees the drift (changed, the deleted rule added back in its diff, nothing of the foreign
    # chain in it) and leaves both tables as they are; the run after it repairs the rule, then nothing changes.
    checked = assert_play(policy_only(inventory, '--check', '--diff'), hosts, changed={n['node-1']: 1, n['node-2']: 0})
    added = [l for l in checked.splitlines() if l.startswith('+-A ')]
    assert [l.split()[1] for l in added] == ['cali-FORWARD'], checked[-4000:]
    assert felix_rules.line_id(added[0]) == felix_rules.line_id(rules[1]), (added, rules[1])
    assert not [l for l in checked.splitlines() if l.startswith('--A ')], checked[-4000:]
    assert checked.index('\n # ip6tables\n') < checked.index('\n' + added[0] + '\n'), checked[-4000:]
    assert 'not-the-labs' not in checked, checked[-4000:]
    assert rules_now(n['node-1']) == drifted
    assert_play(policy_only(inventory), hosts, changed={n['node-1']: 1, n['node-2']: 0})
    assert [l for l in saved(n['node-1'], 6).splitlines() if l.startswith('-A cali-FORWARD ')] == rules
    assert_play(policy_only(inventory), hosts, changed=0)

    # No policy left (the teardown role's call): no cali chain, jump or set in either family; the foreign stays.
    none_inventory = with_policies(data, tmp_path, 'none', [])
    assert_play(policy_only(none_inventory), hosts)
    for host in hosts:
        for family in (4, 6):
            assert 'cali' not in saved(host, family), (host, family)
        assert felix_rules.parse_ipset_save(in_host(host, 'ipset', 'save')) == {}
    assert '-A FORWARD -j not-the-labs' in saved(n['node-1'], 6)
    assert_play(policy_only(none_inventory), hosts, changed=0)
