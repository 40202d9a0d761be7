"""Annotation files from the command line.

    python -m mgn.annotations export --data data [--db data/annotations.sqlite] --out corrected [--force]
    python -m mgn.annotations import --data data [--db data/annotations.sqlite] --from corrected [--author import]
    python -m mgn.annotations export-dataset --db FILE [--data data] --features FEATS --out DATASET [--val 0.2]
    python -m mgn.annotations measure [--train 400 --test 300 --seed 0 --flip-fraction 0.02 --noise plausible]

``export`` writes the official eval CSVs with the database's edits applied, ``annotation_diff.csv`` and
``AVVP_new_clips.csv`` (see ``mgn.annotations.export``). ``import`` stores the rows of such a folder that differ
from the database's current labels as edits (author ``import``); importing the same folder again stores nothing.
``export-dataset`` writes the clips added to the database (one's own videos) with their labels and features as a new
LLP-format dataset (``mgn.annotations.new_clips``) that ``training.train --data DATASET`` reads.
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
from mgn.annotations.new_clips import assign_splits, clips_from_store, export_llp_dataset
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
    dataset = commands.add_parser(
        "export-dataset",
        help="write the database's new clips as an LLP-format dataset",
        description="write the clips added to the database, with their labels and features, as a new LLP-format "
        "dataset (CSVs and feats/) that training.train reads",
    )
    dataset.add_argument("--db", required=True, help="annotation database holding the new clips")
    dataset.add_argument("--data", help="the dataset the database was made on (default: none; new clips only)")
    dataset.add_argument(
        "--features", required=True, help="folder with feats/vggish, feats/res152, feats/r2plus1d_18 of the clips"
    )
    dataset.add_argument("--out", required=True, help="folder to write the dataset into")
    dataset.add_argument("--val", type=float, default=0.2, help="share of the clips drawn for val (default 0.2)")
    dataset.add_argument("--test", type=float, default=0.0, help="share of the clips drawn for test (default 0)")
    dataset.add_argument("--seed", type=int, default=0, help="seed of the split draw")
    dataset.add_argument("--force", action="store_true", help="replace the files of an earlier export")
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


def _export_dataset(args: argparse.Namespace) -> str:
    with AnnotationStore(Path(args.db), args.data, create=False) as store:
        names = store.clips("new")
        splits = assign_splits(names, val_fraction=args.val, test_fraction=args.test, seed=args.seed)
        clips = clips_from_store(store, args.features, splits, clips=names)
    result = export_llp_dataset(args.out, clips, force=args.force)
    counts = ", ".join(f"{count} {split}" for split, count in result.clips.items())
    return "\n".join([f"exported {len(clips)} clip(s) ({counts}) to {result.root}", *result.notes])


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for a bad argument, path or file)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "measure":
            print(json.dumps(measuring.measure(measuring.config_from_args(args)), indent=2))
        elif args.command == "export-dataset":
            print(_export_dataset(args))
        else:
            print(_export(args) if args.command == "export" else _import(args))
    # ValueError: bad input or file (AnnotationError, LLPFormatError); OSError: paths; sqlite3.Error: a full disk
    except (ValueError, OSError, sqlite3.Error) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
