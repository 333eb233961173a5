"""The ``pulumi-kk`` command line (kk-style)."""
