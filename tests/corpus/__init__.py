"""Crafted DICOM files, made by the tests with pydicom (nothing stored in git).

crafted.py writes each odd or hostile file a real export has shown (or could show); test_reading.py and
test_export.py pin what medwb does with each. Add a maker and a test for every new bug found.
"""
