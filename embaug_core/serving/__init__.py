"""Serving: the production model (`production`, published by `publish`), the product-level
classifier (`product`: title, description and image in; category, probability, "none" out),
predictions (`predictions`) and what to label next (`queue`)."""
