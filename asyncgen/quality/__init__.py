"""Quality in the loop: decisions about what is kept, made while the run is going.

`judge` scores each finished record through the run's own transport (so its calls are
limited, ledgered and budgeted like the pipeline's) and rejects those under the threshold,
which the engine then replaces like duplicates; `transcript` turns a record of either
pipeline into what the judge reads.

The judge loads when first named here (`from asyncgen.quality import build_judge`): its
module reads the shipped prompt templates, which a run without a judge never needs.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncgen.quality.judge import QualityJudge, build_judge

__all__ = ["QualityJudge", "build_judge"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from asyncgen.quality import judge

        return getattr(judge, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
