"""The ``balance-gui`` command: the desktop app by default, plus headless subcommands.

    balance-gui [PATH]                                   open the app (the demo dataset without PATH)
    balance-gui inspect ROOT [--scheme S] [--json] [--usable]   class table and dataset figures
    balance-gui export ROOT -o FILE [--scheme S] [--usable]     write a weights file (the extension picks the format)
    balance-gui simulate ROOT [--scheme S] [--num-samples K] [--epochs E] [--device D] [--seed S] [--mode M]
    balance-gui verify FILE ROOT                         check that a weights file belongs to a dataset
    balance-gui check ROOT [--json] [--workers N] [--max-file-size SIZE]   find corrupt images and exact duplicates

Every subcommand takes ``--manifest CSV`` instead of ROOT for datasets listed in a
``path,label`` file. Exit statuses: 0 done; 1 ``verify`` could not tell (a ``.npy``
holds no names to check); 2 bad input (data, files, settings, arguments), said in one
line on stderr; 3 a bug, shown with its traceback (or, for the app, no usable display).
Names that are not valid UTF-8, or hold control characters, are printed with backslash
escapes, as ``ls -b`` does.
``check`` exits with 1 when it finds problems. ``--usable`` (inspect, export) runs the same
check first and counts only usable images: corrupt files and duplicate copies get weight 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from . import DEMO_DATASET
from .cli_tables import add_table_args, table_options
from .core.errors import BalanceError, SettingsError
from .core.names import escape_name, escape_text
from .core.reports.check import check_report, format_check_report
from .core.reports.inspect import format_inspect_report, inspect_report
from .core.reports.text import excluded_note
from .core.reports.verify import verify_summary

if TYPE_CHECKING:  # numpy and the core load only when a subcommand needs them
    from .core.dataset import DatasetIndex, ScanProgress
    from .core.images import CheckResult
    from .core.weights import Scheme

SUBCOMMANDS = ("inspect", "export", "simulate", "verify", "check")
INT64_MAX = 2**63 - 1
# torch.Generator.manual_seed takes any integer in [-2**63, 2**64 - 1].
SEED_RANGE = (-(2**63), 2**64 - 1)
# The most draws a simulation makes (sampling.sampler_inputs.MAX_DRAWS; not imported: torch loads lazily).
MAX_DRAWS = 2**48
# An error message quotes at most this much of what it was given (a 100 MB CSV row, say).
MESSAGE_LIMIT = 2000
TABLE_FILES = (".parquet", ".pq", ".arrow", ".feather", ".ipc")  # core.tables.TABLE_EXTENSIONS (pyarrow loads lazily)


def _say(text: str, stream: TextIO | None = None) -> None:
    """Print ``text`` so that no name in it can fail to encode or break its line."""
    stream = sys.stdout if stream is None else stream
    text = escape_text(text)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:  # an ASCII or Latin-1 terminal: \u escapes for what it cannot show
        text = text.encode(encoding, "backslashreplace").decode(encoding)
    print(text, file=stream)


def _parser() -> argparse.ArgumentParser:
    from .core.modes import MODES
    from .core.schemes import DEFAULT_SCHEME, SCHEMES
    from .core.weightsfile_formats import WEIGHTS_FORMATS, listed

    parser = argparse.ArgumentParser(
        prog="balance-gui",
        description="Class-balance inspector for image datasets. Without a subcommand, opens the desktop app "
        "on PATH (or the bundled demo dataset).",
    )
    sub = parser.add_subparsers(dest="command", metavar="{inspect,export,simulate,verify,check}")

    def dataset_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("root", nargs="?", help="ImageFolder root (one sub-folder per class), or a .csv manifest")
        p.add_argument("--manifest", metavar="CSV", help="a path,label CSV manifest instead of a folder")
        p.add_argument(
            "--scheme",
            default=DEFAULT_SCHEME,
            help=", ".join(s.syntax + (" (default)" if s.key == DEFAULT_SCHEME else "") for s in SCHEMES),
        )
        add_table_args(p)  # Parquet/Arrow tables, Hugging Face folders, WebDataset shards

    def usable_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--usable",
            action="store_true",
            help="check every image first; count only usable ones (corrupt files and duplicate copies get weight 0)",
        )
        p.add_argument("--workers", type=int, default=None, metavar="N", help="--usable: worker processes")

    p = sub.add_parser("inspect", help="print the class table and dataset figures")
    dataset_args(p)
    usable_args(p)
    p.add_argument("--image-root", metavar="DIR", help="COCO .json: the folder image file names are relative to")
    p.add_argument("--skip-crowd", action="store_true", help="COCO .json: leave out iscrowd annotations")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--draws",
        type=int,
        default=None,
        metavar="K",
        help="draws per epoch for the expected figures (default: the number of images)",
    )

    p = sub.add_parser("export", help="write a weights file; the extension picks the format")
    dataset_args(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help=f"output file: {listed(WEIGHTS_FORMATS)}")
    usable_args(p)

    p = sub.add_parser("simulate", help="run the sampler and compare sampled against expected shares")
    dataset_args(p)
    p.add_argument("--num-samples", type=int, default=None, metavar="K", help="draws per epoch (default: N)")
    p.add_argument("--epochs", type=int, default=1, metavar="E")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--mode",
        default=MODES[0].key,
        type=lambda m: m.replace("-", "_").lower(),
        choices=[m.key for m in MODES],
        help="; ".join(f"{m.key}: {m.tooltip}" for m in MODES),
    )
    p.add_argument("--no-replacement", action="store_true", help="draw without replacement")
    p.add_argument("--batch-size", type=int, default=None, metavar="B")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")

    p = sub.add_parser("verify", help="check that a weights file belongs to a dataset (same classes and samples)")
    p.add_argument("file", help="a weights file written by export")
    p.add_argument("root", nargs="?", help="the dataset folder, or a .csv manifest")
    p.add_argument("--manifest", metavar="CSV", help="a path,label CSV manifest instead of a folder")
    add_table_args(p)

    p = sub.add_parser(
        "check",
        help="decode every image: corrupt files and exact duplicates (exit 1 when any are found)",
    )
    p.add_argument("root", nargs="?", help="ImageFolder root (one sub-folder per class), or a .csv manifest")
    p.add_argument("--manifest", metavar="CSV", help="a path,label CSV manifest instead of a folder")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="where images are decoded: local processes (default) or a Ray cluster (pip install 'balance-gui[ray]')",
    )
    p.add_argument("--address", metavar="ADDR", help="with --engine ray: the cluster (default: one for the run)")
    add_table_args(p)
    p.add_argument(
        "--image-column",
        metavar="NAME",
        help="Hugging Face folder: the column of images (default: its Image feature); "
        "WebDataset: the image member's extension (default: the first image member of each sample)",
    )
    p.add_argument("--workers", type=int, default=None, metavar="N", help="worker processes (default: one per core)")
    p.add_argument(
        "--max-file-size",
        type=_file_size,
        default=None,
        metavar="SIZE",
        help="files larger than this are reported as problems, never read: bytes, or with a suffix "
        "K, M, G or T (powers of 1024); default 512M",
    )
    return parser


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?")
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _file_size(text: str) -> int:
    """``--max-file-size``: ``1048576``, ``512M``, ``512MB``, ``1.5GiB`` (units are powers of 1024)."""
    match = _SIZE.fullmatch(text.strip().upper())
    size = 0
    if match:
        number, unit = match.groups()
        factor = _SIZE_UNITS[unit]
        size = int(float(number) * factor) if "." in number else int(number) * factor
    if not 1 <= size <= INT64_MAX:
        raise argparse.ArgumentTypeError(f"not a size from 1 byte to {INT64_MAX:,} bytes: {text!r}")
    return size


def _progress_bar(desc: str, unit: str, unit_scale: bool = False) -> Any:
    """A tqdm bar on stderr that appears only when the work takes a while."""
    from tqdm import tqdm

    return tqdm(
        desc=desc, unit=unit, unit_scale=unit_scale, file=sys.stderr, delay=0.5, leave=False, dynamic_ncols=True
    )


def _check_int(value: int | None, option: str, low: int, high: int = INT64_MAX) -> None:
    if value is not None and not low <= value <= high:
        raise SettingsError(f"{option} must be a whole number from {low:,} to {high:,}, got {value:,}")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse out-of-range numbers and contradicting options before any work starts."""
    if getattr(args, "root", None) and getattr(args, "manifest", None):
        raise SettingsError(f"give a dataset folder (ROOT) or --manifest CSV, not both ({args.root!r} and --manifest)")
    if args.command == "inspect":
        _check_int(args.draws, "--draws", 1)
    if args.command == "export":  # an unknown extension is refused before the dataset is read
        from .core.weightsfile_formats import format_of

        format_of(args.output)
    if args.command in ("inspect", "export") and args.workers is not None and not args.usable:
        raise SettingsError("--workers sets the image check's processes: it needs --usable")
    if args.command == "simulate":
        # A number of samples must fit torch's int64 and what len() can return (sys.maxsize).
        # Every size is bounded before any work: at most 2**48 draws in a run (days of drawing).
        _check_int(args.num_samples, "--num-samples", 1, MAX_DRAWS)
        _check_int(args.epochs, "--epochs", 1, MAX_DRAWS)
        if args.num_samples is not None and args.num_samples * args.epochs > MAX_DRAWS:
            raise SettingsError(
                f"--num-samples x --epochs is {args.num_samples * args.epochs:,} draws: a run draws at most "
                f"{MAX_DRAWS:,} (2**48)"
            )
        _check_int(args.batch_size, "--batch-size", 1)
        _check_int(args.seed, "--seed", *SEED_RANGE)
        from .core.modes import sampler_mode

        if sampler_mode(args.mode).replacement_only and args.no_replacement:
            raise SettingsError(f"--mode {args.mode} always draws with replacement: drop --no-replacement")


