"""The action table of the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile.

Table E.1-1 (2024b) by attribute keyword. Actions: D replace with a dummy (or pseudonym), Z empty,
X remove, U replace the UID consistently. Compound actions of the standard are resolved to the one
that keeps an object valid whatever its IOD: X/Z → Z, X/D and Z/D → D, X/Z/D → Z, X/Z/U* → U (UIDs in
the sequence mapped, other values emptied). Options (PS3.15 E.3) change some actions; see
medwb.deid.deidentify. Public attributes not listed here are removed unless medwb.deid.keep.KEEP names
them (image description, geometry, acquisition, SEG / SR structure...); private attributes, curves and
overlays are removed too.
"""

from __future__ import annotations

__all__ = ["ACTIONS", "DATE_VRS", "DESCRIPTORS", "PATIENT_CHARACTERISTICS", "DEVICE_IDENTITY",
           "INSTITUTION_IDENTITY", "DUMMY", "action_for"]

_D = """
AcquisitionFieldOfViewLabel AnnotationGroupLabel AnnotationGroupUID AssertionDateTime
AttributeModificationDateTime BeamHoldTransitionDateTime CertificateOfSigner
ClinicalTrialProtocolEthicsCommitteeName ClinicalTrialProtocolID ClinicalTrialSponsorName
ClinicalTrialSubjectID ClinicalTrialSubjectReadingID ContainerIdentifier ContentSequence
ContextGroupLocalVersion ContextGroupVersion Date DateTime DecayCorrectionDateTime DestinationAE
DeviceLabel DigitalSignatureDateTime EffectiveDateTime EncapsulatedDocument EntityLabel EntityLongLabel
ExclusionStartDateTime FlowIdentifier FlowIdentifierSequence FrameAcquisitionDateTime FrameOriginTimestamp
FrameReferenceDateTime FunctionalSyncPulse GraphicAnnotationSequence HangingProtocolCreationDateTime
ImpedanceMeasurementDateTime InformationIssueDateTime InterlockDateTime InterlockDescription
InterlockOriginDescription ModifyingSystem OverrideDateTime PersonIdentificationCodeSequence PersonName
RTPlanLabel RTPrescriptionLabel RTToleranceSetLabel RadiationDoseIdentificationLabel
RadiationDoseInVivoMeasurementLabel RadiationGenerationModeLabel ReasonForTheAttributeModification
RecordedRTControlPointDateTime ReferencedDateTime SafePositionExitDate SafePositionExitTime
SafePositionReturnDate SafePositionReturnTime SelectorAEValue SelectorASValue SelectorDAValue
SelectorDTValue SelectorLOValue SelectorLTValue SelectorOBValue SelectorPNValue SelectorSHValue
SelectorSTValue SelectorTMValue SelectorUNValue SelectorURValue SelectorUTValue SourceEndDateTime
SourceIdentifier SourceStartDateTime SourceStrengthReferenceDate SourceStrengthReferenceTime
SpecimenIdentifier StructureSetLabel Time TreatmentControlPointDate TreatmentControlPointTime
TreatmentPositionGroupLabel TreatmentToleranceViolationDateTime TreatmentToleranceViolationDescription
UserContentLabel UserContentLongLabel VerificationDateTime VerifyingObserverName VerifyingObserverSequence
VerifyingOrganization XRayDetectorID XRaySourceID
ProtocolName AcquisitionDeviceProcessingDescription DateOfLastDetectorCalibration DetectorID
EndAcquisitionDateTime FirstTreatmentDate InstanceCreationDate IntendedPhaseEndDate IntendedPhaseStartDate
MostRecentTreatmentDate ObservationDateTime OperatorIdentificationSequence RTPlanDate RTPlanTime
RTTreatmentApproachLabel SeriesDate SeriesTime StartAcquisitionDateTime TimeOfLastDetectorCalibration
TreatmentDate TreatmentSite TreatmentTime
ContentCreatorName ContentDate ContentTime ContrastBolusAgent InstructionPerformedDateTime PatientID
"""

