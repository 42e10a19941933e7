"""testkit.botocore_models: sessions share what botocore loaded; other search paths keep their own cache."""

from __future__ import annotations

import boto3
from botocore import loaders
from moto import mock_aws

from testkit.botocore_models import share_loaded_models


def _loader(session: boto3.session.Session) -> loaders.Loader:
    return session._session.get_component("data_loader")


def test_every_new_session_reuses_the_models_and_endpoints_already_loaded():
    share_loaded_models()  # conftest already did: calling it again changes nothing
    first, second = _loader(boto3.session.Session()), _loader(boto3.session.Session())
    assert first is not second
    assert first.load_service_model("s3", "service-2") is second.load_service_model("s3", "service-2")
    assert first.load_data("endpoints") is second.load_data("endpoints")


def test_a_loader_with_other_search_paths_keeps_its_own_cache(tmp_path):
    default = loaders.Loader()
    custom = loaders.Loader(extra_search_paths=[str(tmp_path)])
    assert default._cache is loaders.Loader()._cache
    assert custom._cache is not default._cache


def test_clients_made_under_successive_mocks_each_reach_their_own_moto():
    for bucket in ("first", "second"):
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=bucket)
            assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [bucket]
