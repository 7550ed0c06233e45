"""The library's own exceptions. The CLI turns each into a clear message and exit code."""
from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RelEdError(Exception):
    """Base class of every error reled-sumo raises on purpose."""

    exit_code = 1


class UserInputError(RelEdError):
    """The user asked for something that cannot be done (bad name, bad file, bad option)."""

    exit_code = 2


class ScenarioError(RelEdError):
    """Building or loading a scenario failed."""


class UnknownCityError(UserInputError):
    pass


class ScenarioNotBuiltError(UserInputError, ScenarioError):
    """A scenario name that has not been built yet."""


class OsmInputError(UserInputError):
    """A missing, unreadable or corrupt OSM file, or an area with no drivable roads."""


class NetworkUnreachableError(RelEdError):
    """An online resource (OSM download, Ollama server) could not be reached."""

    exit_code = 3


class ToolFailedError(ScenarioError):
    """An external SUMO tool (netconvert, duarouter, randomTrips) failed."""

    def __init__(self, tool: str, returncode: int, tail: str):
        self.tool, self.returncode, self.tail = tool, returncode, tail
        super().__init__(f"{tool} failed with exit code {returncode}. Its last lines:\n{tail}")


class ScenarioImportError(UserInputError, ScenarioError):
    """A user's SUMO scenario that cannot be imported (missing files, unknown edges, no usable agents)."""


class DemandError(UserInputError):
    """Demand that cannot be satisfied (e.g. more agents than routable OD pairs)."""


class SimulationError(RelEdError):
    """SUMO failed while running."""


class SimulationDiedError(SimulationError):
    """The SUMO process died or the connection to it dropped mid-run."""


class ExpertError(RelEdError):
    """An expert could not produce demonstrations."""


class LLMUnavailableError(ExpertError, NetworkUnreachableError):
    """The Ollama server is down, unreachable, or lacks the model."""


class ConfigError(UserInputError):
    """An invalid configuration value or file."""


class TaskDiedError(RelEdError):
    """The process (or Ray worker) running a benchmark suite task died, or its result got lost."""


class SuiteTaskError(RelEdError):
    """A benchmark suite task failed; the message names the task and says why (one line).

    ``exit_code`` is the cause's when the cause is one of the library's own errors."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
