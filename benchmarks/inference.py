"""Inference throughput: predict_proba on the 10,000 test images in batches of 1,024.

Peers: softgrad (``softgrad.training.predict_proba``), PyTorch (inference_mode, the same
batches), scikit-learn (``predict_proba`` on the whole array: it has no batch argument) and
ONNX Runtime running the graph of the trained softgrad network written by
``softgrad.export_onnx`` (or, if softgrad has no exporter, the same graph built here with
onnx.helper). The peers run in interleaved rounds, each timing every peer once after a
warm-up pass; each figure is a peer's median over the rounds, and the round-by-round ratio
pairs softgrad's time with the peer's in the same round (the host's speed moves both). The
probabilities of ONNX Runtime (softgrad's own network) and of softgrad trained on the uint8 set
(the same weights: its pixels are the float32 set's k / 255) are compared with softgrad's; the
other peers trained models of their own, so theirs are not.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from harness import settle

BATCH = 1024
# the peers that predict with softgrad's own weights, whose probabilities are compared with its
_SAME_WEIGHTS = ("onnxruntime", "softgrad-uint8")


@dataclass
class InferenceResult:
    peer: str
    seconds: float  # median time for all test images
    n_samples: int
    max_abs_diff: float | None = None  # vs the softgrad network it was exported from
    # median over the rounds of softgrad's time / this peer's time in the same round
    round_ratio: float | None = None

    @property
    def samples_per_s(self) -> float:
        return self.n_samples / self.seconds


def interleaved_times(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Each function once to warm up, then ``repeats`` rounds that time each once in turn:
    (name -> its times, name -> its warm-up output). A slower or faster moment of a shared
    host then falls on every peer of a round, and per-round ratios pair them."""
    outputs, times = {}, {name: [] for name in fns}
    for name, fn in fns.items():
        settle()  # let the previous library's spinning worker threads park (harness.settle)
        outputs[name] = fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            settle()
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return times, outputs


def _helper_graph(weights: list[np.ndarray]):
    """x @ W1 + b1 -> Relu -> @ W2 + b2 -> Softmax, built with onnx.helper."""
    from onnx import TensorProto, helper, numpy_helper

    W1, b1, W2, b2 = (np.asarray(w, dtype=np.float32) for w in weights)
    nodes = [
        helper.make_node("Gemm", ["input", "W1", "b1"], ["z1"]),
        helper.make_node("Relu", ["z1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "W2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in zip((W1, b1, W2, b2), ("W1", "b1", "W2", "b2"), strict=True)
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", W1.shape[0]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", W2.shape[1]])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def onnx_session(softgrad_model, threads: int):
    """An ONNX Runtime session for the softgrad network; returns (session, how it was built)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        try:
            from softgrad import export_onnx

            export_onnx(softgrad_model, path)
            how = "softgrad.export_onnx"
        except (ImportError, AttributeError):
            params = softgrad_model.named_params()
            proto = _helper_graph([params[k] for k in ("0.W", "0.b", "2.W", "2.b")])
            path.write_bytes(proto.SerializeToString())
            how = "onnx.helper graph"
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    return session, how


def measure(peers: dict, X: np.ndarray, threads: int, repeats: int = 15) -> tuple[list, str]:
    """Throughput of each trained peer (name -> Peer) plus ONNX Runtime on softgrad's network,
    timed in interleaved rounds (:func:`interleaved_times`)."""
    fns = {name: (lambda p=peer: p.predict_proba(X)) for name, peer in peers.items()}
    how = "not run (no softgrad network to export: the softgrad peer did not run)"
    if "softgrad" in peers:
        try:
            session, how = onnx_session(peers["softgrad"].model, threads)
        except ImportError as error:  # onnxruntime, or onnx for the graph, not installed
            session, how = None, f"not run ({error.name or error} is not installed)"
        if session is not None:

            def run_ort():
                return np.concatenate(
                    [
                        session.run(["probabilities"], {"input": X[i : i + BATCH]})[0]
                        for i in range(0, len(X), BATCH)
                    ]
                )

            fns["onnxruntime"] = run_ort
    times, outputs = interleaved_times(fns, repeats)
    reference = outputs.get("softgrad")
    results = []
    for name, seconds in times.items():
        diff = None
        if name in _SAME_WEIGHTS and reference is not None:
            diff = float(np.max(np.abs(outputs[name] - reference)))
        paired = None
        if "softgrad" in times and name != "softgrad":
            pairs = zip(times["softgrad"], seconds, strict=True)
            paired = statistics.median(ours / theirs for ours, theirs in pairs)
        results.append(InferenceResult(name, statistics.median(seconds), len(X), diff, paired))
    return results, how
