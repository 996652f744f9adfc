"""The workflow engine: YAML workflows of steps (generate -> validate -> filter -> dock -> report),
run directories, manifests, chunks, shards and executors (``molgen run``, ``molgen merge``).

Example::

    from molgen.pipeline import load_workflow, run_workflow
    wf = load_workflow("workflows/quickstart.yaml", ["steps.generate.num=20"])
    result = run_workflow(wf)            # RUN_DIR/final.sdf, final.csv, manifest.json, report.html
"""

from molgen.pipeline.engine import RunFailed, RunResult, load_run, merge_run, parse_shard, run_workflow
from molgen.pipeline.report import write_report
from molgen.pipeline.schema import STEP_TYPES, Workflow, load_workflow, validate_workflow, workflow_to_dict

__all__ = [
    "STEP_TYPES", "RunFailed", "RunResult", "Workflow", "load_run", "load_workflow", "merge_run", "parse_shard",
    "run_workflow", "validate_workflow", "workflow_to_dict", "write_report",
]
