"""Calico network policy on the netns provider (issue 16): Felix's chains in the host namespaces, the
allow/deny matrix probed against the model, rerun, drift, a policy removed, and removal of it all.

One lab (inventories/policy: 2 hosts, 5 labelled pods, 4 policies with order, Pass, Log, nets, an
egress Deny). Kept short for CI: one bgp.yml run (which verifies), then the policy role alone.
"""

import copy
import os
import re

import pytest
import yaml

from ansible_collections.labnet.calico.plugins.module_utils import felix_rules
from ansible_collections.labnet.calico.plugins.module_utils.calico_policy import normalize
from ansible_collections.labnet.calico.plugins.module_utils.iproute import workload_host_ifname, workload_id
from labtest import BIN, ROOT, ansible_env, assert_play, registered_lab, run
from test_playbooks import labs, run_playbook  # noqa: F401  # pylint: disable=unused-import

SOURCE = os.path.join(ROOT, 'inventories', 'policy', 'hosts.yml')
POLICY_ONLY = os.path.join(ROOT, 'tests', 'integration', 'playbooks', 'policy_only.yml')

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def in_host(host, *argv):
    return run(['ip', 'netns', 'exec', host] + list(argv), timeout=30, check=True).stdout


def saved(host, counters=False):
    return in_host(host, 'iptables-save', '-t', 'filter', *(['-c'] if counters else []))


def lab_sets(host):
    return felix_rules.parse_ipset_save(in_host(host, 'ipset', 'save'))


def policy_only(inventory, *extra):
    return run([os.path.join(BIN, 'ansible-playbook'), POLICY_ONLY, '-i', inventory] + list(extra), cwd=ROOT,
               env=ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT='json'), timeout=300)


def with_policies(data, tmp_path, name, policies):
    """The inventory DATA with calico_policies POLICIES, written to TMP_PATH/NAME.yml; returns its path."""
    changed = copy.deepcopy(data)
    changed['all']['vars']['calico_policies'] = policies
    path = str(tmp_path / (name + '.yml'))
    with open(path, 'w') as handle:
        yaml.safe_dump(changed, handle)
    return path


def wanted(data, lab, host):
    """What felix_rules renders for HOST from the inventory the test wrote (the design, computed apart)."""
    group = data['all']['children']['calico_nodes']['hosts']
    pods = []
    for name, hostvars in group.items():
        for w in hostvars['calico_workloads']:
            namespace = w.get('namespace', 'default')
            pods.append(dict(w, labels=w.get('labels') or {}, host=name, namespace=namespace,
                             host_ifname=workload_host_ifname(workload_id(namespace, w['name']))))
    mine = [p for p in pods if p['host'] == lab.names[host]]
    return felix_rules.render(mine, pods, normalize(data['all']['vars']['calico_policies']))


def counter(text, chain, words):
    """Packets counted by the rule of CHAIN whose text has WORDS (iptables-save -c)."""
    for line in text.splitlines():
        if line.startswith('[') and (' -A %s ' % chain) in line and words in line:
            return int(re.match(r'\[(\d+):', line).group(1))
    raise AssertionError('no rule %r in %s:\n%s' % (words, chain, text))


def test_policy_chains_matrix_rerun_drift_removal(labs, tmp_path):  # noqa: F811
    lab, inventory, data, hosts = registered_lab(labs, SOURCE, tmp_path, 'node-1', 'node-2')
    n = lab.names

    # One run: routes, policy, and verify's matrix - expected from the model, probed in the pods.
    output = assert_play(run_playbook('bgp.yml', inventory), hosts)
    assert '60 pair/service cells (IPv4 60; icmp, tcp/80, udp/53) allowed or denied as calico_policies say' in output
    # client -> web: TCP 80 allowed, ICMP and UDP 53 denied; plain -> web: all denied; admin passes.
    assert re.search(r'"%s +D A D +\. +D A D +A A D +A A D"' % re.escape(n['client-1']), output), output[-3000:]
    assert re.search(r'"%s +D D D +A A A +D D D +A A A +\."' % re.escape(n['plain-1']), output), output[-3000:]

    # The chains in each host namespace are the design's, rule id by rule id, and nothing is to change.
    for host in ('node-1', 'node-2'):
        text = saved(n[host])
        current = felix_rules.parse_save(text)
        changes = felix_rules.plan(current, wanted(data, lab, host), lab_sets(n[host]))
        assert not felix_rules.changed(changes), (host, changes, text)
        assert re.search(r'^-A FORWARD -m comment --comment "cali:\S{16}" -j cali-FORWARD$', text, re.M), text
    web1 = 'cali-tw-' + workload_host_ifname(workload_id('default', n['web-1']))
    tw = [l for l in saved(n['node-1']).splitlines() if l.startswith('-A %s ' % web1)]
    order = [felix_rules.policy_chain('ingress', p) for p in ('admin-pass', 'allow-clients-http', 'web-default-deny')]
    assert [l.split(' -j ')[-1] for l in tw if ' -j cali-pi-' in l] == order
    assert any('Drop if no policies passed packet' in l for l in tw)
    client_set = [s for s, members in lab_sets(n['node-1']).items() if s.startswith('cali40s:')]
    assert lab_sets(n['node-1'])[client_set[0]] == ['10.244.0.11']

    # Real packets met the rules: the web pod's end-of-tier DROP counted the denied probes, the client's
    # from-workload chain accepted return traffic as ESTABLISHED.
    counted = saved(n['node-1'], counters=True)
    assert counter(counted, web1, 'End of tier default') > 0
    fw_client = 'cali-fw-' + workload_host_ifname(workload_id('default', n['client-1']))
    assert counter(counted, fw_client, 'RELATED,ESTABLISHED -j ACCEPT') > 0

    # Rerun: nothing changes on any host.
    assert_play(policy_only(inventory), hosts, changed=0)

    # Drift: a rule deleted by hand, and a chain of someone else's, which the lab must leave alone.
    in_host(n['node-1'], 'iptables', '-D', 'cali-FORWARD', '2')
    in_host(n['node-1'], 'iptables', '-N', 'not-the-labs')
    in_host(n['node-1'], 'iptables', '-A', 'FORWARD', '-j', 'not-the-labs')
    assert_play(policy_only(inventory), hosts, changed={n['node-1']: 1, n['node-2']: 0})
    assert not felix_rules.changed(felix_rules.plan(felix_rules.parse_save(saved(n['node-1'])),
                                                    wanted(data, lab, 'node-1'), lab_sets(n['node-1'])))

    # A policy taken out of the inventory: its chain and its selector's set go, the rest stays.
    fewer_inventory = with_policies(data, tmp_path, 'fewer', [p for p in data['all']['vars']['calico_policies']
                                                              if p['name'] != 'allow-clients-http'])
    assert_play(policy_only(fewer_inventory), hosts)
    gone = felix_rules.policy_chain('ingress', 'allow-clients-http')
    for host in hosts:
        text = saved(host)
        assert gone not in text and felix_rules.policy_chain('ingress', 'web-default-deny') in text
        assert not [s for s in lab_sets(host) if s.startswith('cali40s:')]

    # No policy left: every lab chain, jump and set goes; the foreign chain and its jump stay.
    none_inventory = with_policies(data, tmp_path, 'none', [])
    assert_play(policy_only(none_inventory), hosts)
    for host in hosts:
        text = saved(host)
        assert 'cali' not in text and lab_sets(host) == {}, text
    assert '-A FORWARD -j not-the-labs' in saved(n['node-1'])
    assert_play(policy_only(none_inventory), hosts, changed=0)
