"""What verify probes (full matrix or sample) and how it judges: per host pair, failures by pod."""
from ansible_collections.labnet.calico.plugins.filter import calico_lab, calico_verify
from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_calico_lab import SEEDS, plan


def big_plan(hosts, pods):
    hostvars = dict(('s%d' % h, {'calico_node_address': '192.168.60.%d/24' % h,
                                 'calico_workloads': [{'name': 's%dp%d' % (h, p)} for p in range(1, pods + 1)]})
                    for h in range(1, hosts + 1))
    return calico_lab.calico_lab_plan(hostvars, sorted(hostvars), pool='10.244.0.0/16', block_size=24)


def ping(source, target, ip, dev, received=2, ttl=62):
    return {'source': source, 'target': target, 'ip': ip, 'sent': 2, 'received': received,
            'ttl': ttl if received else None, 'ok': received > 0, 'host_dev': dev}


def links(tx, rx):
    return '[{"ifname": "tunl0", "stats64": {"tx": {"packets": %d}, "rx": {"packets": %d}}}]' % (tx, rx)


def test_verify_report_counts_tunnel_packets_exactly():
    lab = plan({'host-a': dict(SEEDS['host-a'], calico_workloads=[{'name': 'netns01', 'ip': '10.10.0.2'}]),
                'host-b': dict(SEEDS['host-b'], calico_workloads=[{'name': 'netns03', 'ip': '10.10.1.2'}])}, mode='ipip')
    pings = {'host-a': [ping('netns01', 'netns03', '10.10.1.2', 'tunl0')],
             'host-b': [ping('netns03', 'netns01', '10.10.0.2', 'tunl0')]}
    good = calico_verify.verify_report(pings, lab, {'host-a': links(0, 0), 'host-b': links(10, 10)},
                                       {'host-a': links(4, 4), 'host-b': links(14, 14)}, 'ipip')
    assert good['failures'] == [] and good['mode'] == 'ipip'
    assert good['lines'][:2] == ['full matrix: 2 of 2 ordered pod pairs probed',
                                 'host-a -> host-b: 1/1 pairs ok, TTL 62, via tunl0 (IP-in-IP)']
    bypassed = calico_verify.verify_report(pings, lab, {'host-a': links(0, 0), 'host-b': links(0, 0)},
                                           {'host-a': links(2, 2), 'host-b': links(4, 4)}, 'ipip')
    assert any('host-a: tunl0 carried 2/2' in f for f in bypassed['failures'])
    lost = calico_verify.verify_report({'host-a': [ping('netns01', 'netns03', '10.10.1.2', 'eth0', received=0)]},
                                       lab, expect_mode='ipip')
    assert any('no reply' in f for f in lost['failures']) and any('expected ipip' in f for f in lost['failures'])


def test_the_capture_probes_in_the_pings_run_are_expected_in_the_tunnel_counters():
    """pod_ping's capture runs between the two readings: its tunnelled packets count, a plain one does not."""
    lab = plan({'host-a': dict(SEEDS['host-a'], calico_workloads=[{'name': 'netns01', 'ip': '10.10.0.2'}]),
                'host-b': dict(SEEDS['host-b'], calico_workloads=[{'name': 'netns03', 'ip': '10.10.1.2'}])}, mode='ipip')
    pings = {'host-a': [ping('netns01', 'netns03', '10.10.1.2', 'tunl0')],
             'host-b': [ping('netns03', 'netns01', '10.10.0.2', 'tunl0')]}
    captures = {'host-a': [{'source': 'netns01', 'target': 'netns03', 'sent': 2, 'received': 2, 'route_dev': 'tunl0'}],
                'host-b': [{'source': 'netns03', 'target': 'netns01', 'sent': 2, 'received': 1, 'route_dev': 'eth0'}]}
    before = {'host-a': links(0, 0), 'host-b': links(10, 10)}
    good = calico_verify.verify_report(pings, lab, before, {'host-a': links(6, 6), 'host-b': links(16, 16)}, 'ipip',
                                       captures)
    assert good['failures'] == [], good['failures']
    assert 'host-a tunl0: 6 packets out, 6 in during the pings (expected 6 and 6)' in good['lines']
    uncounted = calico_verify.verify_report(pings, lab, before, {'host-a': links(4, 4), 'host-b': links(14, 14)},
                                            'ipip', captures)
    assert 'host-a: tunl0 carried 4/4 packets out/in, expected 6/6: traffic bypassed the tunnel' in uncounted['failures']


