"""The ``tfseqrec`` command line (one module per command group; ``app`` wires them)."""

from tfseqrec.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
