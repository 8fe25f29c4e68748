"""Feature extraction (C3D descriptors), feature stores, and their linear-SVM evaluation."""
