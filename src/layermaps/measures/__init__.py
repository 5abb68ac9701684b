"""Measures of the layers themselves and of their 2-D maps (issue "layer measures").

- `cka`: linear CKA between two sources' activations on the same rows, biased and debiased.
- `intrinsic`: TwoNN and Levina-Bickel MLE intrinsic dimension (scikit-dimension).
- `probe`: a linear probe (multinomial logistic regression) per source.
- `map_quality`: trustworthiness and continuity, random and centroid triplet accuracy, and
  neighbourhood hit of a 2-D map.
- `stage`: the workflow's jobs; `table`: the tidy measures table.
"""
