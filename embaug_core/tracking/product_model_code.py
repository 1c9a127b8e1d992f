"""MLflow's entry point for the product-level model ("models from code": nothing is pickled)."""

import mlflow

from embaug_core.tracking.product_model import ProductModel

mlflow.models.set_model(ProductModel())
