"""Tensor operations shared by ``data``, ``models`` and ``losses``, which must not import one another.

:mod:`vidssl.ops.warp`: optical-flow warping of clips (SRO's view synthesis).
"""
