# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pictures of the lab from its plan and its measurements: the seeds' kind of ASCII drawing, a topology
diagram (SVG written here, no library), a throughput chart (PNG, matplotlib, imported only when drawn)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from xml.sax.saxutils import escape

from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError

MODE_TEXT = {'bgp': 'BGP - pod blocks routed via the peer\'s node address', 'ipip': 'IPIP - pod blocks via tunl0 onlink',
             'vxlan': 'VXLAN - pod blocks via %s onlink', 'any': 'mode not known'}


def _v6_only(item):
    """An IPv6-only host (the plan has None in its IPv4 keys): drawn with its IPv6 values in their places."""
    return not item['node_address']


def _shown(item):
    """(node address, block, pod address key, VXLAN device) a host is drawn with."""
    if _v6_only(item):
        return item['node_address_v6'], item['block_v6'], 'ip6', 'vxlan-v6.calico'
    return item['node_address'], item['block'], 'ip', 'vxlan.calico'


def _vxlan_devices(plan):
    """The VXLAN devices of the lab: vxlan.calico on hosts with IPv4, vxlan-v6.calico on hosts with IPv6."""
    return [dev for dev, present in (('vxlan.calico', any(not _v6_only(i) for i in plan.values())),
                                     ('vxlan-v6.calico', any(i.get('node_address_v6') for i in plan.values())))
            if present]


def _mode_text(plan, mode):
    text = MODE_TEXT.get(mode, mode)
    return text % ' and '.join(_vxlan_devices(plan)) if mode == 'vxlan' else text


def _tunnel(plan, mode):
    """What joins the hosts in a tunnel mode (None in BGP mode or a mode not known)."""
    if mode == 'ipip':
        return 'tunl0 (IP-in-IP)'
    if mode == 'vxlan':
        return '%s (VXLAN, VNI 4096)' % ' and '.join(_vxlan_devices(plan))
    return None


def _subnets(plan):
    """[(subnet, [host, ...])] in order of first appearance (hosts sorted)."""
    found = []
    for host in sorted(plan):
        subnet = plan[host]['subnet'] or plan[host].get('subnet_v6')  # the IPv6 one in an IPv6-only lab
        for item in found:
            if item[0] == subnet:
                item[1].append(host)
                break
        else:
            found.append((subnet, [host]))
    return found


ASCII_PER_ROW = 2   # boxes side by side: a line stays short enough for the YAML callback not to fold it


def _ascii_box(item, host, mode):
    address, block, pod_ip, vxlan = _shown(item)
    lines = [host, address, 'block %s' % block]
    for w in item['workloads']:
        lines += ['[%s %s]' % (w['name'], w[pod_ip]), '  veth %s' % w['host_ifname']]
    if mode in ('ipip', 'vxlan'):
        lines.append('%s %s' % ('tunl0' if mode == 'ipip' else vxlan,
                                item['tunnel_address_v6' if _v6_only(item) else 'tunnel_address']))
    lines.append(item['underlay_dev'])
    width = max(len(line) for line in lines) + 2
    return (['+' + '-' * width + '+'] + ['| ' + line.ljust(width - 1) + '|' for line in lines]
            + ['+' + '-' * width + '+'])


