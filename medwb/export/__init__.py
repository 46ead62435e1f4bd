"""Writing results as DICOM that viewers and PACS understand.

series   - a Volume as a CT/MR image series (single-frame files, or one Enhanced multi-frame file)
seg      - lesion and prediction masks as DICOM SEG referencing the source series
pmap     - attribution maps as DICOM Parametric Maps (float, with the method recorded)
sr       - findings as Comprehensive 3D SR (TID 1500)
"""
