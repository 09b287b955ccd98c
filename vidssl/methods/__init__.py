"""Methods: a backbone + heads + loss, assembled in the open, one file each.

Each method's recipe in :mod:`vidssl.recipes` builds it with explicit keyword
arguments (the recipe table is the one list of methods by name). Every class
meets :class:`vidssl.contracts.Method`.
"""
from vidssl.methods.corp import CORP
from vidssl.methods.sro import SRO
from vidssl.methods.sts import STS
from vidssl.methods.transrank import TransRank
from vidssl.methods.vcop import VCOP
from vidssl.methods.view_synthesis import ViewSynthesis

__all__ = ["CORP", "SRO", "STS", "TransRank", "VCOP", "ViewSynthesis"]