_Z = """
AccessionNumber CalibrationDateTime ClinicalTrialCoordinatingCenterName ClinicalTrialProtocolName
ClinicalTrialSiteID ClinicalTrialSiteName ClinicalTrialTimePointID ConceptualVolumeCombinationDescription
ConceptualVolumeDescription ConsultingPhysicianName DeviceAlternateIdentifier
FillerOrderNumberImagingServiceRequest FractionationNotes IssuerOfTheContainerIdentifierSequence
IssuerOfTheSpecimenIdentifierSequence ManufacturerDeviceIdentifier ParticipationDateTime PatientBirthDate
PatientName PatientSex PlacerOrderNumberImagingServiceRequest PrescriptionNotes PrescriptionNotesSequence
ROIInterpreter ROIName RTAccessoryDeviceSlotID RTAccessoryHolderSlotID RTPhysicianIntentNarrative
RadiationGenerationModeDescription ReasonForSuperseding ReferringPhysicianName ReviewDate ReviewTime
SourceOfPreviousValues SpecimenPreparationSequence StructureSetDate StructureSetTime StudyDate StudyID
StudyTime TreatmentTechniqueNotes VerifyingObserverIdentificationCodeSequence
AcquisitionContextSequence AcquisitionDate AcquisitionTime BarcodeValue LabelText PatientSexNeutered
ReferencedStudySequence RequestedProcedureDescription ReviewerName SourceSerialNumber TreatmentMachineName
AcquisitionDateTime DeviceSerialNumber InstanceCreationTime InstitutionCodeSequence InstitutionName
OperatorsName ReferencedPerformedProcedureStepSequence StationName
"""

