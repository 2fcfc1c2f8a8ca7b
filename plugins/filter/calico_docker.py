# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""calico_lab_provider: docker - the containers and --internal networks that make a lab's hosts,
computed once from the plan (docker_hosts turns them into community.docker tasks)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import json
import re

from ansible.errors import AnsibleFilterError

# What every object of a Docker lab carries: the lab's name, and what the object is.
LABEL_LAB = 'labnet.calico.lab'
LABEL_ROLE = 'labnet.calico.role'
LABEL_HOST = 'labnet.calico.host'
# The hash of everything a container is made from; a container whose label differs is made again.
LABEL_SPEC = 'labnet.calico.spec'
# A Docker object name, and the lab name that prefixes the networks' names.
NAME = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$')


def _network_name(lab, subnet):
    return '%s-%s' % (lab, str(subnet).replace('/', '-'))


def create_argv(container, image, capabilities, security_opts):
    """`docker create` for CONTAINER on its first network; the others are connected before it starts."""
    first = container['networks'][0]
    argv = ['docker', 'create', '--name', container['name'], '--hostname', container['hostname'], '--init',
            '--restart', 'no', '--network', first['name'], '--ip', first['ipv4_address'],
            # /run a tmpfs, as on a real host: a restarted container starts without the stale
            # /run/netns/<pod> files of mounts that went with its previous start.
            '--tmpfs', '/run']
    for capability in capabilities:
        argv += ['--cap-add', capability]
    for option in security_opts:
        argv += ['--security-opt', option]
    if container['role'] == 'router':
        argv += ['--sysctl', 'net.ipv4.ip_forward=1']
    for key, value in sorted(container['labels'].items()):
        argv += ['--label', '%s=%s' % (key, value)]
    return argv + [image, 'sleep', 'infinity']


def calico_docker_lab(plan, hosts, lab='lab', router=None, image='labnet-calico/host', capabilities=(),
                      security_opts=()):
    """{'networks': [...], 'containers': [...], 'routes': {...}} for the lab hosts HOSTS of PLAN.

    One --internal network per underlay subnet (Docker's gateway, its bridge, takes the subnet's last
    address); every host a container named after it, its first interface (eth0) on its subnet's network
    with calico_node_address. A lab on more than one subnet gets a router container (ROUTER, default
    <lab>-router) on every network at the subnet's first address, and each host a default route via it.
    """
    if not NAME.match(lab or ''):
        raise AnsibleFilterError('docker_hosts_lab: %r is not a Docker name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, 63 at most)'
                                 % (lab,))
    subnets, containers = {}, []
    for host in hosts:
        if host not in plan:
            raise AnsibleFilterError('%s is not a host of the lab plan' % host)
        item = plan[host]
        if not NAME.match(host):
            raise AnsibleFilterError('%s: a docker lab host is a container named after it, and this is not a Docker '
                                     'name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)' % host)
        if item['underlay_dev'] != 'eth0':
            raise AnsibleFilterError('%s: calico_underlay_dev: %s - a docker lab host has its underlay on eth0, the '
                                     'interface Docker gives its first network' % (host, item['underlay_dev']))
        subnet = ipaddress.ip_network(item['subnet'])
        if subnet.version != 4 or subnet.prefixlen > 29:
            raise AnsibleFilterError('%s: calico_node_address: %s - the docker provider needs an IPv4 subnet of at '
                                     'least 8 addresses (Docker gives the network a gateway address of its own)'
                                     % (host, item['node_address']))
        subnets.setdefault(subnet, []).append(host)
        containers.append({'name': host, 'hostname': host, 'role': 'host',
                           'networks': [{'name': _network_name(lab, subnet), 'ipv4_address': item['node_ip']}]})
    networks = []
    for subnet in sorted(subnets):
        gateway = subnet.broadcast_address - 1
        networks.append({'name': _network_name(lab, subnet), 'subnet': str(subnet), 'gateway': str(gateway)})
    routes = {}
    if len(subnets) > 1:
        router = router or '%s-router' % lab
        if router in hosts:
            raise AnsibleFilterError('%s: the router container of lab %s has the name of a lab host' % (router, lab))
        router_ips = dict((subnet, str(subnet.network_address + 1)) for subnet in subnets)
        taken = [(h, subnet) for subnet, names in subnets.items() for h in names
                 if plan[h]['node_ip'] in (router_ips[subnet], str(subnet.broadcast_address - 1))]
        if taken:
            host, subnet = taken[0]
            raise AnsibleFilterError('%s: calico_node_address: %s - on a docker lab of several subnets %s is the '
                                     'router\'s and %s Docker\'s gateway'
                                     % (host, plan[host]['node_address'], router_ips[subnet],
                                        subnet.broadcast_address - 1))
        containers.append({'name': router, 'hostname': router, 'role': 'router',
                           'networks': [{'name': _network_name(lab, subnet), 'ipv4_address': router_ips[subnet]}
                                        for subnet in sorted(subnets)]})
        for subnet, names in subnets.items():
            for host in names:
                routes[host] = router_ips[subnet]
    else:
        # A taken gateway address: Docker refuses the container, so say so here, before anything changes.
        for subnet, names in subnets.items():
            for host in names:
                if plan[host]['node_ip'] == str(subnet.broadcast_address - 1):
                    raise AnsibleFilterError('%s: calico_node_address: %s is the address the docker provider gives '
                                             'its network\'s gateway' % (host, plan[host]['node_address']))
    for container in containers:
        container['labels'] = {LABEL_LAB: lab, LABEL_ROLE: container['role'], LABEL_HOST: container['name']}
        spec = json.dumps([create_argv(container, image, capabilities, security_opts), container['networks']])
        container['labels'][LABEL_SPEC] = hashlib.sha256(spec.encode('utf-8')).hexdigest()[:12]
        container['create_argv'] = create_argv(container, image, capabilities, security_opts)
    return {'networks': networks, 'containers': containers, 'routes': routes,
            'labels': {LABEL_LAB: lab}}


def calico_docker_state(layout, inspected):
    """What to do to make the engine's containers (INSPECTED, `docker container inspect` output) LAYOUT's:
    {'stale': names made from another spec, or not of this lab - to remove; 'missing': containers of the
    layout to create (the stale ones among them); 'stopped': names of current containers to start}."""
    have = dict((item.get('Name', '').lstrip('/'), item) for item in inspected or [])
    stale, missing, stopped = [], [], []
    for container in layout['containers']:
        item = have.get(container['name'])
        if item is None:
            missing.append(container)
            continue
        labels = (item.get('Config') or {}).get('Labels') or {}
        if labels.get(LABEL_LAB) != container['labels'][LABEL_LAB]:
            raise AnsibleFilterError('%s: a container of that name runs and is not lab %s\'s (its %s label is %r); '
                                     'the docker provider leaves it alone - rename the host or remove it'
                                     % (container['name'], container['labels'][LABEL_LAB], LABEL_LAB,
                                        labels.get(LABEL_LAB)))
        if labels.get(LABEL_SPEC) != container['labels'][LABEL_SPEC]:
            stale.append(container['name'])
            missing.append(container)
        elif not (item.get('State') or {}).get('Running'):
            stopped.append(container['name'])
    return {'stale': stale, 'missing': missing, 'stopped': stopped}


class FilterModule(object):
    def filters(self):
        return {'calico_docker_lab': calico_docker_lab, 'calico_docker_state': calico_docker_state}
