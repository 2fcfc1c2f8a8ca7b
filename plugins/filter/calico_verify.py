# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What verify probes (the full matrix, or a sample at size) and how it judges the replies, over IPv4 and IPv6.

A pod pair is probed over every family both pods have (its ``ip``, its ``ip6``); each family gets its
own summary per host pair, matrix and failures. The IPv6 hop limit is judged as the IPv4 TTL is: both
start at 64 in the pod that answers and every host that forwards the reply takes one off.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.labnet.calico.plugins.filter.calico_lab import ROUTE_ENCAPSULATION, TUNNEL_DEVICES, peer_routes
from ansible_collections.labnet.calico.plugins.module_utils import calico_policy
from ansible_collections.labnet.calico.plugins.module_utils.ping import ENCAPSULATION_NAMES, row_result

# Up to this many ordered pod pairs verify probes every one; above it, a sample (verify_pairs).
DEFAULT_MAX_PAIRS = 5000
# The per-pod matrix is printed up to this many pods; above it only the summary per host pair.
MATRIX_PODS = 16
# Pod and host names up to this long head the matrix's columns; with a longer one, columns are numbered.
NAME_COLUMN = 14
# A pod's address of each family, as pod_ping's results name the family.
FAMILY_KEYS = (('ipv4', 'ip'), ('ipv6', 'ip6'))
FAMILY_NAMES = {'ipv4': 'IPv4', 'ipv6': 'IPv6'}


def _addresses(source, target):
    """pod_ping's address keys of a pair: those of the families both pods have (a pod without an IPv6
    address cannot send over IPv6)."""
    return dict((key, target[key]) for _fam, key in FAMILY_KEYS if source.get(key) and target.get(key))


def _targets(plan, host):
    """pod_ping's targets for HOST's pods in the full matrix: every pod, with the families HOST's pods have."""
    keys = [key for _fam, key in FAMILY_KEYS if any(w.get(key) for w in plan[host]['workloads'])]
    found = []
    for _h, w in _pods(plan):
        item = dict((key, w[key]) for key in keys if w.get(key))
        if item:
            item['name'] = w['name']
            found.append(item)
    return found


def _pods(plan):
    """[(host, pod)] of the lab in plan order: hosts sorted, pods as the inventory lists them."""
    return [(host, w) for host in sorted(plan) for w in plan[host]['workloads']]


def _icmp_allowed(plan, policies):
    """{(source, target): the address keys of the families whose ICMP echo the policies allow} of the ordered
    pod pairs with at least one (calico_policy.verdict, each family judged apart)."""
    normalized = calico_policy.normalize(policies)
    pods = [w for _host, w in _pods(plan)]
    allowed = {}
    for s in pods:
        for t in pods:
            keys = [key for family, key in ((4, 'ip'), (6, 'ip6')) if s['name'] != t['name'] and s.get(key)
                    and t.get(key) and calico_policy.verdict(normalized, s, t, 1 if family == 4 else 58,
                                                             None, family)[0] == 'allow']
            if keys:
                allowed[(s['name'], t['name'])] = keys
    return allowed


def verify_pairs(plan, host, max_pairs=DEFAULT_MAX_PAIRS, policies=None):
    """With POLICIES (calico_policies), only the pairs they allow to ping, always as listed pairs.

    HOST may be a list of hosts: then {host: its pairs}, the lab's sample and the policies' verdicts worked
    out once for all (verify sets them for every host in one task)."""
    if isinstance(host, (list, tuple)):
        sample = _lab_sample(plan, max_pairs)
        allowed = _icmp_allowed(plan, policies) if policies else None
        return dict((h, _with_policies(plan, h, _verify_pairs(plan, h, max_pairs, sample), policies, allowed))
                    for h in host)
    return _with_policies(plan, host, _verify_pairs(plan, host, max_pairs), policies)