_X = """
AcquisitionComments AcquisitionProtocolDescription ActualHumanPerformersSequence AdditionalPatientHistory
AdmissionID AdmittingDate AdmittingDiagnosesCodeSequence AdmittingDiagnosesDescription AdmittingTime
Allergies AnnotationGroupDescription ApprovalStatusDateTime AssertionExpirationDateTime
AuthorObserverSequence BeamDescription BolusDescription BranchOfService CalibrationDate CalibrationTime
CameraOwnerName CassetteID CertifiedTimestamp ClinicalTrialProtocolEthicsCommitteeApprovalNumber
ClinicalTrialSeriesDescription ClinicalTrialSeriesID ClinicalTrialTimePointDescription
CommentsOnRadiationDose CommentsOnThePerformedProcedureStep CompensatorDescription
ConfidentialityConstraintOnPatientDataDescription ConsultingPhysicianIdentificationSequence
ContainerComponentID ContainerDescription ContentCreatorIdentificationCodeSequence ContrastBolusStartTime
ContrastBolusStopTime ContributionDateTime ContributionDescription CountryOfResidence CreationDate
CreationTime CurrentPatientLocation CurveDate CurveTime CustodialOrganizationSequence
DataSetTrailingPadding DateOfInstallation DateOfLastCalibration DateOfManufacture DateOfSecondaryCapture
DateTimeOfLastCalibration DecompositionDescription DerivationDescription DeviceDescription
DeviceSettingDescription DigitalSignaturesSequence DischargeDate DischargeDiagnosisDescription
DischargeTime DisplacementReferenceLabel DistributionAddress DistributionName DoseReferenceDescription
EntityDescription EntityName EquipmentFrameOfReferenceDescription
EthicsCommitteeApprovalEffectivenessEndDate EthicsCommitteeApprovalEffectivenessStartDate EthnicGroup
ExpectedCompletionDateTime FilterLookupTableDescription FixationDeviceDescription FractionGroupDescription
FrameComments GPSAltitude GPSAltitudeRef GPSAreaInformation GPSDOP GPSDateStamp GPSDestBearing
GPSDestDistance GPSDestDistanceRef GPSDestLongitude GPSDestLongitudeRef GPSDestBearingRef GPSDestLatitude
GPSDestLatitudeRef GPSDifferential GPSImgDirection GPSImgDirectionRef GPSLatitude GPSLatitudeRef
GPSLongitude GPSLongitudeRef GPSMapDatum GPSMeasureMode GPSProcessingMethod GPSSatellites GPSSpeed
GPSSpeedRef GPSStatus GPSTimeStamp GPSTrack GPSTrackRef GPSVersionID GantryID GeneratorID
HL7DocumentEffectiveTime HumanPerformerName HumanPerformerOrganization IconImageSequence
IdentifyingComments ImageComments ImagePresentationComments ImagingServiceRequestComments Impressions
InstanceCoercionDateTime InstanceOriginStatus InstitutionAddress InstitutionalDepartmentName
InstitutionalDepartmentTypeCodeSequence InsurancePlanIdentification IntendedFractionStartTime
IntendedRecipientsOfResultsIdentificationSequence InterpretationApprovalDate InterpretationApprovalTime
InterpretationApproverSequence InterpretationAuthor InterpretationDiagnosisDescription InterpretationID
InterpretationIDIssuer InterpretationRecordedDate InterpretationRecordedTime InterpretationRecorder
InterpretationText InterpretationTranscriber InterpretationTranscriptionDate
InterpretationTranscriptionTime InterventionDrugStartTime InterventionDrugStopTime
IssueDateOfImagingServiceRequest IssueTimeOfImagingServiceRequest IssuerOfAdmissionID
IssuerOfAdmissionIDSequence IssuerOfClinicalTrialProtocolID IssuerOfClinicalTrialSeriesID
IssuerOfClinicalTrialSiteID IssuerOfClinicalTrialSubjectID IssuerOfClinicalTrialSubjectReadingID
IssuerOfClinicalTrialTimePointID IssuerOfPatientID IssuerOfServiceEpisodeID IssuerOfServiceEpisodeIDSequence
LastMenstrualDate LensMake LensModel LensSerialNumber LensSpecification LongDeviceDescription MAC MakerNote
MedicalAlerts MedicalRecordLocator MilitaryRank ModifiedAttributesSequence ModifiedImageDate
ModifiedImageDescription ModifiedImageTime ModifyingDeviceID MultienergyAcquisitionDescription
NameOfPhysiciansReadingStudy NamesOfIntendedRecipientsOfResults NetworkID NonconformingDataElementValue
NonconformingModifiedAttributesSequence ObservationStartDateTime Occupation OrderCallbackPhoneNumber
OrderCallbackTelecomInformation OrderEnteredBy OrderEntererLocation OriginalAttributesSequence Originator
OtherClinicalTrialProtocolIDsSequence OtherPatientIDs OtherPatientIDsSequence OtherPatientNames
OverlayDate OverlayTime ParticipantSequence PatientComments PatientSetupPhotoDescription PatientState
PatientTransportArrangements PatientTreatmentPreparationMethodDescription
PatientTreatmentPreparationProcedureParameterDescription PatientAddress PatientAge PatientBirthName
PatientBirthTime PatientInstitutionResidence PatientInsurancePlanCodeSequence PatientMotherBirthName
PatientPrimaryLanguageCodeSequence PatientPrimaryLanguageModifierCodeSequence PatientReligiousPreference
PatientSize PatientTelecomInformation PatientTelephoneNumbers PatientWeight PerformedLocation
PerformedProcedureStepDescription PerformedProcedureStepEndDate PerformedProcedureStepEndDateTime
PerformedProcedureStepEndTime PerformedProcedureStepID PerformedProcedureStepStartDate
PerformedProcedureStepStartDateTime PerformedProcedureStepStartTime PerformedStationAETitle
PerformedStationGeographicLocationCodeSequence PerformedStationName PerformedStationNameCodeSequence
PerformingPhysicianIdentificationSequence PerformingPhysicianName PersonAddress PersonTelecomInformation
PersonTelephoneNumbers PhysicianApprovingInterpretation PhysiciansReadingStudyIdentificationSequence
PhysiciansOfRecord PhysiciansOfRecordIdentificationSequence PlateID PositionAcquisitionTemplateDescription
PositionAcquisitionTemplateName PreMedication PregnancyStatus PrescriptionDescription
PresentationCreationDate PresentationCreationTime PriorTreatmentDoseDescription
ProcedureStepCancellationDateTime ProductExpirationDateTime PyramidDescription PyramidLabel
ROICreatorSequence ROIDateTime ROIDescription ROIGenerationDescription ROIInterpreterSequence
ROIObservationDateTime ROIObservationDescription ROIObservationLabel RTPlanDescription RTPlanName
RadiopharmaceuticalStartDateTime RadiopharmaceuticalStartTime RadiopharmaceuticalStopDateTime
RadiopharmaceuticalStopTime ReasonForOmissionDescription ReasonForRequestedProcedureCodeSequence
ReasonForStudy ReasonForVisit ReasonForVisitCodeSequence ReasonForTheImagingServiceRequest
ReasonForTheRequestedProcedure ReceivingAE ReferencedDigitalSignatureSequence
ReferencedPatientAliasSequence ReferencedPatientPhotoSequence ReferencedPatientSequence
ReferencedSOPInstanceMACSequence ReferringPhysicianIdentificationSequence ReferringPhysicianAddress
ReferringPhysicianTelephoneNumbers RegionOfResidence RequestAttributesSequence RequestedContrastAgent
RequestedProcedureComments RequestedProcedureID RequestedProcedureLocation RequestedSeriesDescription
RequestingAE RequestingPhysician RequestingService RespiratoryMotionCompensationTechniqueDescription
ResponsibleOrganization ResponsiblePerson ResultsComments ResultsDistributionListSequence ResultsID
ResultsIDIssuer RetrieveAETitle SOPAuthorizationDateTime ScheduledAdmissionDate ScheduledAdmissionTime
ScheduledDischargeDate ScheduledDischargeTime ScheduledHumanPerformersSequence
ScheduledPatientInstitutionResidence ScheduledPerformingPhysicianIdentificationSequence
ScheduledPerformingPhysicianName ScheduledProcedureStepDescription ScheduledProcedureStepEndDate
ScheduledProcedureStepEndTime ScheduledProcedureStepExpirationDateTime ScheduledProcedureStepID
ScheduledProcedureStepLocation ScheduledProcedureStepModificationDateTime
ScheduledProcedureStepStartDate ScheduledProcedureStepStartDateTime ScheduledProcedureStepStartTime
ScheduledStationAETitle ScheduledStationGeographicLocationCodeSequence ScheduledStationName
ScheduledStationNameCodeSequence ScheduledStudyLocation ScheduledStudyLocationAETitle
ScheduledStudyStartDate ScheduledStudyStartTime ScheduledStudyStopDate ScheduledStudyStopTime
SeriesDescription ServiceEpisodeDescription ServiceEpisodeID SetupTechniqueDescription
ShieldingDeviceDescription SlideIdentifier SmokingStatus SourceManufacturer SpecialNeeds
SpecimenAccessionNumber SpecimenDetailedDescription SpecimenShortDescription StationAETitle
StructureSetDescription StructureSetName StudyArrivalDate StudyArrivalTime StudyComments
StudyCompletionDate StudyCompletionTime StudyDescription StudyIDIssuer StudyReadDate StudyReadTime
StudyVerifiedDate StudyVerifiedTime SubstanceAdministrationDateTime TemplateLocalVersion TemplateVersion
TextComments TextString TimeOfLastCalibration TimeOfSecondaryCapture TimezoneOffsetFromUTC TopicAuthor
TopicKeywords TopicSubject TopicTitle TransducerIdentificationSequence TreatmentSites UDISequence
UniqueDeviceIdentifier VisitComments XRayDetectorLabel WaveformFilterDescription
AddressTrial CurrentObserverTrial DateOfDocumentOrVerbalTransactionTrial FindingsGroupRecordingDateTrial
FindingsGroupRecordingTimeTrial ObservationDateTrial ObservationTimeTrial TelephoneNumberTrial
TimeOfDocumentCreationOrVerbalTransactionTrial VerbalSourceTrial VerbalSourceIdentifierCodeSequenceTrial
"""