def test_pod_pings_rows_are_judged_as_its_results():
    """verify asks pod_ping for rows (text, one per pair): the same report, a broken pair named the same way."""
    from ansible_collections.labnet.calico.plugins.module_utils.ping import result_row
    lab = plan({'host-a': dict(SEEDS['host-a'], calico_workloads=[{'name': 'netns01', 'ip': '10.10.0.2'}]),
                'host-b': dict(SEEDS['host-b'], calico_workloads=[{'name': 'netns03', 'ip': '10.10.1.2'}])}, mode='ipip')
    pings = {'host-a': [ping('netns01', 'netns03', '10.10.1.2', 'tunl0')],
             'host-b': [dict(ping('netns03', 'netns01', '10.10.0.2', None, received=0), error=['no reply'])]}
    rows = dict((host, [result_row(r) for r in found]) for host, found in pings.items())
    assert calico_verify.verify_report(rows, lab) == calico_verify.verify_report(pings, lab)
    assert any('netns03 -> netns01 (10.10.0.2): no reply' in f for f in calico_verify.verify_report(rows, lab)['failures'])


def test_full_matrix_up_to_max_pairs():
    lab = big_plan(2, 4)
    for host in lab:
        chosen = calico_verify.verify_pairs(lab, host, 56)
        # An IPv4-only lab's targets are pod_ping's targets as they always were: every pod with its ip.
        assert chosen == {'sampled': False, 'total': 56, 'lab_pairs': 56, 'pairs': [],
                          'targets': calico_lab.lab_pods(lab)}


def test_every_hosts_pairs_at_once_are_each_hosts_own():
    """verify asks for all hosts in one task: the same pairs as host by host, sampled, full and with policies."""
    rule = {'action': 'Allow', 'protocol': 'ICMP', 'source': {'selector': 'all()'}}
    policies = [{'name': 'only-s1', 'selector': 'all()', 'ingress': [rule]}]
    for lab, max_pairs, with_policies in ((big_plan(4, 8), 5000, None), (big_plan(8, 16), 500, None),
                                          (big_plan(3, 4), 5000, policies)):
        hosts = sorted(lab) + ['not-in-plan']
        at_once = calico_verify.verify_pairs(lab, hosts, max_pairs, with_policies)
        assert at_once == dict((h, calico_verify.verify_pairs(lab, h, max_pairs, with_policies)) for h in hosts)
    assert at_once['s1']['sampled'] and at_once['s1']['pairs']


def test_sample_covers_every_pod_and_every_host_pair():
    lab = big_plan(4, 64)
    chosen = dict((host, calico_verify.verify_pairs(lab, host, 5000)) for host in lab)
    pairs = [(host, p['source'], p['target']) for host in chosen for p in chosen[host]['pairs']]
    pod_host = dict((w['name'], host) for host in lab for w in lab[host]['workloads'])
    assert all(c['sampled'] and c['total'] == 256 * 255 for c in chosen.values())
    assert len(pairs) == chosen['s1']['lab_pairs'] and 4000 < len(pairs) <= 5000 + 4 * 3
    assert len(set(pairs)) == len(pairs) and all(s != t for _h, s, t in pairs)
    assert all(pod_host[s] == h for h, s, _t in pairs)
    assert set(s for _h, s, _t in pairs) == set(pod_host) == set(t for _h, _s, t in pairs)
    host_pairs = set((pod_host[s], pod_host[t]) for _h, s, t in pairs)
    assert all((a, b) in host_pairs for a in lab for b in lab if a != b)
    assert calico_verify.verify_pairs(lab, 's2', 5000) == chosen['s2']   # deterministic
    # The smallest budget still gives every pod a pair each way and every host pair one.
    tiny = [p for host in lab for p in calico_verify.verify_pairs(lab, host, 1)['pairs']]
    assert len(set(p['source'] for p in tiny)) == 256 == len(set(p['target'] for p in tiny))


def test_one_broken_pod_of_256_is_named_once():
    lab = big_plan(4, 64)
    ips = dict((w['name'], w['ip']) for host in lab for w in lab[host]['workloads'])
    broken = 's3p17'
    pings = {}
    for host in lab:
        for p in calico_verify.verify_pairs(lab, host, 5000)['pairs']:
            same = p['target'] in [w['name'] for w in lab[host]['workloads']]
            dead = broken in (p['source'], p['target'])
            pings.setdefault(host, []).append(ping(p['source'], p['target'], ips[p['target']], 'eth0',
                                                   received=0 if dead else 2, ttl=63 if same else 62))
    report = calico_verify.verify_report(pings, lab)
    assert len(report['failures']) == 1, report['failures']
    assert report['failures'][0].startswith('pod s3p17 (s3): ')
    assert report['sampled'] and report['pairs'] == sum(len(v) for v in pings.values())
    assert report['lines'][0] == 'sample: %d of 65280 ordered pod pairs probed' % report['pairs']
    summaries = [line for line in report['lines'] if ' pairs ok, ' in line]
    assert len(summaries) == 16 and not any(line.startswith('from \\ to') for line in report['lines'])
    assert any(line.startswith('s1 -> s3: ') and 'TTL 62' in line for line in summaries)
    healthy = dict((h, [r for r in pings[h] if r['received']]) for h in pings)
    assert calico_verify.verify_report(healthy, lab)['failures'] == []


