"""DynamoDB helpers: numbers through Decimal without drift, and every page of a scan or query."""

from __future__ import annotations

from decimal import Decimal

from boto3.dynamodb.conditions import Key

from tests.aws_moto import CallLog, page_size, template_table
from hashmatch.aws.dynamo import from_item, items, to_item


def test_a_float_goes_in_as_its_short_decimal_so_0_1_stays_0_1():
    assert to_item(0.1) == Decimal("0.1")


def test_floats_come_back_as_the_same_floats_through_a_table(aws):
    table = template_table("HashSetTable", "hash-set")
    table.put_item(Item=to_item({"reference_id": "a", "item": "meta", "timestamps": [0.1, 1.333, 2.5], "nested": {"duration": 12.345}}))

    item = from_item(table.get_item(Key={"reference_id": "a", "item": "meta"})["Item"])

    assert item == {"reference_id": "a", "item": "meta", "timestamps": [0.1, 1.333, 2.5], "nested": {"duration": 12.345}}


def test_whole_numbers_come_back_as_ints():
    assert from_item({"count": Decimal("3"), "frames": [Decimal("1"), Decimal("2")]}) == {"count": 3, "frames": [1, 2]}


def test_none_values_are_left_out_at_every_depth():
    assert to_item({"a": 1, "b": None, "c": {"d": None, "e": "x"}}) == {"a": 1, "c": {"e": "x"}}


def test_a_tuple_is_stored_as_a_list():
    assert to_item({"box": (0.1, 0.9)}) == {"box": [Decimal("0.1"), Decimal("0.9")]}


def test_a_scan_reads_every_page(aws):
    table = page_size(template_table("HashSetTable", "hash-set"), 3)
    for n in range(10):
        table.put_item(Item={"reference_id": f"item-{n:02d}", "item": "meta"})
    calls = CallLog(table.meta.client)

    assert sorted(item["reference_id"] for item in items(table, "scan")) == [f"item-{n:02d}" for n in range(10)]
    assert len(calls.of("Scan")) == 4


def test_a_query_reads_every_page_of_its_partition_only(aws):
    table = page_size(template_table("HashSetTable", "hash-set"), 2)
    for n in range(5):
        table.put_item(Item={"reference_id": "wanted", "item": f"{n}"})
    table.put_item(Item={"reference_id": "other", "item": "0"})
    calls = CallLog(table.meta.client)

    found = list(items(table, "query", KeyConditionExpression=Key("reference_id").eq("wanted")))

    assert [item["item"] for item in found] == ["0", "1", "2", "3", "4"]
    assert len(calls.of("Query")) == 3
