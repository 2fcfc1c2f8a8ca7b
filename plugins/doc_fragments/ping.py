# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The bounds every pinging module shares (module_utils/ping.py: ping_argument_spec).
    DOCUMENTATION = r'''
options:
  interval:
    description:
      - Seconds between rounds of requests (C(ping -i)), at least 0.01; a round also waits for the previous round's replies.
    type: float
    default: 0.2
  deadline:
    description: Seconds after which a ping gives up, whatever it received (1-30).
    type: int
    default: 5
'''
