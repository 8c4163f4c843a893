"""``softgrad export``: write a saved model as an ONNX graph."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from softgrad.cli import checks
from softgrad.cli.evaluate import load_model
from softgrad.cli.output import print_json, report_after_writing, shown


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "export",
        help="export a saved model to ONNX",
        description="Write the model as an ONNX graph: input 'input' of shape (batch, D), raw "
        "features (the model's scaler is in the graph); outputs 'probabilities' and 'logits' "
        "of shape (batch, C). Weights past 2 GiB (protobuf's limit on one ONNX file) are written "
        "beside it, to OUT.data, which ONNX Runtime reads from the same folder: keep the two "
        "together. Needs the onnx extra: pip install 'softgrad[onnx]'.",
    )
    p.add_argument("--model", required=True, help="model file written by 'softgrad train'")
    p.add_argument("--out", required=True, help="ONNX file to write (.onnx)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    out = checks.output_path(args.out, "--out", (".onnx",))
    checks.separate({"--out": out}, {"--model": Path(args.model)})
    model = load_model(args.model)
    from softgrad.onnx_export import export_onnx_files

    # atomic: a failed export leaves no partial file, and the graph and its weights' file
    # are published together
    # past 2 GiB the weights go to OUT.data, which may not be the model either
    written = export_onnx_files(model, out, keep=(Path(args.model),))
    size = out.stat().st_size
    data = written[1] if len(written) > 1 else None
    data_size = None if data is None else data.stat().st_size
    from softgrad.onnx_external import data_path

    # an earlier export's weights (past 2 GiB) beside a graph that now holds its own: left
    # in place (the file may be one the user keeps), but not without a word
    stale = data_path(out) if data is None and data_path(out).exists() else None

    def report() -> None:
        if args.json:
            document = {"model": args.model, "out": str(out), "bytes": size}
            if data is not None:  # below 2 GiB the document is as it was
                document.update({"data": str(data), "data_bytes": data_size})
            print_json(document)
        elif data is None:
            print(f"exported {shown(args.model)} to {shown(str(out))} ({size:,} bytes)")
        else:
            print(
                f"exported {shown(args.model)} to {shown(str(out))} ({size:,} bytes) and its "
                f"weights to {shown(str(data))} ({data_size:,} bytes), past ONNX's 2 GiB in "
                "one file: keep the two files together"
            )

    report_after_writing(report, [str(path) for path in written])
    if stale is not None:
        print(
            f"softgrad: note: {shown(str(stale))} beside it is not this model's (it holds its "
            "weights itself): an earlier export's weights, which you may remove",
            file=sys.stderr,
        )
    return 0