def _with_policies(plan, host, chosen, policies, allowed=None):
    """CHOSEN (HOST's pairs) cut to those POLICIES allow to ping (ALLOWED: their verdicts, if worked out)."""
    if not policies:
        return chosen
    allowed = allowed if allowed is not None else _icmp_allowed(plan, policies)
    pods = _pods(plan)
    if not chosen['sampled']:
        chosen['pairs'] = [dict(_addresses(s, t), source=s['netns'], target=t['name'])
                           for h, s in pods if h == host for _h, t in pods if s['name'] != t['name']]
        chosen['pairs'] = [p for p in chosen['pairs'] if len(p) > 2]
        chosen['targets'] = []
    netns_pod = dict((w['netns'], w['name']) for _h, w in pods)
    # A pair pings over the families the policies allow it, and is left out when they allow none.
    chosen['pairs'] = [dict((k, v) for k, v in p.items() if k not in ('ip', 'ip6')
                            or k in allowed[(netns_pod[p['source']], p['target'])])
                       for p in chosen['pairs'] if (netns_pod[p['source']], p['target']) in allowed]
    chosen['lab_pairs'] = len(allowed) if not chosen['sampled'] else chosen['lab_pairs']
    chosen['sampled'] = True
    return chosen


def _lab_sample(plan, max_pairs):
    """The ordered pod pairs (index, index) of the lab's sample (_verify_pairs), or None for the full matrix."""
    pods = _pods(plan)
    n = len(pods)
    if n * (n - 1) <= max_pairs:
        return None
    k = max(1, min(n - 1, max_pairs // n))
    offsets = sorted(set(1 + (step * (n - 1)) // k for step in range(k)))
    chosen = set((i, (i + d) % n) for i in range(n) for d in offsets)
    by_host = {}
    for index, (pod_host, _w) in enumerate(pods):
        by_host.setdefault(pod_host, []).append(index)
    hosts = sorted(by_host)
    for a, host_a in enumerate(hosts):
        for b, host_b in enumerate(hosts):
            if a != b:
                chosen.add((by_host[host_a][b % len(by_host[host_a])], by_host[host_b][a % len(by_host[host_b])]))
    return sorted(chosen)


def _verify_pairs(plan, host, max_pairs=DEFAULT_MAX_PAIRS, sample=False):
    """What HOST's pods probe: {'sampled', 'total', 'pairs' (this host's), 'lab_pairs' (all hosts)}.

    Up to MAX_PAIRS ordered pairs in the lab: every pod to every other pod. Above it, a deterministic
    sample of about MAX_PAIRS: the pods in plan order P0..Pn-1, each Pi probes P(i+d) mod n for k
    offsets d spread evenly over 1..n-1 (k = MAX_PAIRS // n, at least 1) - every pod is a source k times
    and a target k times - and for every ordered pair of hosts with pods (A, B) the pair from A's pod
    number (index of B mod A's pods) to B's pod number (index of A mod B's pods), so every ordered host
    pair is probed. ``pairs``: pod_ping's pairs (source netns, target name, ip, ip6) of HOST when sampled,
    else empty (the full matrix: its pods to every pod, pod_ping's sources and ``targets``). A pair
    carries the address of each family both its pods have, so the sample covers IPv4 and IPv6 alike.
    """
    pods = _pods(plan)
    n = len(pods)
    total = n * (n - 1)
    chosen = _lab_sample(plan, max_pairs) if sample is False else sample   # SAMPLE: _lab_sample's, worked out once
    if chosen is None:
        return {'sampled': False, 'total': total, 'lab_pairs': total, 'pairs': [],
                'targets': _targets(plan, host) if host in plan else []}
    mine = [dict(_addresses(pods[i][1], pods[j][1]), source=pods[i][1]['netns'], target=pods[j][1]['name'])
            for i, j in chosen if pods[i][0] == host]
    return {'sampled': True, 'total': total, 'lab_pairs': len(chosen), 'pairs': [p for p in mine if len(p) > 2],
            'targets': []}


def _tunnel_packets(link_stats):
    """{device: (tx, rx) packets} of the tunnel devices in ``ip -s -j link show`` output."""
    if isinstance(link_stats, str):
        link_stats = json.loads(link_stats) if link_stats.strip() else []
    counters = {}
    for link in link_stats or []:
        if link.get('ifname') in TUNNEL_DEVICES and 'stats64' in link:
            counters[link['ifname']] = (link['stats64']['tx']['packets'], link['stats64']['rx']['packets'])
    return counters


def _expected_route(plan, host, target, mode, fam='ipv4'):
    """How HOST should route the pod TARGET: 'dev cali...' on the same host, else its peer route (of
    the peer's IPv6 block over IPv6)."""
    for w in plan[host]['workloads']:
        if w['name'] == target:
            return 'dev %s' % w['host_ifname']
    block = 'block' if fam == 'ipv4' else 'block_v6'
    for peer in plan[host]['peers']:
        if any(w['name'] == target for w in plan.get(peer['name'], {}).get('workloads', [])):
            routes = [r for r in peer_routes(plan[host], mode) if peer.get(block) and r.get('dest') == peer[block]]
            if not routes:
                return None
            route = routes[0]
            return 'via %s dev %s%s' % (route['via'], route['dev'], ' onlink' if route.get('onlink') else '')
    return None


def _route_found(r):
    """The route pod_ping recorded: how the source's host routed the target (ip route get)."""
    if not r.get('host_dev'):
        return 'no route'
    return '%sdev %s' % ('via %s ' % r['host_gateway'] if r.get('host_gateway') else '', r['host_dev'])


def _pair_problem(r, same_host, label=''):
    """Why one pod_ping result fails, or None. LABEL names the family (' over IPv6') in a dual-stack lab;
    the IPv6 hop limit must be what the TTL must be."""
    want_ttl = 63 if same_host else 62
    pair = '%s -> %s%s' % (r['source'], r['target'], label)
    if not r['ok']:
        reason = '; '.join(e for e in r.get('error') or [] if e != 'no reply')
        return '%s (%s): no reply%s' % (pair, r['ip'], ' (%s)' % reason if reason else '')
    if r['received'] < r['sent']:
        return '%s: %d of %d replies' % (pair, r['received'], r['sent'])
    if r['ttl'] != want_ttl:
        path = 'same host: one hop' if same_host else 'across hosts: host, peer host, pod'
        what = 'hop limit' if _family(r) == 'ipv6' else 'TTL'
        return '%s: %s %s, expected %d (%s)' % (pair, what, r['ttl'], want_ttl, path)
    return None


def _family(r):
    """The family of a pod_ping result (results from before IPv6 carry none: IPv4)."""
    return r.get('family') or 'ipv4'


def _label(fam, families):
    """' over IPv6' (or IPv4) when the lab probes more than one family or only IPv6, else ''."""
    return '' if families == ['ipv4'] else ' over %s' % FAMILY_NAMES[fam]


def _route_hint(r, host, plan, mode):
    """What follows a failed pair: the route HOST's kernel chose, the one the plan expects, the next command."""
    expected = _expected_route(plan, host, r['target'], mode, _family(r)) if host in plan else None
    return ('; %s routes %s %s%s; next, on %s: ip route get %s, ip -n %s route get %s (docs/troubleshooting.md)'
            % (host, r['ip'], _route_found(r), ', expected %s' % expected if expected else '', host,
               r['ip'], r['source'], r['ip']))


def _failures_by_pod(failed, pod_host, involved, label=''):
    """Name the pods that explain the failed pairs: the pod in most failed pairs first, its pairs set
    aside, and again until none is left. failed: [(source pod, target pod, problem)] of one family,
    which LABEL names (' over IPv6') after the pod."""
    lines = []
    left = list(failed)
    while left:
        count = {}
        for source, target, _problem in left:
            count[source] = count.get(source, 0) + 1
            count[target] = count.get(target, 0) + 1
        pod = sorted(count, key=lambda p: (-count[p], p))[0]
        mine = [f for f in left if pod in f[:2]]
        as_source = sum(1 for f in mine if f[0] == pod)
        lines.append('pod %s (%s)%s: %d of its %d probed pairs failed (%d as source of %d, %d as target of %d), e.g. %s'
                     % (pod, pod_host.get(pod), label, len(mine), sum(involved[pod]), as_source, involved[pod][0],
                        len(mine) - as_source, involved[pod][1], mine[0][2]))
        left = [f for f in left if pod not in f[:2]]
    return lines


def _matrix(plan, cells, fam='ipv4'):
    """The per-pod matrix, pods grouped by host: rows 'host pod', columns headed by host and pod - or,
    when a name is longer than NAME_COLUMN, by the row's number - each column as wide as its widest entry."""
    pods = _pods(plan)
    numbered = any(len(w['name']) > NAME_COLUMN or len(host) > NAME_COLUMN for host, w in pods)
    rows = ['%s%s %s' % ('%d ' % (i + 1) if numbered else '', host, w['name']) for i, (host, w) in enumerate(pods)]
    table = [[cells.get((s['name'], t['name']), '-') for _h, t in pods] for _host, s in pods]
    # A host heads the first column of its pods.
    heads = [[str(i + 1)] if numbered else [host if i == 0 or pods[i - 1][0] != host else '', w['name']]
             for i, (host, w) in enumerate(pods)]
    widths = [max(len(text) for text in heads[c] + [row[c] for row in table]) for c in range(len(pods))]
    label = max(len(text) for text in rows + ['from \\ to'])
    lines = []
    for level in range(len(heads[0])):
        first = 'from \\ to' if level == 0 else ''
        lines.append((first.ljust(label) + '  ' + '  '.join(h[level].ljust(w) for h, w in zip(heads, widths))).rstrip())
    for row, cells_of_row in zip(rows, table):
        lines.append((row.ljust(label) + '  ' + '  '.join(c.ljust(w) for c, w in zip(cells_of_row, widths))).rstrip())
    lines.append('cells: replies/requests, reply %s (63 same host, 62 across hosts), T = routed into a tunnel'
                 % ('hop limit (hl)' if fam == 'ipv6' else 'TTL')
                 + ('; columns numbered as the rows' if numbered else ''))
    return lines


def _tunnelled(expected, host, peer, dev, sent, received):
    """Add the packets of SENT requests and RECEIVED replies through tunnel DEV to EXPECTED (both ends)."""
    expected[host][dev][0] += sent           # our requests leave through the tunnel
    expected[host][dev][1] += received       # their replies come back through it
    if peer in expected:                     # the peer received and answered them
        expected[peer][dev][0] += received
        expected[peer][dev][1] += received


def verify_report(pings, plan, links_before=None, links_after=None, expect_mode=None, captures=None):
    """Judge the lab from pod_ping results of every host.

    pings: host -> pod_ping results (or rows); links_before/after: host -> ``ip -s -j link show`` output, taken
    on every host before and after all the pings; captures: host -> pod_ping's captured results, whose
    probes ran between the two readings too (their tunnelled packets are expected in the counters). Returns {'lines', 'failures', 'mode', 'pairs', 'sampled',
    'families'}: per family (IPv4, then IPv6), a summary per ordered host pair (pairs ok/probed, reply
    TTLs or hop limits, the path) and the matrix of every pod when there are at most MATRIX_PODS;
    failures named by pod and family first, then tunnel counter checks (both families' tunnels).
    """
    links_before, links_after = links_before or {}, links_after or {}
    pod_host = dict((w['name'], host) for host, item in plan.items() for w in item['workloads'])
    lab_pods = _pods(plan)
    # pod_ping's results, or its rows (text, at size)
    results = [(host, row_result(r) if isinstance(r, str) else r) for host in sorted(pings) for r in pings[host] or []]
    families = [fam for fam, key in FAMILY_KEYS
                if any(w.get(key) for _h, w in lab_pods) or any(_family(r) == fam for _h, r in results)] or ['ipv4']
    failures, lines = [], []
    cells = dict((fam, {}) for fam in families)
    failed = dict((fam, []) for fam in families)
    summary = {}   # (host, peer host, family) -> [ok, probed, ttls, devices]
    # family -> pod -> [pairs as source, pairs as target]
    involved = dict((fam, dict((w['name'], [0, 0]) for _h, w in lab_pods)) for fam in families)
    # host -> device -> [packets out, packets in] the pings must have put through the tunnel
    expected = dict((host, dict((dev, [0, 0]) for dev in TUNNEL_DEVICES)) for host in plan)
    used = set()
    probed = dict((fam, 0) for fam in families)
    matrix = len(lab_pods) <= MATRIX_PODS
    for host, r in results:
        fam = _family(r)
        probed[fam] += 1
        peer = pod_host.get(r['target'])
        dev = r.get('host_dev') if r.get('host_dev') in TUNNEL_DEVICES else None
        if matrix:  # only printed up to MATRIX_PODS: not a string per pair of a large lab
            cells[fam][(r['source'], r['target'])] = ('%d/%d' % (r['received'], r['sent'])
                                                      + (' %s%s' % ('hl' if fam == 'ipv6' else 'ttl', r['ttl']) if r['ttl'] else '')
                                                      + (' T' if dev else ''))
        problem = _pair_problem(r, peer == host, _label(fam, families))
        entry = summary.setdefault((host, peer, fam), [0, 0, set(), set()])
        entry[0] += 0 if problem else 1
        entry[1] += 1
        entry[2].update([r['ttl']] if r['ttl'] else [])
        entry[3].add('cali*' if (r.get('host_dev') or '').startswith('cali') else r.get('host_dev') or '?')
        for index, pod in ((0, r['source']), (1, r['target'])):
            involved[fam].setdefault(pod, [0, 0])[index] += 1
        if problem:
            failed[fam].append((r['source'], r['target'], problem, r, host))
        if dev:
            used.add(dev)
            _tunnelled(expected, host, peer, dev, r['sent'], r['received'])
    for host in sorted(captures or {}):
        for r in captures[host] or []:
            if r.get('route_dev') in TUNNEL_DEVICES and host in expected:
                _tunnelled(expected, host, pod_host.get(r['target']), r['route_dev'], r['sent'], r['received'])
    sampled = False
    if families == ['ipv6']:
        # An IPv6-only lab: say so, rather than an empty IPv4 matrix that reads as passing nothing.
        lines.append('no IPv4 in this lab: IPv6 only')
    for fam in families:
        key = dict(FAMILY_KEYS)[fam]
        having = len(lab_pods) if families == ['ipv4'] else len([w for _h, w in lab_pods if w.get(key)])
        total = having * (having - 1)
        sampled = sampled or probed[fam] < total
        kind = 'sample' if probed[fam] < total else 'full matrix'
        lines.append('%s: %d of %d ordered pod pairs probed%s' % (kind, probed[fam], total, _label(fam, families)))
    for (host, peer, fam), (ok, count, ttls, devs) in sorted(
            summary.items(), key=lambda item: (families.index(item[0][2]), item[0][0], str(item[0][1]))):
        encapsulation = sorted(set(ENCAPSULATION_NAMES[ROUTE_ENCAPSULATION.get(d, 'none')] for d in devs))
        lines.append('%s -> %s%s: %d/%d pairs ok, %s %s, via %s (%s)'
                     % (host, peer, _label(fam, families), ok, count, 'hop limit' if fam == 'ipv6' else 'TTL',
                        ','.join(str(t) for t in sorted(ttls)) or 'none', ','.join(sorted(devs)), ' and '.join(encapsulation)))
    if matrix:
        for fam in families:
            if len(families) > 1 or fam != 'ipv4':
                lines.append('%s:' % FAMILY_NAMES[fam])
            lines.extend(_matrix(plan, cells[fam], fam))
    mode = 'ipip' if 'tunl0' in used else 'vxlan' if used & set(('vxlan.calico', 'vxlan-v6.calico')) else 'bgp'
    for fam in families:
        named = [(source, target, problem + _route_hint(r, host, plan, expect_mode or mode))
                 for source, target, problem, r, host in failed[fam]]
        failures.extend(_failures_by_pod(named, pod_host, involved[fam], _label(fam, families)))
    if expect_mode and expect_mode != mode and len(plan) > 1:
        failures.append('the routes say %s mode, expected %s' % (mode, expect_mode))
    for host in sorted(plan):
        before, after = _tunnel_packets(links_before.get(host)), _tunnel_packets(links_after.get(host))
        for dev in TUNNEL_DEVICES:
            want = expected[host][dev]
            if dev not in before or dev not in after:
                if want != [0, 0]:
                    failures.append('%s: routes use %s but its counters could not be read' % (host, dev))
                continue
            delta = [after[dev][0] - before[dev][0], after[dev][1] - before[dev][1]]
            lines.append('%s %s: %d packets out, %d in during the pings (expected %d and %d)'
                         % (host, dev, delta[0], delta[1], want[0], want[1]))
            if delta != want:
                failures.append('%s: %s carried %d/%d packets out/in, expected %d/%d: %s'
                                % (host, dev, delta[0], delta[1], want[0], want[1],
                                   'traffic bypassed the tunnel' if delta[0] < want[0]
                                   else 'traffic went through the tunnel that should not have'))
    return {'lines': lines, 'failures': failures, 'mode': mode, 'pairs': sum(probed.values()), 'sampled': sampled,
            'families': families}


class FilterModule(object):
    def filters(self):
        return {
            'calico_verify_pairs': verify_pairs,
            'calico_verify_report': verify_report,
        }
