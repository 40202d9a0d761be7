"""Annotation files from the command line.

    python -m mgn.annotations export --data data [--db data/annotations.sqlite] --out corrected [--force]
    python -m mgn.annotations import --data data [--db data/annotations.sqlite] --from corrected [--author import]
    python -m mgn.annotations measure [--train 400 --test 300 --seed 0 --flip-fraction 0.02 --noise plausible]

``export`` writes the official eval CSVs with the database's edits applied, ``annotation_diff.csv`` and
``AVVP_new_clips.csv`` (see ``mgn.annotations.export``). ``import`` stores the rows of such a folder that differ
from the database's current labels as edits (author ``import``); importing the same folder again stores nothing.
``measure`` prints the label-error ranking's precision / recall on synthetic data as JSON. A bad path or file
prints one ``error: ...`` line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

from mgn.annotations import measure as measuring
from mgn.annotations.export import read_folder
from mgn.annotations.store import IMPORT_AUTHOR, AnnotationStore, default_database_path

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``error: ...`` line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mgn.annotations", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_text in (
        ("export", "write the official CSVs with the edits applied"),
        ("import", "store an exported folder's differences as edits"),
    ):
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--data", required=True, help="dataset root in the official LLP layout")
        command.add_argument("--db", help="annotation database (default: DATA/annotations.sqlite)")
        if name == "export":
            command.add_argument("--out", required=True, help="folder to write the files into")
            command.add_argument("--force", action="store_true", help="replace the files of an earlier export")
        else:
            command.add_argument("--from", dest="source", required=True, help="a folder written by export")
            command.add_argument("--author", default=IMPORT_AUTHOR, help="author recorded with the imported edits")
    measure_command = commands.add_parser("measure", help="measure the label-error ranking on synthetic data")
    measuring.add_arguments(measure_command)
    return parser


def _export(args: argparse.Namespace) -> str:
    database = Path(args.db) if args.db else default_database_path(args.data)
    with AnnotationStore(database, args.data, create=False) as store:
        result = store.export(args.out, force=args.force)
    files = ", ".join(path.name for path in result.files.values())
    return (
        f"exported {result.changes} changed row(s) of {result.clips} clip(s) ({result.new_clips} new) "
        f"from {database} to {args.out}: {files}"
    )


def _import(args: argparse.Namespace) -> str:
    database = Path(args.db) if args.db else default_database_path(args.data)
    folder = read_folder(args.source)  # a bad folder is reported before a database is created
    with AnnotationStore(database, args.data) as store:
        result = store.import_folder(folder, author=args.author)
    if result.empty:
        return f"nothing to import: {args.source} holds the same labels as {database}"
    return f"imported {len(result.edits)} edit(s) and {len(result.new_clips)} new clip declaration(s) into {database}"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for a bad argument, path or file)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "measure":
            print(json.dumps(measuring.measure(measuring.config_from_args(args)), indent=2))
        else:
            print(_export(args) if args.command == "export" else _import(args))
    # ValueError: bad input or file (AnnotationError, LLPFormatError); OSError: paths; sqlite3.Error: a full disk
    except (ValueError, OSError, sqlite3.Error) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
