"""Data stage: download the IDX files from a mirror, check them, and prepare the train/test split."""
