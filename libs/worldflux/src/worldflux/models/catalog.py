"""The built-in families. Importing this module registers every one of them.

The core registry imports it by name on first lookup, so core never names a family; targets that
need the whole catalogue (services, the gate tool, examples) import it explicitly. A new family
is a new folder beside this file plus one import line here.
"""

# isort: off
# (one import per family, each registers itself; keep the list sorted)
import worldflux.models.diffusion
import worldflux.models.dit
import worldflux.models.dreamerv3
import worldflux.models.gan
import worldflux.models.jepa
import worldflux.models.physics
import worldflux.models.renderer3d
import worldflux.models.ssm
import worldflux.models.tdmpc2
import worldflux.models.token
import worldflux.models.vjepa2
import worldflux.models.vjepa2_ac  # noqa: F401

# isort: on
