"""Planners over any world model: CEM, categorical CEM and MPPI behind one `plan` call.

They see a model only through the Dynamics protocol (in-process or over gRPC) and import core
alone, never a model family.
"""

from worldflux.planners.base import PLANNERS, Planner, SamplingConfig, register_planner
from worldflux.planners.cem import CEMConfig, CEMPlanner
from worldflux.planners.discrete_cem import DiscreteCEMConfig, DiscreteCEMPlanner
from worldflux.planners.dynamics import Dynamics, InProcessDynamics
from worldflux.planners.factory import AutoPlanner, make_planner, planner_names
from worldflux.planners.mppi import MPPIConfig, MPPIPlanner
from worldflux.planners.objectives import (
    GoalDistanceObjective,
    Objective,
    ReturnObjective,
    default_objective,
    make_objective,
)
from worldflux.planners.types import (
    PLANNER_CANDIDATES_KEY,
    PLANNER_ITERATIONS_KEY,
    PLANNER_NAME_KEY,
    PlannerState,
    PlanResult,
    PlanStats,
)

__all__ = [
    "register_planner",
    "PLANNERS",
    "PLANNER_CANDIDATES_KEY",
    "PLANNER_ITERATIONS_KEY",
    "PLANNER_NAME_KEY",
    "AutoPlanner",
    "CEMConfig",
    "CEMPlanner",
    "DiscreteCEMConfig",
    "DiscreteCEMPlanner",
    "Dynamics",
    "GoalDistanceObjective",
    "InProcessDynamics",
    "MPPIConfig",
    "MPPIPlanner",
    "Objective",
    "PlanResult",
    "PlanStats",
    "Planner",
    "PlannerState",
    "ReturnObjective",
    "SamplingConfig",
    "default_objective",
    "make_objective",
    "make_planner",
    "planner_names",
]
