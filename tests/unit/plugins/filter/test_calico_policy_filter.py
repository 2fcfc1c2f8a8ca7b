"""verify's policy probes and report: IPv4 between every pair, IPv6 where both pods have an ip6, each family judged
apart and named in the matrix and the failures."""
from ansible_collections.labnet.calico.plugins.filter.calico_policy import policy_probes, policy_report

POLICIES = [
    {'name': 'web-deny', 'order': 100, 'selector': 'app == "web"', 'types': ['Ingress']},
    {'name': 'v6-http', 'order': 10, 'selector': 'app == "web"', 'ingress': [
        {'action': 'Allow', 'protocol': 'TCP', 'source': {'nets': ['fd00:10:244::/48']}, 'destination': {'ports': [80]}}]},
]
PLAN = {
    'n1': {'workloads': [{'name': 'web', 'netns': 'web', 'ip': '10.244.0.2', 'ip6': 'fd00:10:244::2',
                          'labels': {'app': 'web'}, 'namespace': 'default'}]},
    'n2': {'workloads': [{'name': 'cl', 'netns': 'cl', 'ip': '10.244.1.2', 'ip6': 'fd00:10:244::42',
                          'labels': {}, 'namespace': 'default'},
                         {'name': 'old', 'netns': 'old', 'ip': '10.244.1.3', 'ip6': None,
                          'labels': {}, 'namespace': 'default'}]},
}


def answers(plan, state_of):
    """pod_probe's results of every host: STATE_OF(probe) says what each probe met."""
    return dict((host, [dict(p, state=state_of(p)) for p in policy_probes(plan, host, POLICIES)['probes']])
                for host in plan)


def test_probes_over_ipv6_only_where_both_pods_have_an_ip6():
    probes = policy_probes(PLAN, 'n2', POLICIES)['probes']
    v6 = [(p['source'], p['target'], p['protocol']) for p in probes if ':' in p['ip']]
    assert v6 == [('cl', 'web', 'icmp'), ('cl', 'web', 'tcp')]
    assert not [p for p in probes if p['source'] == 'old' and ':' in p['ip']]
    assert [p['ip'] for p in probes if p['source'] == 'old' and p['target'] == 'web'] == ['10.244.0.2'] * 2


def test_report_per_family_as_the_model_says():
    def state(probe):  # the lab as it should be: web takes TCP 80 over IPv6 only
        to_web = probe['target'] == 'web'
        return 'open' if not to_web or (':' in probe['ip'] and probe['protocol'] == 'tcp') else 'timeout'
    report = policy_report(answers(PLAN, state), PLAN, POLICIES)
    assert report['failures'] == []
    assert report['families'] == {'IPv4': 12, 'IPv6': 4} and report['cells'] == 16
    assert report['lines'][0].startswith('policy matrix IPv4, each cell: icmp tcp/80')
    v6 = report['lines'].index([line for line in report['lines'] if line.startswith('policy matrix IPv6')][0])
    assert report['lines'][v6 + 1].split() == ['from', '\\', 'to', 'web', 'cl']
    assert report['lines'][v6 + 3].split() == ['cl', 'D', 'A', '.']


def test_a_wrong_ipv6_answer_is_named_with_its_family():
    report = policy_report(answers(PLAN, lambda probe: 'open'), PLAN, POLICIES)
    assert 'cl -> web icmp over IPv6: expected deny (ingress: end of tier (web selected by v6-http, web-deny)), ' \
           'got allow (open)' in report['failures']
    assert 'cl -> web tcp/80 over IPv4: expected deny' in ' '.join(report['failures'])
    assert not [f for f in report['failures'] if 'tcp/80 over IPv6' in f]
