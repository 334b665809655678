"""Argument helpers shared by the command modules."""

from __future__ import annotations

import argparse

from beam_pipelines.options import csv_list, time_value  # noqa: F401  (argument types of several commands)


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass
