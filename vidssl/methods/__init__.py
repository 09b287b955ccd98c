"""Methods: a backbone + heads + loss, assembled in the open, one file each.

``METHODS`` maps a method name to its module class; the CLI builds each with
explicit keyword arguments.
"""
from vidssl.methods.transrank import TransRank

METHODS = {"transrank": TransRank}
