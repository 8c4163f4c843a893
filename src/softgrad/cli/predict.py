"""``softgrad predict``: the most probable classes of samples in array files or images."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from softgrad.cli.argtypes import positive_int
from softgrad.cli.evaluate import load_model
from softgrad.cli.images import INVERT_CHOICES
from softgrad.cli.inputs import RowNames, parts_by_rows, read_inputs, refuse_nonfinite
from softgrad.cli.output import class_names, padded, print_json_items, shown, text_width
from softgrad.cli.threads import add_threads_option


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "predict",
        help="classify samples with a saved model",
        description="Print one line per sample: its most probable class and that probability. "
        "INPUT is a .npy/.npz (array X) file or a .csv file of raw feature rows (as in the "
        "training data, before scaling; its columns read by name when the model was trained on "
        "a CSV file, else in order), or an image (PNG, JPEG ...) for image models: it is "
        "converted to grey as training reads images, padded to the shape of the model's images, "
        "resized to their size and scaled like the training pixels (images need Pillow: pip "
        "install 'softgrad[plots]').",
    )
    p.add_argument("--model", required=True, help="model file written by 'softgrad train'")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="array files or images")
    p.add_argument(
        "--top",
        type=positive_int,
        default=1,
        help="show the K most probable classes (every class when K is more than their number)",
    )
    p.add_argument(
        "--invert",
        choices=INVERT_CHOICES,
        default="auto",
        help="images: invert them to the training images' polarity, light-on-dark or "
        "dark-on-light (auto: when the border is on the other side of mid-grey from theirs)",
    )
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    add_threads_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from softgrad.model import ranked_rows

    model = load_model(args.model)
    parts, names, notes = read_inputs(args.inputs, model, args.invert)
    k = min(args.top, model.n_classes)
    # one forward pass, every row checked before a line is printed; of each batch's logits
    # only the k most probable classes are kept
    top = parts_by_rows(
        model,
        parts,
        lambda row: f"predict: {names[row]}",
        lambda X, start: refuse_nonfinite(names, X, start),
        lambda logits, first: ranked_rows(logits, k),
    )
    classes = class_names(model)
    for note in notes:
        print(f"softgrad: note: {note}", file=sys.stderr)
    # one sample at a time: 60,000 predictions as dicts held more than the rows themselves
    ranked = zip(top["index"], top["p"], strict=True)
    if args.json:
        print_json_items({"model": args.model}, "predictions", _predictions(names, ranked, classes))
        return 0
    # names that would not read as themselves (blank, a newline, a tab ...) are shown quoted
    width = names.widest(lambda name: text_width(shown(name)))
    for name, (index, p) in zip(names, ranked, strict=True):
        pairs = zip(index, p, strict=True)
        shown_top = ", ".join(f"{shown(classes[j])} ({float(q):.4f})" for j, q in pairs)
        print(f"{padded(shown(name), width)}  {shown_top}")
    return 0


def _predictions(
    names: RowNames, ranked: Iterable[tuple[np.ndarray, np.ndarray]], classes: list[str]
) -> Iterator[dict[str, Any]]:
    """Each sample's prediction as --json prints it: its class, probability and top K."""
    for name, (index, p) in zip(names, ranked, strict=True):
        top = [
            {"class": classes[j], "probability": float(q)} for j, q in zip(index, p, strict=True)
        ]
        yield {
            "input": name,
            "class": top[0]["class"],
            "probability": top[0]["probability"],
            "top": top,
        }
