"""``cnnlab explore``: an interactive, self-contained HTML page of *your* trained network.

The page embeds the network's weights (:mod:`.export`), a few dozen test images (:mod:`.samples`) and a readable
JavaScript forward pass -- a third engine beside NumPy and torch -- and shows every layer's maps for a chosen,
drawn or shifted input, the class probabilities, and the equation of any clicked conv or pooling cell
(:mod:`.page`; the scripts and stylesheet are in ``assets/``).

Quick use::

    from cnnlab.explore import export_trained, load_run, samples_from, with_reference, write_page
    model, config = load_run("runs/mnist-seed")                 # NumPy engine
    samples = samples_from(cnnlab.data.load_dataset("mnist", "test"), 30)
    network = with_reference(export_trained(model, config, source="runs/mnist-seed"), model, samples)
    write_page("explorer-mnist.html", [network], samples)
"""

from cnnlab.explore.export import (
    SUPPORTED_LAYERS,
    ExportedNetwork,
    ExportError,
    decode_array,
    encode_array,
    export_layers,
    export_network,
    export_trained,
    load_run,
    network_label,
)
from cnnlab.explore.page import page_data, render_page, write_page
from cnnlab.explore.samples import Samples, choose_samples, model_inputs, probabilities, samples_from, with_reference

__all__ = [
    "SUPPORTED_LAYERS",
    "ExportError",
    "ExportedNetwork",
    "Samples",
    "choose_samples",
    "decode_array",
    "encode_array",
    "export_layers",
    "export_network",
    "export_trained",
    "load_run",
    "model_inputs",
    "network_label",
    "page_data",
    "probabilities",
    "render_page",
    "samples_from",
    "with_reference",
    "write_page",
]
