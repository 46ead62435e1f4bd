"""Writing results as DICOM (series, and later SEG / Parametric Map / SR)."""
