"""``softgrad export``: write a saved model as an ONNX graph."""

from __future__ import annotations

import argparse
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
        "of shape (batch, C). Needs the onnx extra: pip install 'softgrad[onnx]'.",
    )
    p.add_argument("--model", required=True, help="model file written by 'softgrad train'")
    p.add_argument("--out", required=True, help="ONNX file to write (.onnx)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    out = checks.output_path(args.out, "--out", (".onnx",))
    checks.separate({"--out": out}, {"--model": Path(args.model)})
    model = load_model(args.model)
    from softgrad.onnx_export import export_onnx

    export_onnx(model, out)  # atomic: a failed export leaves no partial file
    size = out.stat().st_size

    def report() -> None:
        if args.json:
            print_json({"model": args.model, "out": str(out), "bytes": size})
        else:
            print(f"exported {shown(args.model)} to {shown(str(out))} ({size:,} bytes)")

    report_after_writing(report, [str(out)])
    return 0
