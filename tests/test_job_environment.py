"""What every job of a run finds in its environment (layermaps.tracking.job_environment), set once
while the DAG is built."""

import json

from test_plan import plan_of

from layermaps.tracking.job_environment import AUTH_ENV, JOB_ENV, experiments, prepare_job_environment


def test_a_local_store_in_the_results_folder_and_the_names_to_declare(tmp_path):
    plan = plan_of(results_dir=str(tmp_path / "results"))
    env = {}
    names = prepare_job_environment(env, plan)
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path}/results/mlflow.db"
    assert env["LAYERMAPS_ARTIFACT_ROOT"] == f"{tmp_path}/results/mlartifacts"
    assert env["LAYERMAPS_STATE_DIR"] == f"{tmp_path}/results/.layermaps"
    assert set(JOB_ENV) - {"PYTHONPATH"} <= set(env) and set(names) >= set(JOB_ENV)
    assert not set(AUTH_ENV) & set(names)  # not set: not declared
    index = json.loads(env["LAYERMAPS_STUDY_INDEX"])
    assert "hidden_layers" in index["mnist|seed_mlp/hidden2"]
    assert experiments(plan)[0] == f"layermaps/{plan.datasets[0]}"


def test_a_users_server_and_settings_are_kept():
    plan = plan_of()
    env = {
        "MLFLOW_TRACKING_URI": "http://submit-host:5000",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "9",
        "MLFLOW_TRACKING_USERNAME": "u",
        "MLFLOW_TRACKING_PASSWORD": "p",
        "LAYERMAPS_INVOCATION_ID": "x",
    }
    names = prepare_job_environment(env, plan)
    assert env["MLFLOW_TRACKING_URI"] == "http://submit-host:5000" and env["LAYERMAPS_ARTIFACT_ROOT"] == ""
    assert env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "9" and env["LAYERMAPS_INVOCATION_ID"] == "x"
    assert set(AUTH_ENV) <= set(names) and "MLFLOW_HTTP_REQUEST_MAX_RETRIES" in names
