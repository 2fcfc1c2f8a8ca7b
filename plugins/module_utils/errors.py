# -*- coding: utf-8 -*-
# Copyright: labnet.calico contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception of the shared layer (here so that iproute.py and routes.py can both raise it)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class LabError(Exception):
    """A problem to report to the user as the module's failure message."""