_U = """
AcquisitionUID ConcatenationUID ConceptualVolumeUID ConstituentConceptualVolumeUID DeviceUID
DigitalSignatureUID DimensionOrganizationUID DoseReferenceUID DosimetricObjectiveUID
FailedSOPInstanceUIDList FiducialUID FrameOfReferenceUID InstanceCreatorUID IrradiationEventUID
LargePaletteColorLookupTableUID ManufacturerDeviceClassUID MediaStorageSOPInstanceUID MultiplexGroupUID
ObservationUID PaletteColorLookupTableUID PatientSetupUID PresentationDisplayCollectionUID
PresentationSequenceCollectionUID PyramidUID RTTreatmentPhaseUID ReferencedConceptualVolumeUID
ReferencedDoseReferenceUID ReferencedDosimetricObjectiveUID ReferencedFiducialsUID
ReferencedFrameOfReferenceUID ReferencedGeneralPurposeScheduledProcedureStepTransactionUID
ReferencedSOPInstanceUID ReferencedSOPInstanceUIDInFile ReferencedTreatmentPositionGroupUID
RelatedFrameOfReferenceUID SOPInstanceUID SeriesInstanceUID SourceConceptualVolumeUID
SourceFrameOfReferenceUID SpecimenUID StorageMediaFileSetUID StudyInstanceUID
SynchronizationFrameOfReferenceUID TargetUID TemplateExtensionCreatorUID TemplateExtensionOrganizationUID
TrackingUID TransactionUID TreatmentPositionGroupUID TreatmentSessionUID UID ObservationSubjectUIDTrial
ReferencedObservationUIDTrial
ReferencedImageSequence SourceImageSequence
"""


