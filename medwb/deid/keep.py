"""The attributes de-identification keeps that the Basic Profile's action table does not list.

PS3.15 Table E.1-1 names the attributes to remove, empty, replace or remap; everything else may still
carry identifying text (a new attribute of the next edition, a retired one a scanner still writes).
medwb therefore removes every public attribute that is neither in that table (medwb.deid.profile) nor
in KEEP below: the attributes needed to read, place and interpret images (pixel description and data,
geometry, acquisition parameters of CT, MR, PET/NM, X-ray and US, multi-frame functional groups), DICOM
SEG, Parametric Map, RT Structure Set / Dose and SR content, codes and references. Kept attributes
whose value is text are still cleaned (see medwb.deid.deidentify); pass ``keep=`` to the Deidentifier
to keep more.

TRUSTED_CODING_SCHEMES are the coding schemes whose CodeMeanings are published terms; a code of any
other (local) scheme may carry free text in its meaning, which is then replaced.
"""

from __future__ import annotations

__all__ = ["KEEP", "FILE_META_KEEP", "TRUSTED_CODING_SCHEMES", "CODE_STRUCTURE", "TEXT_CONCEPTS_KEPT"]

_BLOCKS = """
SpecificCharacterSet SOPClassUID InstanceNumber ContentQualification QualityControlImage
PatientIdentityRemoved LongitudinalTemporalInformationModified DeidentificationMethod
DeidentificationMethodCodeSequence TypeOfPatientID CodingSchemeIdentificationSequence CodingSchemeName
CodingSchemeResponsibleOrganization CodingSchemeUID CodingSchemeRegistry CodingSchemeExternalID
Modality SeriesNumber Laterality BodyPartExamined PatientPosition AnatomicalOrientationType
SmallestPixelValueInSeries LargestPixelValueInSeries PerformedProtocolCodeSequence ProcedureCodeSequence
PositionReferenceIndicator Manufacturer ManufacturerModelName SoftwareVersions SpatialResolution
PixelPaddingValue PixelPaddingRangeLimit ContributingEquipmentSequence PurposeOfReferenceCodeSequence
ImageType AcquisitionNumber ImagesInAcquisition BurnedInAnnotation RecognizableVisualFeatures
LossyImageCompression LossyImageCompressionRatio LossyImageCompressionMethod PatientOrientation
PresentationLUTShape PresentationIntentType PixelIntensityRelationship PixelIntensityRelationshipSign
PixelSpacing ImageOrientationPatient ImagePositionPatient SliceThickness SpacingBetweenSlices SliceLocation
SamplesPerPixel PhotometricInterpretation Rows Columns BitsAllocated BitsStored HighBit PixelRepresentation
PlanarConfiguration PixelAspectRatio SmallestImagePixelValue LargestImagePixelValue
RedPaletteColorLookupTableDescriptor GreenPaletteColorLookupTableDescriptor
BluePaletteColorLookupTableDescriptor RedPaletteColorLookupTableData GreenPaletteColorLookupTableData
BluePaletteColorLookupTableData SegmentedRedPaletteColorLookupTableData
SegmentedGreenPaletteColorLookupTableData SegmentedBluePaletteColorLookupTableData PixelData FloatPixelData
DoubleFloatPixelData ExtendedOffsetTable ExtendedOffsetTableLengths ICCProfile ColorSpace
NumberOfFrames FrameIncrementPointer FrameTime FrameTimeVector StereoPairsPresent
RescaleIntercept RescaleSlope RescaleType WindowCenter WindowWidth WindowCenterWidthExplanation
VOILUTFunction VOILUTSequence LUTDescriptor LUTExplanation LUTData LUTLabel ModalityLUTSequence
ModalityLUTType PresentationLUTSequence
SharedFunctionalGroupsSequence PerFrameFunctionalGroupsSequence PixelMeasuresSequence PlanePositionSequence
PlaneOrientationSequence PlanePositionVolumeSequence PlaneOrientationVolumeSequence FrameContentSequence
FrameAcquisitionNumber FrameAcquisitionDuration CardiacCyclePosition RespiratoryCyclePosition
DimensionIndexValues TemporalPositionIndex StackID InStackPositionNumber DerivationImageSequence
DerivationCodeSequence FrameAnatomySequence FrameLaterality AnatomicRegionSequence
AnatomicRegionModifierSequence PrimaryAnatomicStructureSequence PrimaryAnatomicStructureModifierSequence
PixelValueTransformationSequence FrameVOILUTSequence RealWorldValueMappingSequence QuantityDefinitionSequence
RealWorldValueFirstValueMapped RealWorldValueLastValueMapped RealWorldValueIntercept RealWorldValueSlope
RealWorldValueLUTData DoubleFloatRealWorldValueFirstValueMapped DoubleFloatRealWorldValueLastValueMapped
MeasurementUnitsCodeSequence FrameType PixelPresentation VolumetricProperties VolumeBasedCalculationTechnique
CTImageFrameTypeSequence MRImageFrameTypeSequence PETFrameTypeSequence ParametricMapFrameTypeSequence
TemporalPositionSequence CTAcquisitionTypeSequence CTAcquisitionDetailsSequence CTGeometrySequence
CTReconstructionSequence CTExposureSequence CTXRayDetailsSequence CTPositionSequence CTTableDynamicsSequence
CTAdditionalXRaySourceSequence MRTimingAndRelatedParametersSequence MRFOVGeometrySequence MREchoSequence
MRModifierSequence MRImagingModifierSequence MRReceiveCoilSequence MRTransmitCoilSequence MRDiffusionSequence
MRAveragesSequence MRSpatialSaturationSequence MRMetaboliteMapSequence MRVelocityEncodingSequence
MRArterialSpinLabelingSequence CardiacSynchronizationSequence RespiratorySynchronizationSequence
IrradiationEventIdentificationSequence UnassignedSharedConvertedAttributesSequence
UnassignedPerFrameConvertedAttributesSequence DimensionOrganizationSequence DimensionOrganizationType
DimensionIndexSequence DimensionIndexPointer FunctionalGroupPointer DimensionDescriptionLabel
KVP DataCollectionDiameter ReconstructionDiameter DistanceSourceToDetector DistanceSourceToPatient
GantryDetectorTilt TableHeight RotationDirection ExposureTime XRayTubeCurrent Exposure ExposureInuAs
ExposureInmAs FilterType GeneratorPower FocalSpots ConvolutionKernel RevolutionTime SingleCollimationWidth
TotalCollimationWidth TableSpeed TableFeedPerRotation SpiralPitchFactor CTDIvol CTDIPhantomTypeCodeSequence
DataCollectionCenterPatient ReconstructionTargetCenterPatient CalciumScoringMassFactorPatient
CalciumScoringMassFactorDevice EnergyWeightingFactor ExposureModulationType EstimatedDoseSaving ScanOptions
ReconstructionAlgorithm ReconstructionFieldOfView ReconstructionPixelSpacing ReconstructionAngle
AcquisitionType TubeAngle TableTraverse ScanLength ScanVelocity
ScanningSequence SequenceVariant MRAcquisitionType SequenceName AngioFlag RepetitionTime EchoTime
InversionTime NumberOfAverages ImagingFrequency ImagedNucleus EchoNumbers MagneticFieldStrength
NumberOfPhaseEncodingSteps EchoTrainLength PercentSampling PercentPhaseFieldOfView PixelBandwidth TriggerTime
NominalInterval HeartRate CardiacNumberOfImages LowRRValue HighRRValue IntervalsAcquired IntervalsRejected
ReceiveCoilName TransmitCoilName AcquisitionMatrix InPlanePhaseEncodingDirection FlipAngle
VariableFlipAngleFlag SAR dBdt TemporalPositionIdentifier NumberOfTemporalPositions TemporalResolution
DiffusionBValue DiffusionGradientOrientation DiffusionDirectionality AcquisitionContrast AcquisitionDuration
BloodSignalNulling BulkMotionCompensationTechnique CardiacSynchronizationTechnique ChemicalShiftReference
ComplexImageComponent CoverageOfKSpace Decoupling EchoPlanarPulseSequence EchoPulseSequence
FlowCompensationDirection FrequencyCorrection GeometryOfKSpaceTraversal GradientEchoTrainLength
GradientOutput GradientOutputType KSpaceFiltering MRAcquisitionFrequencyEncodingSteps
MRAcquisitionPhaseEncodingStepsInPlane MRSpectroscopyAcquisitionType MagnetizationTransfer
MultiPlanarExcitation NominalRespiratoryTriggerDelayTime NumberOfKSpaceTrajectories OversamplingPhase
ParallelAcquisition ParallelAcquisitionTechnique ParallelReductionFactorInPlane
ParallelReductionFactorOutOfPlane ParallelReductionFactorSecondInPlane PartialFourier PhaseContrast
PulseSequenceName RFEchoTrainLength RectilinearPhaseEncodeReordering ResonantNucleus RespiratoryIntervalTime
RespiratoryMotionCompensationTechnique SaturationRecovery SegmentedKSpaceTraversal SpatialPresaturation
SpecificAbsorptionRateValue SpectrallySelectedExcitation SpectrallySelectedSuppression Spoiling
SteadyStatePulseSequence T2Preparation TagAngleFirstAxis TagSpacingFirstDimension TagThickness Tagging
TimeOfFlightContrast TransmitCoilType VelocityEncodingDirection VelocityEncodingMinimumValue
VelocityEncodingMaximumValue WaterReferencedPhaseCorrection WholeBodyTechnique InversionRecovery
Units SeriesType CountsSource DecayCorrection CorrectedImage RandomsCorrectionMethod
AttenuationCorrectionMethod ReconstructionMethod DecayFactor DoseCalibrationFactor ScatterFractionFactor
DeadTimeFactor FrameReferenceTime ActualFrameDuration ImageIndex SliceSensitivityFactor
RadiopharmaceuticalInformationSequence Radiopharmaceutical RadionuclideCodeSequence
RadiopharmaceuticalCodeSequence RadionuclideTotalDose RadionuclideHalfLife RadionuclidePositronFraction
NumberOfSlices NumberOfTimeSlices EnergyWindowVector DetectorVector NumberOfDetectors NumberOfEnergyWindows
CountsAccumulated AcquisitionTerminationCondition CountRate PatientGantryRelationshipCodeSequence
PatientOrientationCodeSequence PatientOrientationModifierCodeSequence NumberOfRotations NumberOfFramesInRotation
DistanceSourceToEntrance ViewPosition ImagerPixelSpacing DetectorType PositionerType FieldOfViewShape
FieldOfViewDimensions Grid BodyPartThickness CompressionForce EstimatedRadiographicMagnificationFactor
SequenceOfUltrasoundRegions RegionSpatialFormat RegionDataType RegionFlags RegionLocationMinX0
RegionLocationMinY0 RegionLocationMaxX1 RegionLocationMaxY1 ReferencePixelX0 ReferencePixelY0
PhysicalUnitsXDirection PhysicalUnitsYDirection ReferencePixelPhysicalValueX ReferencePixelPhysicalValueY
PhysicalDeltaX PhysicalDeltaY TransducerFrequency PulseRepetitionFrequency UltrasoundColorDataPresent
ContrastBolusVolume ContrastBolusAgentSequence ContrastBolusAdministrationRouteSequence
ContrastBolusIngredientCodeSequence ContrastBolusUsageSequence ContrastBolusAgentNumber
ContrastBolusAgentAdministered ContrastBolusAgentDetected ContrastBolusAgentPhase ContrastFlowRate
ContrastBolusIngredientConcentration ConversionType SpatialLocationsPreserved ViewNumber NumberOfStages
NumberOfViewsInStage StageNumber TransducerType TransducerData DataPointRows DataPointColumns Sensitivity
ImageAndFluoroscopyAreaDoseProduct CollimatorShape CollimatorLeftVerticalEdge CollimatorRightVerticalEdge
CollimatorUpperHorizontalEdge CollimatorLowerHorizontalEdge CassetteSize CassetteOrientation BorderDensity
DepthOfScanField ExaminedBodyThickness ProcessingFunction
SegmentationType SegmentationFractionalType MaximumFractionalValue SegmentsOverlap SegmentSequence
SegmentNumber SegmentLabel SegmentDescription SegmentAlgorithmType SegmentAlgorithmName
SegmentationAlgorithmIdentificationSequence SegmentedPropertyCategoryCodeSequence
SegmentedPropertyTypeCodeSequence SegmentedPropertyTypeModifierCodeSequence RecommendedDisplayCIELabValue
RecommendedDisplayGrayscaleValue TrackingID SegmentIdentificationSequence ReferencedSegmentNumber ContentLabel
ContentDescription AlgorithmFamilyCodeSequence AlgorithmNameCodeSequence AlgorithmName AlgorithmVersion
AlgorithmParameters AlgorithmSource
ReferencedSeriesSequence ReferencedInstanceSequence ReferencedSOPClassUID ReferencedFrameNumber
ReferencedSOPSequence ReferencedFrameOfReferenceSequence ReferencedRTPlanSequence ReferencedStructureSetSequence
ReferencedFractionGroupSequence ReferencedFractionGroupNumber ReferencedBeamSequence ReferencedBeamNumber
ReferencedInstancesBySOPClassSequence ReferencedOtherPlaneSequence
ValueType ConceptNameCodeSequence ConceptCodeSequence RelationshipType ContinuityOfContent
ContentTemplateSequence TemplateIdentifier MappingResource MappingResourceUID MappingResourceName TextValue
NumericValue FloatingPointValue RationalNumeratorValue RationalDenominatorValue MeasuredValueSequence
NumericValueQualifierCodeSequence ReferencedContentItemIdentifier GraphicData GraphicType
PixelOriginInterpretation CompletionFlag VerificationFlag PreliminaryFlag
CurrentRequestedProcedureEvidenceSequence PertinentOtherEvidenceSequence PredecessorDocumentsSequence
IdenticalDocumentsSequence PerformedProcedureCodeSequence ReferencedWaveformChannels ReferencedTimeOffsets
ReferencedSamplePositions TemporalRangeType ContentItemModifierSequence
CodeValue CodingSchemeDesignator CodingSchemeVersion CodeMeaning LongCodeValue URNCodeValue ContextIdentifier
ContextUID ContextGroupExtensionFlag EquivalentCodeSequence
DoseUnits DoseType DoseSummationType DoseGridScaling GridFrameOffsetVector TissueHeterogeneityCorrection
ROIContourSequence ContourSequence ContourData ContourGeometricType NumberOfContourPoints ContourNumber
ContourImageSequence ReferencedROINumber ROIDisplayColor StructureSetROISequence ROINumber
ROIGenerationAlgorithm RTROIObservationsSequence ObservationNumber RTROIInterpretedType
RTReferencedStudySequence RTReferencedSeriesSequence ROIPhysicalPropertiesSequence ROIPhysicalProperty
ROIPhysicalPropertyValue ROIVolume
"""

