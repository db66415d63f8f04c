"""From feature maps to evidence (assignment 000 task 3.3 made rigorous), one module per concern: the statistics
(:mod:`.stats`), the evaluation views (:mod:`.evaluation`), running a model layer by layer (:mod:`.walk`), the
streaming pass over the test set (:mod:`.scan`), what drives each channel (:mod:`.channels`), channel ablation
(:mod:`.ablation`), occlusion (:mod:`.occlusion`) and saliency (:mod:`.saliency`) maps, the generated claim
(:mod:`.claim`) and the experiment itself (:mod:`.experiment`)."""

from cnnlab.experiments.evidence.ablation import ChannelAblation, PairedChange, ablation_tests, paired_change
from cnnlab.experiments.evidence.channels import (
    ChannelProfile,
    LayerChannels,
    PreferenceTest,
    TopImage,
    channel_evidence,
    receptive_box,
    split_halves,
    top_indices,
)
from cnnlab.experiments.evidence.claim import Claim, statement, strongest_claim
from cnnlab.experiments.evidence.evaluation import Evaluation, Proportion, confusion_matrix, evaluate_predictions
from cnnlab.experiments.evidence.experiment import (
    EXPERIMENT,
    EvidenceResult,
    EvidenceSettings,
    NetworkInfo,
    WhereMaps,
    load_network,
    run,
    where_maps,
)
from cnnlab.experiments.evidence.occlusion import OcclusionMaps, centre_mask, centre_share, occlusion_maps
from cnnlab.experiments.evidence.saliency import (
    EngineAgreement,
    compare_engines,
    numpy_input_gradient,
    saliency_maps,
    torch_input_gradient,
    twin,
)
from cnnlab.experiments.evidence.scan import Scan, scan

__all__ = ["EXPERIMENT", "ChannelAblation", "ChannelProfile", "Claim", "EngineAgreement", "Evaluation",
           "EvidenceResult", "EvidenceSettings", "LayerChannels", "NetworkInfo", "OcclusionMaps", "PairedChange",
           "PreferenceTest", "Proportion", "Scan", "TopImage", "WhereMaps", "ablation_tests", "centre_mask",
           "centre_share", "channel_evidence", "compare_engines", "confusion_matrix",
           "evaluate_predictions", "load_network", "numpy_input_gradient", "occlusion_maps", "paired_change",
           "receptive_box", "run", "saliency_maps", "scan", "split_halves", "statement", "strongest_claim",
           "top_indices", "torch_input_gradient", "twin", "where_maps"]