def _table() -> dict[str, str]:
    out: dict[str, str] = {}
    for action, block in (("X", _X), ("Z", _Z), ("D", _D), ("U", _U)):
        for kw in block.split():
            out[kw] = action
    return out


#: keyword -> "X" | "Z" | "D" | "U"
ACTIONS: dict[str, str] = _table()

#: The dummy value the D action writes, by value representation (a PHI scan knows these are no identity).
DUMMY: dict[str, str] = {"PN": "ANONYMOUS", "DA": "19000101", "DT": "19000101000000", "TM": "000000",
                         "AS": "000Y", "SH": "ANONYMIZED", "LO": "ANONYMIZED", "ST": "ANONYMIZED",
                         "LT": "ANONYMIZED", "UT": "ANONYMIZED", "CS": "ANONYMIZED", "AE": "ANONYMIZED",
                         "UC": "ANONYMIZED", "UR": "", "IS": "0", "DS": "0"}

#: Value representations that carry dates or times (shifted by the longitudinal option).
DATE_VRS = frozenset({"DA", "DT", "TM"})

#: Free-text descriptors that the Clean Descriptors option keeps, cleaned, instead of removing.
DESCRIPTORS = frozenset({
    "StudyDescription", "SeriesDescription", "ProtocolName", "ImageComments", "AcquisitionComments",
    "DerivationDescription", "PerformedProcedureStepDescription", "RequestedProcedureDescription",
    "ScheduledProcedureStepDescription", "AdditionalPatientHistory", "ReasonForStudy", "FrameComments",
    "ContrastBolusAgent", "AcquisitionDeviceProcessingDescription", "StudyComments", "PatientComments",
    "AdmittingDiagnosesDescription", "ClinicalTrialSeriesDescription", "ClinicalTrialTimePointDescription",
})

#: Kept by the Retain Patient Characteristics option (age, sex, size, weight... not identity).
PATIENT_CHARACTERISTICS = frozenset({
    "PatientSex", "PatientAge", "PatientSize", "PatientWeight", "EthnicGroup", "SmokingStatus",
    "PregnancyStatus", "PatientSexNeutered", "PatientState", "Allergies", "MedicalAlerts",
    "PreMedication", "SpecialNeeds", "LastMenstrualDate",
})

#: Kept by the Retain Device Identity option.
DEVICE_IDENTITY = frozenset({
    "DeviceSerialNumber", "DetectorID", "GantryID", "GeneratorID", "StationName", "DeviceUID",
    "DeviceDescription", "PlateID", "CassetteID", "XRayDetectorID", "XRaySourceID", "SourceSerialNumber",
    "UniqueDeviceIdentifier", "UDISequence", "DateOfLastCalibration", "TimeOfLastCalibration",
    "DateOfLastDetectorCalibration", "TimeOfLastDetectorCalibration", "DeviceLabel",
})

#: Kept by the Retain Institution Identity option.
INSTITUTION_IDENTITY = frozenset({"InstitutionName", "InstitutionAddress", "InstitutionCodeSequence",
                                  "InstitutionalDepartmentName", "InstitutionalDepartmentTypeCodeSequence"})


def action_for(keyword: str) -> str | None:
    """The Basic Profile action for an attribute keyword, or None when the profile keeps it."""
    return ACTIONS.get(keyword)
