"""MLflow's entry point for logged classifiers ("models from code": nothing is pickled)."""

import mlflow

from embaug_core.tracking.pyfunc import ClassifierModel

mlflow.models.set_model(ClassifierModel())
