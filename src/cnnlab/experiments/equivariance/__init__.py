"""Assignment 004 task 6 -- translation equivariance, MLP against CNN -- in three concerns: the per-layer measurement
(:mod:`.measure`), the experiment (:mod:`.experiment`) and the assignment's questions answered from the numbers
(:mod:`.answers`)."""

from cnnlab.experiments.equivariance.answers import QUESTIONS
from cnnlab.experiments.equivariance.experiment import (
    DIRECTIONS,
    EXPERIMENT,
    NETWORKS,
    AccuracyCurve,
    EquivarianceResult,
    EquivarianceSettings,
    run,
)
from cnnlab.experiments.equivariance.measure import (
    ExampleMaps,
    LayerEquivariance,
    examples,
    interior_slice,
    measure_equivariance,
    relative_distance,
    shift_feature_maps,
)

__all__ = ["DIRECTIONS", "EXPERIMENT", "NETWORKS", "QUESTIONS", "AccuracyCurve", "EquivarianceResult",
           "EquivarianceSettings", "ExampleMaps", "LayerEquivariance", "examples", "interior_slice",
           "measure_equivariance", "relative_distance", "run", "shift_feature_maps"]
