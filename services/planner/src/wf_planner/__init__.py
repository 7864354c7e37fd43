"""The planner service: plans over remote dynamics behind worldflux.v1.PlannerService.

It depends on worldflux.core, worldflux.planners and worldflux.rpc only, never on a model
family: the family is whatever the dynamics service behind it serves.
"""