def seeds_pings(lab, broken=(), dev_of=None):
    """Every pair of LAB answered (3/3, TTL by topology) but the pairs in BROKEN; host_dev as the routes say."""
    pods = [(h, w) for h in sorted(lab) for w in lab[h]['workloads']]
    pings = {}
    for host, source in pods:
        for peer, target in pods:
            if source is target:
                continue
            ok = (source['name'], target['name']) not in broken
            dev = target['host_ifname'] if host == peer else (dev_of or {}).get(host, 'eth0')
            pings.setdefault(host, []).append({
                'source': source['name'], 'target': target['name'], 'ip': target['ip'], 'sent': 3,
                'received': 3 if ok else 0, 'ttl': (63 if host == peer else 62) if ok else None, 'ok': ok,
                'host_dev': dev, 'host_gateway': None})
    return pings


def test_a_failed_ping_keeps_the_route_the_kernel_chose():
    lab = plan(SEEDS, mode='bgp')
    report = calico_verify.verify_report(seeds_pings(lab, broken=[('netns01', 'netns03')]), lab, expect_mode='bgp')
    assert report['failures'] == [
        'pod netns01 (host-a): 1 of its 6 probed pairs failed (1 as source of 3, 0 as target of 3), e.g. '
        'netns01 -> netns03 (10.10.1.2): no reply; host-a routes 10.10.1.2 dev eth0, expected via 172.16.91.202 '
        'dev eth0; next, on host-a: ip route get 10.10.1.2, ip -n netns01 route get 10.10.1.2 '
        '(docs/troubleshooting.md)']
    ipip = plan(SEEDS, mode='ipip')
    lost = calico_verify.verify_report(seeds_pings(ipip, broken=[('netns03', 'netns01')], dev_of={'host-b': 'tunl0'}),
                                       ipip, expect_mode='ipip')
    assert 'host-b routes 10.10.0.2 dev tunl0, expected via 172.16.91.201 dev tunl0 onlink;' in lost['failures'][0]
    gone = seeds_pings(lab, broken=[('netns01', 'netns02')])
    gone['host-a'][0].update(host_dev=None)   # no route at all: what ip route get found, nothing
    same = calico_verify.verify_report(gone, lab, expect_mode='bgp')['failures'][0]
    assert 'host-a routes 10.10.0.3 no route, expected dev %s;' % lab['host-a']['workloads'][1]['host_ifname'] in same


def test_the_matrix_labels_hosts_and_fits_its_names():
    lab = plan(SEEDS, mode='bgp')
    lines = calico_verify.verify_report(seeds_pings(lab), lab)['lines']
    start = lines.index([line for line in lines if line.startswith('from \\ to')][0])
    assert lines[start:start + 3] == [
        'from \\ to       host-a                host-b',
        '                netns01    netns02    netns03    netns04',
        'host-a netns01  -          3/3 ttl63  3/3 ttl62  3/3 ttl62']
    assert lines[start + 5] == 'host-b netns04  3/3 ttl62  3/3 ttl62  3/3 ttl63  -'
    # Long pod names: columns numbered as the rows, every row as wide as the others.
    long_names = dict((h, dict(SEEDS[h], calico_workloads=[{'name': 'checkout-service-%s-%d' % (h, i)} for i in (1, 2)]))
                      for h in SEEDS)
    big = plan(long_names, mode='bgp')
    lines = calico_verify.verify_report(seeds_pings(big), big)['lines']
    start = lines.index([line for line in lines if line.startswith('from \\ to')][0])
    matrix = lines[start:start + 5]
    assert matrix[0] == 'from \\ to                           1          2          3          4'
    assert matrix[1] == '1 host-a checkout-service-host-a-1  -          3/3 ttl63  3/3 ttl62  3/3 ttl62'
    assert matrix[4].startswith('4 host-b checkout-service-host-b-2  3/3 ttl62')
    assert lines[start + 5].endswith('; columns numbered as the rows')


