"""The replacement check itself: it must find what CloudFormation would replace, so the change-safety test can fail."""

from __future__ import annotations

import copy

from tests.infra.replacements import changes, create_only_paths, unsafe_changes


def _country() -> dict:
    return {
        "Resources": {
            "Group": {
                "Type": "AWS::Personalize::DatasetGroup",
                "Properties": {"Name": "personalize-x-kr", "RoleArn": "arn:aws:iam::1:role/r"},
            },
            "UsersSchema": {
                "Type": "AWS::Personalize::Schema",
                "Properties": {"Name": "personalize-x-kr-users-aaaa", "Schema": '{"fields": []}'},
            },
            "UsersDataset": {
                "Type": "AWS::Personalize::Dataset",
                "Properties": {
                    "Name": "personalize-x-kr-users",
                    "DatasetType": "Users",
                    "DatasetGroupArn": {"Fn::GetAtt": ["Group", "DatasetGroupArn"]},
                    "SchemaArn": {"Fn::GetAtt": ["UsersSchema", "SchemaArn"]},
                },
            },
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "personalize-x-dlq"}},
        },
        "Outputs": {
            "GroupArn": {"Value": {"Fn::GetAtt": ["Group", "DatasetGroupArn"]}, "Export": {"Name": "x-kr-group"}}
        },
    }


def test_the_schemas_name_the_create_only_properties_it_relies_on():
    assert ("SchemaArn",) in create_only_paths("AWS::Personalize::Dataset")
    assert ("Tags",) in create_only_paths("AWS::Personalize::DatasetGroup")
    assert ("StorageLensConfiguration", "Id") in create_only_paths("AWS::S3::StorageLens")


def test_a_changed_schema_replaces_the_dataset_through_its_reference():
    before = {"KR": _country()}
    after = copy.deepcopy(before)
    after["KR"]["Resources"]["UsersSchema"]["Properties"]["Schema"] = '{"fields": [1]}'
    found = {c.logical_id: c for c in unsafe_changes(before, after)}
    assert set(found) == {"UsersSchema", "UsersDataset"}
    assert found["UsersDataset"].because[0] == "/SchemaArn refers to replaced UsersSchema"
    assert found["UsersDataset"].action == "replace"


def test_a_tag_replaces_personalize_resources_but_only_updates_a_queue():
    before = {"KR": _country()}
    after = copy.deepcopy(before)
    for resource in after["KR"]["Resources"].values():
        resource["Properties"]["Tags"] = [{"Key": "cost-centre", "Value": "x"}]
    replaced = {c.logical_id for c in unsafe_changes(before, after)}
    # The group's replacement reaches the dataset through DatasetGroupArn; the queue's Tags are mutable.
    assert replaced == {"Group", "UsersSchema", "UsersDataset"}


def test_a_fixed_name_blocks_a_replacement_a_new_name_allows_it():
    before = {"KR": _country()}
    fifo = copy.deepcopy(before)
    fifo["KR"]["Resources"]["Queue"]["Properties"]["FifoQueue"] = True
    (change,) = unsafe_changes(before, fifo)
    assert (change.logical_id, change.because) == ("Queue", ("/FifoQueue changed", "name unchanged"))
    renamed = copy.deepcopy(fifo)
    renamed["KR"]["Resources"]["Queue"]["Properties"]["QueueName"] = "personalize-x-dlq.fifo"
    assert unsafe_changes(before, renamed) == []
    assert [c.action for c in changes(before, renamed)] == ["replace"]


def test_nested_create_only_paths_are_compared():
    def lens(lens_id: str, enabled: bool) -> dict:
        config = {"Id": lens_id, "IsEnabled": enabled, "AccountLevel": {"BucketLevel": {}}}
        return {
            "Resources": {"Lens": {"Type": "AWS::S3::StorageLens", "Properties": {"StorageLensConfiguration": config}}}
        }

    assert changes({"S": lens("a", True)}, {"S": lens("a", False)}) == []
    (change,) = changes({"S": lens("a", True)}, {"S": lens("b", True)})
    assert change.because == ("/StorageLensConfiguration/Id changed",)


def test_deletions_renames_and_imported_exports():
    before = {
        "KR": _country(),
        "Pipeline": {
            "Resources": {
                "Fn": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {"Tags": [{"Key": "g", "Value": {"Fn::ImportValue": "x-kr-group"}}]},
                }
            }
        },
    }
    removed = copy.deepcopy(before)
    del removed["KR"]["Resources"]["UsersDataset"]
    assert [(c.logical_id, c.action) for c in unsafe_changes(before, removed)] == [("UsersDataset", "delete")]
    before["KR"]["Resources"]["UsersDataset"]["DeletionPolicy"] = "Retain"
    assert unsafe_changes(before, removed) == []  # kept by its DeletionPolicy

    moved = copy.deepcopy(before)
    moved["KR"]["Resources"]["DeadLetters"] = moved["KR"]["Resources"].pop("Queue")
    assert [(c.logical_id, c.action) for c in unsafe_changes(before, moved)] == [("DeadLetters", "rename")]

    regrouped = copy.deepcopy(before)
    regrouped["KR"]["Resources"]["Group"]["Properties"]["RoleArn"] = "arn:aws:iam::1:role/other"
    found = {(c.logical_id, c.action) for c in unsafe_changes(before, regrouped)}
    # the export's value is the replaced group's ARN, and the Pipeline stack imports it
    assert found == {("Group", "replace"), ("UsersDataset", "replace"), ("x-kr-group", "export")}
