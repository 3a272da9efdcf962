"""Quality in the loop: decisions about what is kept, made while the run is going.

`judge` scores each finished record through the run's own transport (so its calls are
limited, ledgered and budgeted like the pipeline's) and rejects those under the threshold,
which the engine then replaces like duplicates; `transcript` turns a record of either
pipeline into what the judge reads.
"""

from asyncgen.quality.judge import QualityJudge, build_judge

__all__ = ["QualityJudge", "build_judge"]
