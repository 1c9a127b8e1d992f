"""The store's tables, and how a store written by an older embaug is brought up to date."""

#: Version 2 stores unlabelled products, the catalogue's description and lineage keys.
SCHEMA_VERSION = 2
#: From an older version: products may lose a class; derived tables are rebuilt from scratch.
MIGRATION = """
ALTER TABLE products ALTER COLUMN category DROP NOT NULL;
ALTER TABLE products ALTER COLUMN image_sha256 DROP NOT NULL;
DROP TABLE IF EXISTS splits;
DROP TABLE IF EXISTS label_sets;
"""
SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    product_id VARCHAR PRIMARY KEY, title VARCHAR NOT NULL, description VARCHAR NOT NULL,
    category VARCHAR, image_sha256 VARCHAR, source VARCHAR);
CREATE TABLE IF NOT EXISTS catalogue (
    sha256 VARCHAR, source_sha256 VARCHAR, path VARCHAR, layout VARCHAR, features VARCHAR[],
    label_column VARCHAR, products BIGINT, labelled BIGINT, rejected BIGINT,
    loaded_at TIMESTAMPTZ, settings VARCHAR);
CREATE TABLE IF NOT EXISTS rejected_products (
    source VARCHAR, line BIGINT, product_id VARCHAR, reason VARCHAR);
CREATE TABLE IF NOT EXISTS images (image_sha256 VARCHAR PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (
    encoder VARCHAR NOT NULL, content_sha256 VARCHAR NOT NULL, vector FLOAT[] NOT NULL,
    PRIMARY KEY (encoder, content_sha256));
CREATE TABLE IF NOT EXISTS splits (
    trial VARCHAR NOT NULL, product_id VARCHAR NOT NULL, category VARCHAR NOT NULL,
    role VARCHAR NOT NULL, known BOOLEAN NOT NULL, catalogue_sha256 VARCHAR,
    PRIMARY KEY (trial, product_id));
CREATE TABLE IF NOT EXISTS label_sets (
    trial VARCHAR NOT NULL, product_id VARCHAR NOT NULL, label VARCHAR NOT NULL,
    source VARCHAR NOT NULL, step INTEGER NOT NULL, lineage VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS human_labels (
    product_id VARCHAR NOT NULL, category VARCHAR NOT NULL, file_sha256 VARCHAR NOT NULL,
    line BIGINT, imported_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS label_imports (
    file_sha256 VARCHAR PRIMARY KEY, file_name VARCHAR, imported_at TIMESTAMPTZ,
    labels BIGINT, left_empty BIGINT, rejected BIGINT, conflicts BIGINT,
    model_version VARCHAR, model_accuracy DOUBLE, scored BIGINT);
CREATE TABLE IF NOT EXISTS predictions (
    product_id VARCHAR PRIMARY KEY, content_sha256 VARCHAR, category VARCHAR,
    probability DOUBLE, none BOOLEAN, top_1 VARCHAR, p_1 DOUBLE, top_2 VARCHAR, p_2 DOUBLE,
    top_3 VARCHAR, p_3 DOUBLE, model_name VARCHAR, model_version VARCHAR,
    scored_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS asset_settings (
    asset VARCHAR NOT NULL, partition VARCHAR NOT NULL, settings VARCHAR NOT NULL,
    PRIMARY KEY (asset, partition));
CREATE TABLE IF NOT EXISTS made_from (
    asset VARCHAR NOT NULL, partition VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL,
    PRIMARY KEY (asset, partition));
CREATE TABLE IF NOT EXISTS results (
    trial VARCHAR, method VARCHAR, metric VARCHAR, value DOUBLE, run_id VARCHAR);
"""
CATALOGUE_COLUMNS = [
    "sha256",
    "source_sha256",
    "path",
    "layout",
    "features",
    "label_column",
    "products",
    "labelled",
    "rejected",
    "loaded_at",
    "settings",
]
HUMAN_LABEL_COLUMNS = ["product_id", "category", "file_sha256", "line", "imported_at"]
IMPORT_COLUMNS = [
    "file_sha256",
    "file_name",
    "imported_at",
    "labels",
    "left_empty",
    "rejected",
    "conflicts",
    "model_version",
    "model_accuracy",
    "scored",
]
REPORT_TABLES = (
    "results",
    "paired_differences",
    "per_class_results",
    "label_quality",
    "labeling_queue",
    "recommendation",
    "expected_figures",
    #: The studies a team runs on its own catalogue (`embaug budget`, `embaug loop`).
    "budget_results",
    "loop_results",
)
