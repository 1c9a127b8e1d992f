"""Putting a model to work on products: the product-level classifier (title, description and
image in; category, probability, "none" out) and how its inputs are checked."""
