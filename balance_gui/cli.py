"""The ``balance-gui`` command: the desktop app by default, plus headless subcommands.

    balance-gui [PATH]                                   open the app (the demo dataset without PATH)
    balance-gui inspect ROOT [--scheme S] [--json]       class table and dataset figures
    balance-gui export ROOT -o FILE [--scheme S]         write a weights file (.pt .csv .json .npy)
    balance-gui simulate ROOT [--scheme S] [--num-samples K] [--epochs E] [--device D] [--seed S] [--mode M]
    balance-gui verify FILE ROOT                         check that a weights file belongs to a dataset
    balance-gui check ROOT [--json] [--workers N]        find corrupt images and exact duplicates

Every subcommand takes ``--manifest CSV`` instead of ROOT for datasets listed in a
``path,label`` file. Errors print one line on stderr and exit with status 2;
``check`` exits with 1 when it finds problems.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from . import DEMO_DATASET
from .core.errors import BalanceError

SUBCOMMANDS = ("inspect", "export", "simulate", "verify", "check")


def _parser() -> argparse.ArgumentParser:
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
            default="inverse",
            help="inverse (default), balanced, sqrt, power:Q, effective:BETA, none, custom:FILE.json",
        )

    p = sub.add_parser("inspect", help="print the class table and dataset figures")
    dataset_args(p)
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
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output file: .pt, .csv, .json or .npy")

    p = sub.add_parser("simulate", help="run the sampler and compare sampled against expected shares")
    dataset_args(p)
    p.add_argument("--num-samples", type=int, default=None, metavar="K", help="draws per epoch (default: N)")
    p.add_argument("--epochs", type=int, default=1, metavar="E")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--mode",
        default="weighted",
        type=lambda m: m.replace("-", "_").lower(),
        choices=("weighted", "class_aware"),
        help="weighted (independent draws, WRS's law) or class_aware (each class cycles its images)",
    )
    p.add_argument("--no-replacement", action="store_true", help="draw without replacement")
    p.add_argument("--batch-size", type=int, default=None, metavar="B")

    p = sub.add_parser("verify", help="check that a weights file belongs to a dataset (same classes and samples)")
    p.add_argument("file", help="a weights file written by export")
    p.add_argument("root", nargs="?", help="the dataset folder, or a .csv manifest")
    p.add_argument("--manifest", metavar="CSV", help="a path,label CSV manifest instead of a folder")

    p = sub.add_parser(
        "check",
        help="decode every image: corrupt files and exact duplicates (exit 1 when any are found)",
    )
    p.add_argument("root", nargs="?", help="ImageFolder root (one sub-folder per class), or a .csv manifest")
    p.add_argument("--manifest", metavar="CSV", help="a path,label CSV manifest instead of a folder")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="worker processes (default: one per core)")
    return parser


def _progress_bar(desc: str):
    """A tqdm bar on stderr that appears only when the work takes a while."""
    from tqdm import tqdm

    return tqdm(desc=desc, unit=" class", file=sys.stderr, delay=0.5, leave=False, dynamic_ncols=True)


def load_dataset(args):
    from .core.dataset import open_dataset, scan_manifest

    if args.manifest:
        source = args.manifest
        open_fn = scan_manifest
    elif args.root:
        source = args.root
        open_fn = open_dataset
    else:
        raise BalanceError("give a dataset folder (ROOT) or --manifest CSV")
    with _progress_bar("scanning") as bar:

        def progress(p):
            bar.total = p.classes_total
            bar.set_postfix_str(f"{p.files_found:,} images", refresh=False)
            bar.update(p.classes_done - bar.n)

        return open_fn(source, progress=progress)


def _weights_for(index, scheme_text):
    from .core.weights import class_weights, parse_scheme

    scheme = parse_scheme(scheme_text)
    return scheme, class_weights(index.counts, scheme, index.classes)


def inspect_report(index, scheme, class_w, draws=None) -> dict:
    """Everything ``inspect`` shows, as plain JSON-ready data."""
    from .core.weights import class_figures, dataset_figures

    fig = class_figures(index.counts, class_w, draws)
    data = dataset_figures(index.counts).as_dict()
    data["skipped_files"] = index.skipped_files
    data["skipped_extensions"] = dict(index.skipped_extensions)
    return {
        "root": os.path.abspath(index.root),
        "source": index.source,
        "scheme": str(scheme),
        "draws": fig.draws,
        "dataset": data,
        "classes": [
            {
                "index": i,
                "name": name,
                "count": int(fig.counts[i]),
                "share": float(fig.shares[i]),
                "weight": float(fig.weights[i]),
                "expected_share": float(fig.expected_shares[i]),
                "expected_draws": float(fig.expected_draws[i]),
                "expected_uses_per_image": float(fig.expected_uses_per_image[i]),
                "expected_distinct": float(fig.expected_distinct[i]),
            }
            for i, name in enumerate(index.classes)
        ],
        "warnings": index.warnings(),
    }


def format_inspect_report(report: dict) -> str:
    header = ("idx", "class", "count", "share", "weight", "exp.share", "exp.draws", "uses/img", "exp.distinct")
    rows = [
        (
            str(c["index"]),
            c["name"],
            f"{c['count']:,}",
            f"{c['share']:.4f}",
            f"{c['weight']:.6g}",
            f"{c['expected_share']:.4f}",
            f"{c['expected_draws']:,.1f}",
            f"{c['expected_uses_per_image']:.2f}",
            f"{c['expected_distinct']:,.1f}",
        )
        for c in report["classes"]
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    name_col = 1

    def line(cells):
        return "  ".join(
            cell.ljust(w) if i == name_col else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        )

    d = report["dataset"]
    out = [
        f"dataset: {report['root']} ({report['source']})",
        f"scheme: {report['scheme']}   draws per epoch (k): {report['draws']:,}",
        "",
        line(header),
        line(["-" * w for w in widths]),
        *map(line, rows),
        "",
        f"images (N): {d['num_samples']:,}   classes (C): {d['num_classes']:,}   empty classes: {d['empty_classes']}",
        f"imbalance ratio (max/min): {d['imbalance_ratio']:.2f}   normalised entropy: "
        f"{d['normalized_entropy']:.4f}   Gini: {d['gini']:.4f}",
    ]
    out += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(out)


def cmd_inspect(args) -> int:
    index = load_dataset(args)
    scheme, class_w = _weights_for(index, args.scheme)
    report = inspect_report(index, scheme, class_w, args.draws)
    print(json.dumps(report, indent=2) if args.json else format_inspect_report(report))
    return 0


def cmd_export(args) -> int:
    from .core.weightsfile import export_weights

    index = load_dataset(args)
    scheme, class_w = _weights_for(index, args.scheme)
    export_weights(args.output, index, class_w, scheme)
    print(
        f"wrote {args.output}: {len(index):,} samples in {index.num_classes} classes, scheme {scheme}", file=sys.stderr
    )
    return 0


def cmd_simulate(args) -> int:
    from tqdm import tqdm

    from .core.simulate import format_simulation_report, simulate

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
    with tqdm(desc="sampling", unit=" draws", unit_scale=True, file=sys.stderr, delay=0.5, leave=False) as bar:
        for last in steps:
            bar.total = last.total_draws
            bar.update(last.draws_done - bar.n)
    print(format_simulation_report(last, index.classes, index.counts))
    return 0


def cmd_verify(args) -> int:
    from .core.weightsfile import load_weights

    index = load_dataset(args)
    weights = load_weights(args.file, index)
    print(
        f"{args.file} matches {index.root}: {len(index):,} samples in {index.num_classes} classes, "
        f"same order; {int((weights > 0).sum()):,} can be drawn"
    )
    return 0


def check_report(index, result) -> dict:
    """Everything ``check`` shows, as plain JSON-ready data."""
    dups = result.duplicates
    return {
        "root": os.path.abspath(index.root),
        "source": index.source,
        "images": len(index),
        "usable": int(result.usable_counts.sum()),
        "summary": {
            "corrupt": len(result.corrupt),
            "duplicates": len(dups),
            "cross_class_duplicates": sum(p.cross_class for p in dups),
        },
        "problems": [p.as_dict() for p in result.problems],
        "classes": [s.as_dict() for s in result.class_stats],
        "files_decoded": result.files_decoded,
        "cache": result.cache_path,
        "warnings": list(result.warnings),
    }


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], left: tuple[int, ...]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells) -> str:
        return "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def format_check_report(report: dict) -> str:
    out = [f"dataset: {report['root']} ({report['source']})", ""]
    if report["problems"]:
        problem_rows: list[tuple[str, ...]] = []
        for p in report["problems"]:
            if p["kind"] == "corrupt":
                detail = p["reason"]
            else:
                detail = f"copy of {p['duplicate_of']}" + ("  (ANOTHER CLASS)" if p["cross_class"] else "")
            problem_rows.append((p["kind"], p["path"], detail))
        out += _table(("kind", "path", "detail"), problem_rows, left=(0, 1, 2)) + [""]

    def spread(s: dict | None) -> str:
        return "-" if s is None else f"{s['min']}/{s['median']}/{s['max']}"

    rows: list[tuple[str, ...]] = [
        (
            c["name"],
            f"{c['images']:,}",
            f"{c['usable']:,}",
            f"{c['corrupt']:,}",
            f"{c['duplicates']:,}",
            spread(c["width"]),
            spread(c["height"]),
            f"{c['grayscale']:,}",
            f"{c['colour']:,}",
        )
        for c in report["classes"]
    ]
    header = (
        "class",
        "images",
        "usable",
        "corrupt",
        "dup",
        "width min/med/max",
        "height min/med/max",
        "gray",
        "colour",
    )
    out += _table(header, rows, left=(0,))
    s = report["summary"]
    out += [
        "",
        f"images: {report['images']:,}   usable: {report['usable']:,}   corrupt: {s['corrupt']:,}   "
        f"duplicate copies: {s['duplicates']:,} ({s['cross_class_duplicates']:,} across classes)",
        f"decoded now: {report['files_decoded']:,}   from the cache: {report['images'] - report['files_decoded']:,}"
        + (f"   cache: {report['cache']}" if report["cache"] else ""),
    ]
    out += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(out)


def cmd_check(args) -> int:
    from tqdm import tqdm

    from .core.images import check_images

    index = load_dataset(args)
    with tqdm(desc="checking", unit=" img", file=sys.stderr, delay=0.5, leave=False, dynamic_ncols=True) as bar:

        def progress(p) -> None:
            bar.total = p.files_total
            bar.update(p.files_done - bar.n)

        result = check_images(index, workers=args.workers, progress=progress)
    report = check_report(index, result)
    print(json.dumps(report, indent=2) if args.json else format_check_report(report))
    return 1 if result.problems else 0


def _run_gui(path: str | None) -> int:
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
    args = _parser().parse_args(argv)
    handler = {
        "inspect": cmd_inspect,
        "export": cmd_export,
        "simulate": cmd_simulate,
        "verify": cmd_verify,
        "check": cmd_check,
    }[args.command]
    try:
        return handler(args)
    except (BalanceError, ValueError) as e:  # bad data, files or settings: say which, in one line
        print(f"balance-gui {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # stdout closed early, as by `| head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        print(f"balance-gui {args.command}: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"balance-gui {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
