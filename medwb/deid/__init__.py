"""De-identification: the PS3.15 Basic Profile with options, cohort pseudonyms, and a PHI scan.

    from medwb.deid import Deidentifier, PseudonymMap, scan_phi
    mapping = PseudonymMap("~/.config/medwb/deid/my-study.json")      # kept apart from the data
    result = Deidentifier(mapping).folder("incoming/", "deidentified/")
    assert result.phi_clean and result.problems.empty                 # the run scans its own output
"""

from __future__ import annotations

from medwb.deid.deidentify import BurnedInAnnotationError, Deidentifier
from medwb.deid.phiscan import DIRECT_IDENTIFIERS, identifiers_from_dicom, scan_phi
from medwb.deid.profile import ACTIONS, action_for
from medwb.deid.pseudonyms import PseudonymMap
from medwb.deid.run import DeidResult, PHIFoundError, PHIWarning

__all__ = ["Deidentifier", "PseudonymMap", "BurnedInAnnotationError", "scan_phi", "identifiers_from_dicom",
           "DIRECT_IDENTIFIERS", "ACTIONS", "action_for", "DeidResult", "PHIFoundError", "PHIWarning"]
