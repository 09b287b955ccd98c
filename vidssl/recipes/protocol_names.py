"""The names of the ``vidssl eval`` protocols, in the order the CLI lists them.

The records themselves (runner, settings, figures) are in
:data:`vidssl.recipes.protocols.PROTOCOLS`, which imports torch and checks
itself against this tuple; the names live here alone so that ``vidssl --help``
can offer them without importing torch.
"""

PROTOCOL_NAMES = ("retrieval", "linear", "finetune", "semi", "sync", "order", "motion", "scenes", "similarity", "tsne")
