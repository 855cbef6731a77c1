"""nl2q: natural language to queries that are valid by construction and checked before anyone runs them."""

from .compiler import Compiler, Stages, compile
from .decode import Model, ScriptedModel, TransformersModel, load_model
from .errors import Nl2qError
from .policy import Policy
from .result import CompileResult, Diagnostic, DryRun, Round

__all__ = [
    "compile", "Compiler", "Stages", "CompileResult", "Diagnostic", "DryRun", "Round", "Policy",
    "Model", "ScriptedModel", "TransformersModel", "load_model", "Nl2qError",
]
__version__ = "0.1.0"
