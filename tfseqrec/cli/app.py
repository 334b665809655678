"""The ``tfseqrec`` command line: ``tfseqrec <command> --help`` explains each command and its defaults."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from tfseqrec.cli import analyze, benchmark, demo, export, monitor, preprocess, quiet, serve, stats, train, tune
from tfseqrec.cli.common import Formatter

# command -> runner(args, beam_args); only preprocess and demo take Beam options.
COMMANDS = {
    "preprocess": lambda args, beam_args: preprocess.run_preprocess(args, beam_args),
    "stats": lambda args, beam_args: stats.run_stats(args),
    "train": lambda args, beam_args: train.run_train(args),
    "evaluate": lambda args, beam_args: train.run_evaluate(args),
    "analyze": lambda args, beam_args: analyze.run_analyze(args),
    "generate": lambda args, beam_args: demo.run_generate(args),
    "demo": lambda args, beam_args: demo.run_demo(args, beam_args),
    "export": lambda args, beam_args: export.run_export(args),
    "serve": lambda args, beam_args: serve.run_serve(args),
    "benchmark": lambda args, beam_args: benchmark.run_benchmark(args),
    "tune": lambda args, beam_args: tune.run_tune(args),
    "monitor": lambda args, beam_args: monitor.run_monitor(args),
}
BEAM_COMMANDS = ("preprocess", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfseqrec",
        formatter_class=Formatter,
        description="Neural sequential recommendation on TensorFlow Recommenders.",
    )
    parser.add_argument("--version", action="version", version=f"tfseqrec {tfseqrec.__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the INFO and WARNING logs of TensorFlow, Beam, absl and ScaNN (hidden by default)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    preprocess.add_parser(sub)
    stats.add_parser(sub)
    train.add_parsers(sub)
    analyze.add_parser(sub)
    demo.add_parsers(sub)
    export.add_parser(sub)
    serve.add_parser(sub)
    benchmark.add_parser(sub)
    tune.add_parser(sub)
    monitor.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    if beam_args and args.command not in BEAM_COMMANDS:
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    stray = [a for a in beam_args if not a.startswith("--")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)} (Beam options must look like --name=value)")
    quiet.configure(args.verbose)  # before anything imports TensorFlow or Beam
    if args.command in BEAM_COMMANDS:
        beam_args = quiet.beam_args(beam_args, args.verbose)
    from beam_pipelines.readers import InputError

    with quiet.filtered_stderr(enabled=not args.verbose):
        try:
            return COMMANDS[args.command](args, beam_args)
        except (InputError, FileExistsError, FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