#: Public attributes kept (besides those the action table acts on), by keyword.
KEEP: frozenset[str] = frozenset(_BLOCKS.split())

#: File meta information kept; everything else there (SourceApplicationEntityTitle, Sending / Receiving
#: AE titles and presentation addresses, PrivateInformation...) is removed.
FILE_META_KEEP = frozenset({"FileMetaInformationGroupLength", "FileMetaInformationVersion",
                            "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID",
                            "ImplementationClassUID", "ImplementationVersionName"})

#: Coding schemes of published terminologies (PS3.16 Table 8-1), and medwb's own 99MEDWB.
TRUSTED_CODING_SCHEMES = frozenset({"DCM", "SCT", "SRT", "SNM3", "LN", "UCUM", "FMA", "RADLEX", "NCIt", "UMLS",
                                    "I10", "I9C", "ICD10", "MSH", "UBERON", "NCBITaxon", "HL7", "ACR", "NCDR",
                                    "PUBCHEM_CID", "RXNORM", "DC", "MDC", "99MEDWB"})

#: Parts of a code that are identifiers of a concept, not text: never cleaned (a SNOMED code is digits).
CODE_STRUCTURE = frozenset({"CodeValue", "CodingSchemeDesignator", "CodingSchemeVersion", "LongCodeValue",
                            "URNCodeValue", "ContextIdentifier", "MappingResource", "TemplateIdentifier",
                            "ContextGroupExtensionFlag", "MappingResourceName"})

#: SR TEXT items that describe the software or label a finding, not the patient: their TextValue is kept
#: (cleaned); every other TextValue is replaced (or, with clean_descriptors, cleaned).
TEXT_CONCEPTS_KEPT = frozenset({("112039", "DCM"),   # Tracking Identifier
                                ("111001", "DCM"),   # Algorithm Name
                                ("111003", "DCM"),   # Algorithm Version
                                ("111002", "DCM"),   # Algorithm Parameters
                                ("121014", "DCM"),   # Device Observer Manufacturer
                                ("121015", "DCM")})  # Device Observer Model Name
