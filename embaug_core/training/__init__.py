"""Training: the method registry (`methods`), batch augmentations (`mixup`), heads and the
fitted classifier (`model`), the training loop and the peer (`train`), one run of a method
(`experiment`) and the same run logged to MLflow (`logged`)."""
