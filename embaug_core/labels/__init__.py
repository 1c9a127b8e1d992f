"""Labels: people's labels and their rules (`people`), trial splits (`splits`), what is
current (`lineage`), and labelled sets grown from seeds through nearest neighbours or
propagated (`knn`, `index`, `sets`)."""
