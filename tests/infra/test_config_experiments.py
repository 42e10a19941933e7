"""`countries[].experiments` of the env config and the lock that keeps a running experiment from changing under
its name: one-line refusals naming the experiment, and what the serving function is given."""

from __future__ import annotations

import json

import pytest

from common.experiments import Arm, Experiment
from serving.settings import ServingSettings
from stacks import experiment_settings as es
from stacks.config import load_config
from tests.iam.policy import Assembly
from tests.infra.test_config import country, dev_with, error_for, write_env

SERVING = "Personalize-dev-Serving"
TRIAL = {"name": "kr-trial", "arms": {"personalize": 0.5, "curation": 0.5}, "start": "2027-01-04", "end": "2027-02-01"}


def with_experiments(**by_country: list[dict]) -> dict:
    data = dev_with(countries=[country("KR", "Asia/Seoul", "ko_KR"), country("JP", "Asia/Tokyo", "ja_JP")])
    for entry in data["countries"]:
        entry["experiments"] = by_country.get(entry["code"], [])
    return data


def loaded(tmp_path, **by_country: list[dict]):
    write_env(tmp_path, "dev", with_experiments(**by_country))
    return load_config("dev", config_dir=tmp_path)


def test_a_country_s_experiments_are_read_as_the_shared_experiment_model(tmp_path):
    config = loaded(tmp_path, KR=[TRIAL])
    (experiment,) = config.country("KR").experiments
    assert isinstance(experiment, Experiment)
    assert experiment.arms == {Arm.PERSONALIZE: 0.5, Arm.CURATION: 0.5}
    assert config.country("JP").experiments == ()


def test_two_experiments_running_in_one_country_on_the_same_day_are_refused(tmp_path):
    overlapping = {**TRIAL, "name": "kr-second", "start": "2027-01-31", "end": "2027-03-01"}
    message = error_for(tmp_path, with_experiments(KR=[TRIAL, overlapping]))
    assert "countries[KR].experiments" in message
    assert "kr-trial" in message and "kr-second" in message and "2027-01-31" in message, message


def test_an_experiment_may_start_on_the_day_the_previous_one_ends(tmp_path):
    following = {**TRIAL, "name": "kr-second", "start": "2027-02-01", "end": "2027-03-01"}
    assert len(loaded(tmp_path, KR=[TRIAL, following]).country("KR").experiments) == 2


def test_an_experiment_name_used_twice_in_an_env_is_refused(tmp_path):
    message = error_for(tmp_path, with_experiments(KR=[TRIAL], JP=[TRIAL]))
    assert "kr-trial" in message and "KR" in message and "JP" in message and "unique" in message, message


def test_an_experiment_not_in_the_lock_is_refused_with_the_command_that_locks_it(tmp_path):
    config, lock = loaded(tmp_path, KR=[TRIAL]), tmp_path / "experiments.lock.json"
    with pytest.raises(es.ExperimentChangeRefused) as caught:
        es.check_locked(config, lock)
    message = str(caught.value)
    assert "\n" not in message and "kr-trial" in message and "make experiments-lock ENV=dev" in message, message


def test_a_changed_weight_is_refused_in_one_line_naming_the_experiment_the_change_and_a_new_name(tmp_path):
    lock = tmp_path / "experiments.lock.json"
    assert es.lock_new(loaded(tmp_path, KR=[TRIAL]), lock) == ["kr-trial"]
    changed = loaded(tmp_path, KR=[{**TRIAL, "arms": {"personalize": 0.6, "curation": 0.4}}])

    with pytest.raises(es.ExperimentChangeRefused) as caught:
        es.check_locked(changed, lock)
    message = str(caught.value)
    assert "\n" not in message
    assert "kr-trial" in message and "personalize 0.5 -> 0.6" in message and "curation 0.5 -> 0.4" in message
    assert "new name" in message
    # locking again does not take the change either: a locked entry is never rewritten
    with pytest.raises(es.ExperimentChangeRefused):
        es.lock_new(changed, lock)


def test_a_changed_start_is_refused_but_a_later_end_is_not(tmp_path):
    lock = tmp_path / "experiments.lock.json"
    es.lock_new(loaded(tmp_path, KR=[TRIAL]), lock)
    es.check_locked(loaded(tmp_path, KR=[{**TRIAL, "end": "2027-03-01"}]), lock)
    with pytest.raises(es.ExperimentChangeRefused, match="start 2027-01-04 -> 2027-01-11"):
        es.check_locked(loaded(tmp_path, KR=[{**TRIAL, "start": "2027-01-11"}]), lock)


def test_the_changed_weights_under_a_new_name_are_accepted_once_locked(tmp_path):
    lock = tmp_path / "experiments.lock.json"
    es.lock_new(loaded(tmp_path, KR=[TRIAL]), lock)
    renamed = {**TRIAL, "name": "kr-trial-2", "arms": {"personalize": 0.6, "curation": 0.4}}
    config = loaded(tmp_path, KR=[renamed])
    with pytest.raises(es.ExperimentChangeRefused, match="kr-trial-2"):
        es.check_locked(config, lock)

    assert es.lock_new(config, lock) == ["kr-trial-2"]
    es.check_locked(config, lock)
    locked = json.loads(lock.read_text())["dev"]
    assert set(locked) == {"kr-trial", "kr-trial-2"}  # the old name stays taken
    assert locked["kr-trial-2"]["fingerprint"] == config.country("KR").experiments[0].fingerprint()


def test_the_synth_refuses_a_changed_experiment_in_one_line_and_synthesises_nothing(tmp_path, monkeypatch, capsys):
    import app

    lock = tmp_path / "experiments.lock.json"
    es.lock_new(loaded(tmp_path, KR=[TRIAL]), lock)
    changed = loaded(tmp_path, KR=[{**TRIAL, "arms": {"personalize": 0.7, "curation": 0.3}}])
    monkeypatch.setattr(es, "LOCK_FILE", lock)
    monkeypatch.setattr(app, "load_config", lambda _env: changed)
    synthesised: list[bool] = []
    monkeypatch.setattr("aws_cdk.App.synth", lambda self, **_: synthesised.append(True))

    assert app.main() == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith("experiment change refused: ") and "kr-trial" in error, error
    assert not synthesised


def test_every_experiment_of_every_env_is_locked():
    for env in ("dev", "prod"):
        es.check_locked(load_config(env))


def test_the_serving_function_gets_each_country_s_experiments_from_the_config(dev_app):
    config = load_config("dev")
    expected = {c.code: c.experiments for c in config.countries if c.experiments}
    assert expected, "config/dev.yaml shows an experiment"
    template = dev_app.template_json(SERVING)
    (function,) = (r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    variables = Assembly(dev_app.outdir).resolve(SERVING, function["Properties"]["Environment"]["Variables"])
    assert ServingSettings.from_env(variables).experiments == expected
