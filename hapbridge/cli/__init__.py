"""The ``hapbridge`` command line."""