def dual_stack(hostvars, mode='bgp'):
    """The plan of HOSTVARS with an IPv6 underlay address on every host: its pods get ip6 from the pool."""
    hostvars = dict((h, dict(v, calico_node_address_v6='fd00:91::%d/64' % (i + 1))) for i, (h, v) in enumerate(sorted(hostvars.items())))
    return plan(hostvars, mode=mode, pool_v6='fd00:10:244::/48')


def test_the_ipv6_matrix_beside_the_ipv4_one_and_failures_named_by_family():
    lab = dual_stack(SEEDS)
    ip6 = dict((w['name'], w['ip6']) for h in lab for w in lab[h]['workloads'])
    pings = seeds_pings(lab)
    v6 = seeds_pings(lab, broken=[('netns01', 'netns03'), ('netns02', 'netns03'), ('netns04', 'netns03')])
    rows = dict((h, [dict(r, family='ipv4') for r in pings[h]] + [dict(r, family='ipv6', ip=ip6[r['target']]) for r in v6[h]])
                for h in pings)
    report = calico_verify.verify_report(rows, lab, expect_mode='bgp')
    assert report['families'] == ['ipv4', 'ipv6'] and report['pairs'] == 24 and not report['sampled']
    lines = report['lines']
    assert lines[:2] == ['full matrix: 12 of 12 ordered pod pairs probed over IPv4',
                         'full matrix: 12 of 12 ordered pod pairs probed over IPv6']
    assert 'host-a -> host-b over IPv4: 4/4 pairs ok, TTL 62, via eth0 (plain)' in lines
    assert 'host-a -> host-b over IPv6: 2/4 pairs ok, hop limit 62, via eth0 (plain)' in lines
    start = lines.index('IPv6:')
    assert lines[start + 3] == 'host-a netns01  -         3/3 hl63  0/3      3/3 hl62'
    assert lines[start + 7].startswith('cells: replies/requests, reply hop limit (hl) (63 same host')
    # netns03 is the one pod broken, and only over IPv6: one failure, naming it and the family.
    assert len(report['failures']) == 1, report['failures']
    assert report['failures'][0].startswith(
        'pod netns03 (host-b) over IPv6: 3 of its 6 probed pairs failed (0 as source of 3, 3 as target of 3), e.g. '
        'netns01 -> netns03 over IPv6 (fd00:10:244::41): no reply; host-a routes fd00:10:244::41 dev eth0, '
        'expected via fd00:91::2 dev eth0; next, on host-a: ip route get fd00:10:244::41, ip -n netns01 route get')
    # A hop limit off by one is judged as a TTL is.
    rows['host-a'][-1] = dict(rows['host-a'][-1], ttl=61)
    report = calico_verify.verify_report(rows, lab)
    assert any('netns02 -> netns04 over IPv6: hop limit 61, expected 62 (across hosts' in f for f in report['failures'])


def test_pairs_carry_ip6_where_both_pods_have_one_and_the_sample_covers_both_families():
    lab = dual_stack(SEEDS)
    full = calico_verify.verify_pairs(lab, 'host-a', 5000)
    assert full['targets'][0] == {'name': 'netns01', 'ip': '10.10.0.2', 'ip6': 'fd00:10:244::1'}
    big = calico_lab.calico_lab_plan(
        dict(('s%d' % h, {'calico_node_address': '192.168.60.%d/24' % h, 'calico_node_address_v6': 'fd00:60::%d/64' % h,
                          'calico_workloads': [{'name': 's%dp%d' % (h, p)} for p in range(1, 65)]}) for h in range(1, 5)),
        ['s1', 's2', 's3', 's4'], pool='10.244.0.0/16', block_size=24, pool_v6='fd00:10:244::/48', block_size_v6=120)
    sample = [p for host in big for p in calico_verify.verify_pairs(big, host, 5000)['pairs']]
    assert sample and all(p.get('ip6') and p.get('ip') for p in sample)
    # A host without IPv6: its pods probe over IPv4 only, and no pod probes its pods over IPv6.
    for w in big['s4']['workloads']:
        del w['ip6']
    mixed = dict((host, calico_verify.verify_pairs(big, host, 5000)['pairs']) for host in big)
    names4 = set(w['name'] for w in big['s4']['workloads'])
    assert all('ip6' not in p for p in mixed['s4']) and all('ip6' not in p for h in mixed for p in mixed[h] if p['target'] in names4)
    assert any('ip6' in p for p in mixed['s1'])
    small = dual_stack(SEEDS)
    for w in small['host-b']['workloads']:
        del w['ip6']
    assert all('ip6' not in t for t in calico_verify.verify_pairs(small, 'host-b', 5000)['targets'])
