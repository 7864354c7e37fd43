import pytest

from worldflux.gates.jobs import Shard, plan, shard_jobs
from worldflux.gates.settings import MeasureSettings

SETTINGS = MeasureSettings(
    models=["dreamerv3:ci", "tdmpc2:ci"],
    seeds=[0, 1, 2],
    datasets={"dreamerv3": "pendulum", "tdmpc2": "cartpole"},
)


def test_plan_lists_every_seed_of_every_model_then_the_reruns() -> None:
    ids = [job.run_id for job in plan(SETTINGS)]
    assert ids == [
        "dreamerv3:ci/seed0",
        "tdmpc2:ci/seed0",
        "dreamerv3:ci/seed1",
        "tdmpc2:ci/seed1",
        "dreamerv3:ci/seed2",
        "tdmpc2:ci/seed2",
        "dreamerv3:ci/seed0/rerun",
        "tdmpc2:ci/seed0/rerun",
    ]
    assert {job.dataset for job in plan(SETTINGS) if job.family == "tdmpc2"} == {"cartpole"}


def test_shards_partition_the_plan() -> None:
    jobs = plan(SETTINGS)
    parts = [shard_jobs(jobs, Shard(i, 3)) for i in range(3)]
    assert sorted(j.run_id for part in parts for j in part) == sorted(j.run_id for j in jobs)
    assert all(len(part) in (2, 3) for part in parts)
    assert shard_jobs(jobs, None) == jobs


@pytest.mark.parametrize("text", ["3/3", "1", "a/b", "-1/2", "0/0"])
def test_bad_shards_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="shard"):
        Shard.parse(text)


def test_shard_parses() -> None:
    assert Shard.parse(" 1 / 4 ") == Shard(1, 4) and str(Shard(1, 4)) == "1/4"


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="rerun seed 7 is not one of the seeds"):
        MeasureSettings(models=["a:b"], seeds=[0, 1], rerun_seed=7)
    with pytest.raises(ValueError, match="seeds must be distinct"):
        MeasureSettings(seeds=[1, 1], rerun_seed=1)
    with pytest.raises(ValueError, match="unknown checks"):
        MeasureSettings(checks=["vibes"])
    with pytest.raises(ValueError, match="seq_len must be >= 3"):
        MeasureSettings(seq_len=2)
    MeasureSettings(seq_len=3)  # the shortest that holds a context step and two to predict
    with pytest.raises(ValueError, match="skill_horizon must be >= 1"):
        MeasureSettings(skill_horizon=0)
    assert MeasureSettings(seq_len=8).skill_horizon == 6  # the default shortened to fit
    assert MeasureSettings(seq_len=16).skill_horizon == 10
    with pytest.raises(ValueError, match="skill_horizon 7 needs seq_len >= 9"):
        MeasureSettings(seq_len=8, skill_horizon=7)
    with pytest.raises(ValueError, match="schedule must be one of"):
        MeasureSettings(schedule="linear")
    with pytest.raises(ValueError, match="family steps must be >= 1"):
        MeasureSettings(family_steps={"tdmpc2": 0})
    budget = MeasureSettings(steps=500, family_steps={"tdmpc2": 1000})
    assert budget.steps_for("tdmpc2") == 1000 and budget.steps_for("dreamerv3") == 500
    assert "family_steps differs" in " ".join(budget.incompatibilities(MeasureSettings(steps=500)))
