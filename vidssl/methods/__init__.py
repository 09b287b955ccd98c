"""Methods: a backbone + heads + loss, assembled in the open, one file each.

``METHODS`` maps a method name to its module class; the CLI builds each with
explicit keyword arguments (:mod:`vidssl.cli.build`).
"""
from vidssl.methods.corp import CORP
from vidssl.methods.sro import SRO
from vidssl.methods.sts import STS
from vidssl.methods.transrank import TransRank
from vidssl.methods.vcop import VCOP
from vidssl.methods.view_synthesis import ViewSynthesis

METHODS = {"transrank": TransRank, "sro": SRO, "sro_view_synthesis": ViewSynthesis, "vcop": VCOP, "corp_m": CORP, "corp_f": CORP,
           "sts": STS}