def load_dataset(args: argparse.Namespace) -> DatasetIndex:
    from .core.dataset import open_dataset, scan_manifest

    open_fn: Callable[..., DatasetIndex]
    if args.manifest:
        source = args.manifest
        open_fn = scan_manifest
    elif args.root:
        source = args.root
        open_fn = open_dataset
    else:
        raise SettingsError("give a dataset folder (ROOT) or --manifest CSV")
    from .core.tables import is_columnar

    extra = table_options(args)  # a table's columns: open_dataset reads it (and refuses them for others)
    if extra or is_columnar(source):
        open_fn = open_dataset
    with _progress_bar("scanning", " class") as bar:

        def progress(p: ScanProgress) -> None:
            bar.total = p.classes_total
            bar.set_postfix_str(f"{p.files_found:,} images", refresh=False)
            bar.update(p.classes_done - bar.n)

        return open_fn(source, progress=progress, **extra)


def _weights_for(
    index: DatasetIndex, scheme_text: str | Scheme, check: CheckResult | None = None
) -> tuple[Scheme, Any]:
    """The scheme and its class weights: on the usable counts when ``check`` is given."""
    from .core.images import usable_weights
    from .core.weights import class_weights, parse_scheme

    scheme = parse_scheme(scheme_text)
    if check is not None:
        return scheme, usable_weights(check, scheme)[0]
    return scheme, class_weights(index.counts, scheme, index.classes)


