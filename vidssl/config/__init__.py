"""Configuration: dataclasses (``schema``) and YAML/override loading (``loading``)."""
