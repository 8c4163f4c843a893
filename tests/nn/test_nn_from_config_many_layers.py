"""Building a network of many layers reads each layer class's constructor signature once:
``inspect.signature`` per layer was most of the time of loading a model of many layers
(100,000 Identity layers: 9 s)."""

from __future__ import annotations

import inspect

from softgrad.nn import Sequential


def test_from_config_reads_each_layer_class_signature_once(monkeypatch):
    calls = []
    signature = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda f: calls.append(f) or signature(f))
    layers = [{"type": "Linear", "config": {"in_features": 2, "out_features": 2}}]
    layers += [{"type": "Identity", "config": {}}, {"type": "ReLU", "config": {}}] * 50
    net = Sequential.from_config({"layers": layers}, rng=0)
    assert len(net.layers) == 101
    # Linear's arguments are bound through its signature too (linear_arguments)
    assert len(calls) < 10, f"{len(calls)} signatures read for 101 layers of 3 classes"