def lab_ascii(plan, mode='any'):
    """The lab as the seeds draw it: each host a box with its address, block and pods (their veths), the
    hosts of one underlay subnet side by side (two to a row) above a line that names the subnet."""
    if not plan:
        raise LabError('the plan has no hosts')
    tunnel = _tunnel(plan, mode)
    out = ['Lab (%s)' % _mode_text(plan, mode)]
    subnets = _subnets(plan)
    for subnet, hosts in subnets:
        span = 0
        for first in range(0, len(hosts), ASCII_PER_ROW):
            group = [_ascii_box(plan[h], h, mode) for h in hosts[first:first + ASCII_PER_ROW]]
            height = max(len(b) for b in group)
            # Boxes of one row as tall as the tallest (blank lines above the bottom border).
            group = [b[:-1] + ['|' + ' ' * (len(b[0]) - 2) + '|'] * (height - len(b)) + b[-1:] for b in group]
            for row in range(height):
                out.append('   '.join(b[row] for b in group).rstrip())
            out.append('   '.join(' ' * (len(b[0]) // 2) + '|' + ' ' * (len(b[0]) - len(b[0]) // 2 - 1)
                                  for b in group).rstrip())
            span = max(span, sum(len(b[0]) for b in group) + 3 * (len(group) - 1))
        out.append('=' * span)
        out.append('underlay %s' % subnet)
    if len(subnets) > 1:
        out.append('(the subnets are joined by a router)')
    if tunnel:
        out.append('between hosts: %s' % tunnel)
    return out


def topology_svg(plan, mode='any', title=None):
    """An SVG document of the lab: underlay subnets as bars, hosts on them with their pods and
    addresses, the tunnels (or BGP routes) between hosts, the routing mode in the title."""
    if not plan:
        raise LabError('the plan has no hosts')
    hosts = sorted(plan)
    box_w, pod_h, gap = 230, 18, 40
    tallest = max(len(plan[h]['workloads']) for h in hosts)
    box_h = 70 + pod_h * tallest
    subnets = _subnets(plan)
    width = max(640, gap + len(hosts) * (box_w + gap))
    top = 110
    height = top + box_h + 60 + 40 * len(subnets) + 40
    x_of = dict((h, gap + i * (box_w + gap)) for i, h in enumerate(hosts))
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'font-family="monospace" font-size="12">' % (width, height, width, height),
             '<rect x="0" y="0" width="%d" height="%d" fill="white"/>' % (width, height),
             '<text x="%d" y="28" font-size="16" font-weight="bold">%s</text>'
             % (gap, escape(title or 'labnet.calico lab - %s' % _mode_text(plan, mode)))]
    # Between hosts: a tunnel (dashed) or a BGP route (plain) from each host to the next ones.
    tunnel = _tunnel(plan, mode)
    arc_y = 70
    for i, host in enumerate(hosts):
        for other in hosts[i + 1:]:
            x1, x2 = x_of[host] + box_w // 2, x_of[other] + box_w // 2
            dash = ' stroke-dasharray="6,4"' if tunnel else ''
            parts.append('<path d="M %d %d Q %d %d %d %d" fill="none" stroke="#c05000" stroke-width="2"%s/>'
                         % (x1, top, (x1 + x2) // 2, arc_y - 20 * (hosts.index(other) - i - 1), x2, top, dash))
    between = tunnel or ('routes via the peers\' node addresses' if mode == 'bgp' else 'routes (mode not known)')
    parts.append('<text x="%d" y="50" fill="#c05000">%s</text>' % (gap, escape('between hosts: %s' % between)))
    for host in hosts:
        item, x = plan[host], x_of[host]
        address, block, pod_ip, _vxlan = _shown(item)
        parts.append('<g class="host" id="%s">' % escape(host))
        parts.append('<rect x="%d" y="%d" width="%d" height="%d" rx="8" fill="#eef4ff" stroke="#203060"/>'
                     % (x, top, box_w, box_h))
        parts.append('<text x="%d" y="%d" font-weight="bold">%s</text>' % (x + 8, top + 18, escape(host)))
        parts.append('<text x="%d" y="%d">%s %s</text>'
                     % (x + 8, top + 34, escape(item['underlay_dev']), escape(address)))
        parts.append('<text x="%d" y="%d">block %s</text>' % (x + 8, top + 50, escape(block)))
        for j, w in enumerate(item['workloads']):
            y = top + 58 + j * pod_h
            parts.append('<rect class="pod" x="%d" y="%d" width="%d" height="%d" fill="#d8f0d8" stroke="#307030"/>'
                         % (x + 8, y, box_w - 16, pod_h - 2))
            parts.append('<text x="%d" y="%d">%s %s</text>' % (x + 12, y + 12, escape(w['name']), escape(w[pod_ip])))
        parts.append('</g>')
    for k, (subnet, members) in enumerate(subnets):
        y = top + box_h + 40 + 40 * k
        xs = [x_of[h] for h in members]
        parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#404040" stroke-width="6"/>'
                     % (min(xs), y, max(xs) + box_w, y))
        parts.append('<text x="%d" y="%d">underlay %s</text>' % (min(xs), y + 18, escape(subnet)))
        for h in members:
            parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#404040" stroke-width="2"/>'
                         % (x_of[h] + box_w // 2, top + box_h, x_of[h] + box_w // 2, y))
    if len(subnets) > 1:
        parts.append('<text x="%d" y="%d">the subnets are joined by a router</text>' % (gap, height - 12))
    parts.append('</svg>')
    return '\n'.join(parts) + '\n'


def chart_rows(documents):
    """(labels, modes, {mode: [Mbit/s or None per label]}) from measure-<mode>.json documents:
    a label per kind and path (underlay, same-host, cross-host plain / IP-in-IP / VXLAN)."""
    labels, values = [], {}
    modes = [d['mode'] for d in documents]
    for document in documents:
        for entry in document['entries']:
            label = entry['kind'] if entry['kind'] != 'cross-host' else 'cross-host %s' % (entry.get('path') or '')
            label = label.strip()
            if label not in labels:
                labels.append(label)
    for document in documents:
        by_label = {}
        for entry in document['entries']:
            label = (entry['kind'] if entry['kind'] != 'cross-host' else 'cross-host %s' % (entry.get('path') or '')).strip()
            by_label.setdefault(label, entry.get('mbit_s'))
        values[document['mode']] = [by_label.get(label) for label in labels]
    return labels, modes, values


def throughput_png(documents, path):
    """A grouped bar chart of Mbit/s per kind and path, one bar per mode, written to PATH (PNG)."""
    if not documents:
        raise LabError('no measurements to chart')
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        raise LabError('matplotlib is not installed where the report is written (pip install matplotlib; '
                       'tests/requirements.txt has it)')
    labels, modes, values = chart_rows(documents)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.6 * len(labels) + 2), 4.2), dpi=100)
    width = 0.8 / max(1, len(modes))
    for index, mode in enumerate(modes):
        xs = [i + (index - (len(modes) - 1) / 2.0) * width for i in range(len(labels))]
        heights = [v or 0 for v in values[mode]]
        drawn = axes.bar(xs, heights, width, label=mode)
        for rect, value in zip(drawn, values[mode]):
            if value:
                axes.annotate('%.0f' % value, (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                              ha='center', va='bottom', fontsize=8)
    axes.set_xticks(range(len(labels)))
    axes.set_xticklabels(labels)
    axes.set_ylabel('TCP throughput, Mbit/s (iperf3)')
    axes.set_title('Throughput per path and mode')
    axes.legend(title='mode')
    figure.tight_layout()
    figure.savefig(path, format='png')
    plt.close(figure)
    return path
