"""Training for every layer family: the loop (``fit`` / ``evaluate`` / ``predict``, :class:`History`), the run
settings (:class:`TrainConfig` and named recipes) and a whole run into a folder (:func:`train_model`)."""

from cnnlab.training.checkpoints import CHECKPOINT_NAME, load_checkpoint
from cnnlab.training.config import AUGMENTATIONS, RECIPES, Recipe, TrainConfig, get_recipe, recipe
from cnnlab.training.loop import EpochRecord, History, TrainingDiverged, evaluate, fit, predict, resolve_device
from cnnlab.training.run import TrainResult, load_data, load_trained, read_config, train_model, training_kit

__all__ = ["AUGMENTATIONS", "CHECKPOINT_NAME", "RECIPES", "EpochRecord", "History", "Recipe", "TrainConfig",
           "TrainResult", "TrainingDiverged", "evaluate", "fit", "get_recipe", "load_checkpoint", "load_data",
           "load_trained", "predict", "read_config", "recipe", "resolve_device", "train_model", "training_kit"]
