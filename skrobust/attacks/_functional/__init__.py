"""The attacks' tensor loops: tensors in, tensors out, no scikit-learn here."""
