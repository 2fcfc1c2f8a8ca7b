# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What verify probes to test the lab's network policy, and how it judges the answers against the model.
Each family is probed and judged apart: IPv4 between every pair of pods, IPv6 between pods that both have an ip6."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.labnet.calico.plugins.module_utils.calico_policy import (
    address, expected_matrix, normalize, probe_services,
)
from ansible_collections.labnet.calico.plugins.module_utils.ipfamily import FAMILIES, family_of

FAMILY_NAME = {4: 'IPv4', 6: 'IPv6'}


def _pods(plan):
    return [(host, w) for host in sorted(plan) for w in plan[host]['workloads']]


def _label(protocol, port):
    return protocol if port is None else '%s/%d' % (protocol, port)


def policy_probes(plan, host, policies):
    """{'listen': pod_probe's listen list of HOST's pods, 'probes': its probes (ICMP and every port the
    policies name, from each of HOST's pods to every other pod, over IPv4 and over IPv6 where both pods
    have an address of it), 'services': the labels}."""
    normalized = normalize(policies)
    services = probe_services(normalized)
    mine = plan[host]['workloads']
    listen = [{'netns': w['netns'], 'protocol': proto, 'port': port} for w in mine for proto, port in services]
    probes = []
    for family in FAMILIES:
        for source in mine:
            for _h, target in _pods(plan):
                if target['name'] == source['name'] or not (address(source, family) and address(target, family)):
                    continue
                for proto, port in [('icmp', None)] + services:
                    probe = {'source': source['netns'], 'target': target['name'], 'ip': address(target, family),
                             'protocol': proto}
                    if port is not None:
                        probe['port'] = port
                    probes.append(probe)
    return {'listen': listen, 'probes': probes,
            'services': [_label(p, n) for p, n in [('icmp', None)] + services]}


def _letter(verdict):
    return {'allow': 'A', 'deny': 'D'}.get(verdict, '?')


def _matrix_lines(family, names, cells, services):
    width = max([len(n) for n in names] + [len('from \\ to')])
    columns = dict((t, max([len(t)] + [len(' '.join(cells.get((s, t, x), '-') for x in services)) for s in names]))
                   for t in names)
    lines = ['policy matrix %s, each cell: %s (A allowed, D denied; E>G: expected E, got G)'
             % (FAMILY_NAME[family], ' '.join(services)),
             ('from \\ to'.ljust(width) + '  ' + '  '.join(t.ljust(columns[t]) for t in names)).rstrip()]
    for s in names:
        row = ['.'.ljust(columns[t]) if s == t else ' '.join(cells.get((s, t, x), '-') for x in services).ljust(columns[t])
               for t in names]
        lines.append((s.ljust(width) + '  ' + '  '.join(row)).rstrip())
    return lines


def policy_report(results, plan, policies):
    """Judge pod_probe's results of every host (RESULTS: host -> results) against the model, per family.
    Returns {'lines' (a matrix per family, expected against actual), 'failures', 'cells', 'services',
    'families' ({'IPv4': cells, 'IPv6': cells} of the families probed)}."""
    normalized = normalize(policies)
    pods = [w for _h, w in _pods(plan)]
    services = [_label(p, n) for p, n in [('icmp', None)] + probe_services(normalized)]
    netns_pod = dict((w['netns'], w['name']) for w in pods)
    actual = {}
    for host in sorted(results):
        for r in results[host] or []:
            key = (family_of(r['ip']), netns_pod.get(r['source'], r['source']), r['target'],
                   _label(r['protocol'], r.get('port')))
            actual[key] = ('allow', r['state']) if r['state'] == 'open' else \
                ('deny', r['state']) if r['state'] == 'timeout' else ('error', r['state'])
    failures, lines, counts = [], [], {}
    for family in FAMILIES:
        expected = expected_matrix(normalized, pods, family)
        if not expected:
            continue
        counts[FAMILY_NAME[family]] = len(expected)
        cells = {}
        for key in sorted(expected):
            want, why = expected[key]
            got, state = actual.get((family,) + key, ('missing', 'not probed'))
            cells[key] = _letter(want) if got == want else '%s>%s' % (_letter(want), _letter(got))
            if got != want:
                failures.append('%s -> %s %s over %s: expected %s (%s), got %s (%s)'
                                % (key[0], key[1], key[2], FAMILY_NAME[family], want, why, got, state))
        lines += _matrix_lines(family, [w['name'] for w in pods if address(w, family)], cells, services)
    return {'lines': lines, 'failures': failures, 'cells': sum(counts.values()), 'services': services,
            'families': counts}


class FilterModule(object):
    def filters(self):
        return {
            'calico_policy_probes': policy_probes,
            'calico_policy_report': policy_report,
        }
