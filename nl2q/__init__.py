"""nl2q: natural language to queries, scripts, configs and calls that are valid by construction and checked."""

from .compiler import Compiler, Stages, compile
from .errors import Nl2qError, NotApproved
from .models import Model, load_model
from .models.scripted import ScriptedModel
from .policy import Policy
from .types import Approval, CompileResult, Constraint, Diagnostic, DryRun, Effect, Executed, Round

__all__ = [
    "compile", "Compiler", "Stages", "CompileResult", "Constraint", "Diagnostic", "DryRun", "Effect", "Round",
    "Policy", "Model", "ScriptedModel", "load_model", "Nl2qError", "NotApproved", "Approval", "Executed",
    "TransformersModel",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    if name == "TransformersModel":  # needs the local extra (torch, transformers): imported only when asked for
        from .models.local import TransformersModel

        return TransformersModel
    raise AttributeError(f"module 'nl2q' has no attribute {name!r}")
