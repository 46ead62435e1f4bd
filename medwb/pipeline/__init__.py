"""The cohort pipeline: load → preprocess → predict → explain → features per case, in-process or on Dask.

``run_pipeline(cohort, "net.pt", out_dir="runs/r1")`` runs in this process with a tqdm bar;
``run_pipeline(..., client=client)`` runs the same tasks on a dask.distributed cluster (a LocalCluster
from ``local_client(n_workers)`` or any scheduler address). Every case gets a provenance record
(medwb.provenance); failures are reported per case and step, never abort the run.

Example:
    >>> from medwb.pipeline import run_pipeline, local_client, STEPS
    >>> STEPS
    ('load', 'preprocess', 'predict', 'explain', 'features')
"""

from medwb.pipeline.case import STEPS, CaseSpec, PipelineConfig, run_chunk
from medwb.pipeline.model_source import ModelSource, as_model_source, clear_model_cache
from medwb.pipeline.result import FAILURE_COLUMNS, PipelineResult
from medwb.pipeline.runner import PipelineWarning, case_specs, local_client, run_pipeline

__all__ = [
    "run_pipeline", "local_client", "PipelineResult", "PipelineWarning", "STEPS", "FAILURE_COLUMNS",
    "ModelSource", "as_model_source", "clear_model_cache", "CaseSpec", "PipelineConfig", "run_chunk",
    "case_specs",
]
