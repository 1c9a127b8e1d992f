"""The production model as MLflow serves it: a pyfunc whose input is a table of products
(`title`, `description`, `image` as base64 text, or `image_path` under the allowed roots) and
whose output is category, probability, none flag, top 3 and a per-row error."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema

from embaug_core.serving.product import (
    OUTPUT_COLUMNS,
    EncoderSpec,
    InputLimits,
    ProductClassifier,
)
from embaug_core.tracking.pyfunc import load_classifier, save_classifier

INPUT_SCHEMA = Schema(
    [
        ColSpec(DataType.string, "product_id", required=False),
        ColSpec(DataType.string, "title", required=False),
        ColSpec(DataType.string, "description", required=False),
        # Base64 text, decoded row by row: one bad image is that row's error, not a 400 for
        # the whole request (MLflow rejects a whole request whose binary column fails).
        ColSpec(DataType.string, "image", required=False),
        ColSpec(DataType.string, "image_path", required=False),
    ]
)
_OUTPUT_TYPES = {
    "probability": DataType.double,
    "none": DataType.boolean,
    "open_set_score": DataType.double,
}
OUTPUT_SCHEMA = Schema(
    [
        ColSpec(_OUTPUT_TYPES.get(c, DataType.double if c.startswith("p_") else DataType.string), c)
        for c in OUTPUT_COLUMNS
    ]
)


def save_product(product: ProductClassifier, folder: Path) -> Path:
    """The classifier's files and `serving.json` (encoders, threshold, input limits)."""
    save_classifier(product.classifier, folder / "classifier")
    spec = dataclasses.asdict(product.spec)
    serving = {"encoders": spec, "threshold": product.threshold}
    serving["limits"] = dataclasses.asdict(product.limits)
    (folder / "serving.json").write_text(json.dumps(serving, indent=1))
    return folder


def load_product(folder: Path) -> ProductClassifier:
    serving = json.loads((folder / "serving.json").read_text())
    encoders = serving["encoders"] | {"features": tuple(serving["encoders"]["features"])}
    limits = serving["limits"] | {"image_roots": tuple(serving["limits"]["image_roots"])}
    return ProductClassifier(
        load_classifier(folder / "classifier"),
        EncoderSpec(**encoders),
        float(serving["threshold"]),
        InputLimits(**limits),
    )


class ProductModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper of `ProductClassifier`."""

    def load_context(self, context) -> None:
        self.product = load_product(Path(context.artifacts["product"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """The hint tells MLflow to check inputs against the logged signature, not the hint."""
        return self.product.predict(model_input)


def log_product_model(
    product: ProductClassifier, input_example: pd.DataFrame, name: str = "model"
) -> str:
    """Log to the active run as a pyfunc model from code, with its signature and an input
    example (a real product); returns its URI."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = save_product(product, Path(scratch) / "product")
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(Path(__file__).with_name("product_model_code.py")),
            artifacts={"product": str(folder)},
            signature=ModelSignature(inputs=INPUT_SCHEMA, outputs=OUTPUT_SCHEMA),
            input_example=input_example,
            pip_requirements=["embaug"],
        )
    return info.model_uri
