"""Labelled sets grown from seeds: nearest-neighbour augmentation and the propagation
baseline (`knn`), and a trial's label sets with their quality against the truth (`sets`)."""
