# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # What every module of the collection shares: check mode and diff mode in full, Linux only.
    # Read-only modules list READ_ONLY first (the first fragment wins), for check and diff mode.
    DOCUMENTATION = r'''
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: linux
requirements:
  - Linux, root (C(CAP_NET_ADMIN))
  - iproute2 (C(ip) with JSON output, C(ip -j))
'''

    READ_ONLY = r'''
attributes:
  check_mode:
    description: Changes nothing, so it runs the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so it has no diff.
    support: none
'''

    # Modules that change something (or measure) but have no diff to show.
    NO_DIFF = r'''
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Has no diff to show.
    support: none
'''
