"""Argument helpers shared by the command modules."""
from __future__ import annotations

import argparse


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def csv_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def time_value(text: str) -> float:
    """Seconds since the epoch from a number or an ISO date (2016-05-25 or 2016-05-25T12:00:00)."""
    from beam_pipelines.readers import parse_time_ms
    try:
        return parse_time_ms(text, "s") / 1000.0
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