def cmd_inspect(args: argparse.Namespace) -> int:
    from .cli_annotations import cmd_inspect_annotations, is_annotation_file

    if args.root and is_annotation_file(args.root):  # COCO .json or path,labels .csv: image-level figures
        return cmd_inspect_annotations(args)
    index = load_dataset(args)
    check = run_check(index, args.workers) if args.usable else None
    scheme, class_w = _weights_for(index, args.scheme, check)
    report = inspect_report(index, scheme, class_w, args.draws, check)
    _say(json.dumps(report, indent=2) if args.json else format_inspect_report(report))
    return 0


def refuse_overwriting_inputs(output: str, inputs: dict[str, str | None]) -> None:
    """Refuse an output file that is one of the command's inputs (``{what: path}``): the same file
    by path, symlink or hard link. Checked before any work, so the input is never replaced."""
    if not os.path.exists(output):
        return
    for what, path in inputs.items():
        if path and os.path.exists(path) and os.path.samefile(output, path):
            raise SettingsError(
                f"-o {output} is {what} ({path}): writing the weights there would replace an input of this "
                "export; choose another output file"
            )


def cmd_export(args: argparse.Namespace) -> int:
    from .cli_annotations import cmd_export_annotations, is_annotation_file
    from .core.weights import parse_scheme
    from .core.weightsfile import export_weights

    if args.root and is_annotation_file(args.root):  # COCO .json or path,labels .csv: one weight per image
        return cmd_export_annotations(args)
    scheme_read = parse_scheme(args.scheme)  # a custom weights file is an input too
    refuse_overwriting_inputs(
        args.output,
        {
            "the manifest": args.manifest or (args.root if args.root and os.path.isfile(args.root) else None),
            "the custom weights file": scheme_read.source,
        },
    )
    index = load_dataset(args)
    check = run_check(index, args.workers) if args.usable else None
    scheme, class_w = _weights_for(index, scheme_read, check)
    excluded = None if check is None else ~check.usable_mask
    export_weights(args.output, index, class_w, scheme, excluded=excluded)
    summary = (
        f"wrote {escape_name(args.output)}: {len(index):,} samples in {index.num_classes} classes, scheme {scheme}"
    )
    if excluded is not None:
        summary += f"; {excluded_note(int(excluded.sum()))}"
    _say(summary, sys.stderr)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:

    from .core.reports.simulate import format_simulation_report, simulation_record
    from .core.simulate import simulate
    from .sampling.sampler_inputs import resolve_device

    try:  # the device is the one setting only the sampler can judge: its words, naming the option
        resolve_device(args.device)
    except SettingsError as e:
        raise SettingsError(f"--device: {e}") from None
    from .cli_annotations import cmd_simulate_annotations, is_annotation_file

    if args.root and is_annotation_file(args.root):  # COCO .json or path,labels .csv: image-level draws
        return cmd_simulate_annotations(args)
    index = load_dataset(args)
    _, class_w = _weights_for(index, args.scheme)
    steps = simulate(
        index.targets,
        class_w,
        num_samples=args.num_samples,
        epochs=args.epochs,
        replacement=not args.no_replacement,
        mode=args.mode,
        device=args.device,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    last = None
    with _progress_bar("sampling", " draws", unit_scale=True) as bar:
        for last in steps:
            bar.total = last.total_draws
            bar.update(last.draws_done - bar.n)
    assert last is not None  # simulate yields at least one step per epoch
    if args.json:
        _say(json.dumps(simulation_record(last, index.classes, index.counts), indent=2))
    else:
        _say(format_simulation_report(last, index.classes, index.counts))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the file belongs to the dataset, 2 when it does not, 1 when it cannot tell."""
    from .cli_annotations import cmd_verify_annotations, is_annotation_file
    from .core.weightsfile import verify_weights_file

    if args.root and is_annotation_file(args.root):  # per-image weights of a COCO or path,labels file
        return cmd_verify_annotations(args)
    index = load_dataset(args)
    identified, summary = verify_summary(args.file, verify_weights_file(args.file, index), index)
    _say(summary)
    return 0 if identified else 1


def run_check(
    index: DatasetIndex, workers: int | None, max_file_bytes: int | None = None, image_column: str | None = None
) -> CheckResult:
    """The image health check of ``index``, with a tqdm bar on stderr. A signal that ends the
    program (SIGTERM, SIGHUP, SIGQUIT) ends the check first: its worker processes are killed and
    what was checked is cached, then the program dies of that signal as asked."""

    from .core.images import DEFAULT_MAX_FILE_BYTES, check_images

    with _progress_bar("checking", " img") as bar, _signals_end_the_check():

        def progress(p: Any) -> None:
            bar.total = p.files_total
            bar.update(p.files_done - bar.n)

        return check_images(
            index,
            workers=workers,
            progress=progress,
            max_file_bytes=DEFAULT_MAX_FILE_BYTES if max_file_bytes is None else max_file_bytes,
            image_column=image_column,
        )


class _EndingSignal(BaseException):
    """A signal that ends the program arrived during the check: unwind, then die of it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _signals_end_the_check() -> Iterator[None]:
    """Turn SIGTERM, SIGHUP and SIGQUIT into an exception while the check runs, as Python does for
    SIGINT, so that its ``finally`` kills the workers; then die of the signal. Handlers the program
    set itself are left alone (and so is everything off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = ("SIGTERM", "SIGHUP", "SIGQUIT")
    ours = [getattr(signal, n) for n in names if hasattr(signal, n)]
    ours = [s for s in ours if signal.getsignal(s) in (signal.SIG_DFL, None)]

    def raise_ending(signum: int, frame: object) -> None:
        raise _EndingSignal(signum)

    previous = {s: signal.signal(s, raise_ending) for s in ours}
    try:
        yield
    except _EndingSignal as e:
        for s, handler in previous.items():
            signal.signal(s, handler)
        previous = {}
        signal.signal(e.signum, signal.SIG_DFL)
        os.kill(os.getpid(), e.signum)
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def cmd_check(args: argparse.Namespace) -> int:
    index = load_dataset(args)
    result = run_check(index, args.workers, args.max_file_size, args.image_column)
    report = check_report(index, result)
    _say(json.dumps(report, indent=2) if args.json else format_check_report(report))
    return 1 if result.problems else 0


def cmd_check_on_engine(args: argparse.Namespace) -> int:
    """``check --engine``: the local check, or its decoding on Ray (core.ray_engine): same report, same cache."""
    if args.engine == "local":
        if args.address is not None:
            raise SettingsError("--address names a Ray cluster: it needs --engine ray")
        return cmd_check(args)
    from .core.ray_engine import ray_checks

    with ray_checks(address=args.address, workers=args.workers):
        return cmd_check(args)


def _run_gui(path: str | None) -> int:
    if path is not None and not (
        os.path.isdir(path) or (os.path.isfile(path) and path.lower().endswith((".csv", ".json", *TABLE_FILES)))
    ):
        what = (
            "no such file or folder"
            if not os.path.exists(path)
            else "not a dataset folder, a .csv manifest or a COCO .json"
        )
        print(f"balance-gui: error: {path}: {what}", file=sys.stderr)
        return 2
    from .qt_platform import explain_missing_platform

    problem = explain_missing_platform()
    if problem:
        print(f"balance-gui: {problem}", file=sys.stderr)
        return 3
    from .gui.app import run_app

    return run_app(path or DEMO_DATASET)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help")):
        if len(argv) > 1:
            _parser().error(f"unknown command {argv[0]!r}; the app takes at most one PATH")
        return _run_gui(argv[0] if argv else None)
    args = _parser().parse_args(argv)  # exits with status 2 on a malformed command line
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "inspect": cmd_inspect,
        "export": cmd_export,
        "simulate": cmd_simulate,
        "verify": cmd_verify,
        "check": cmd_check_on_engine,
    }
    try:
        check_arguments(args)
        return handlers[args.command](args)
    except BalanceError as e:  # bad data, files or settings: say which, in one line
        return _fail(args.command, str(e))
    except BrokenPipeError:  # stdout closed early, as by `| head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        return _fail(args.command, f"{e.strerror or e}: {e.filename or ''}".rstrip(": "))
    except KeyboardInterrupt:
        _say(f"balance-gui {args.command}: interrupted", sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - anything else is a bug: show where, and say so in the exit status
        traceback.print_exc()
        _say(f"balance-gui {args.command}: internal error (a bug): please report the traceback above", sys.stderr)
        return 3


def _fail(command: str, message: str) -> int:
    if len(message) > MESSAGE_LIMIT:  # one readable line, whatever a message quotes
        message = f"{message[:MESSAGE_LIMIT]}... ({len(message) - MESSAGE_LIMIT:,} more characters)"
    _say(f"balance-gui {command}: error: {message}".replace("\n", "\\n"), sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
