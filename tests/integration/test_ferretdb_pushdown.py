"""Our FerretDB patch (infra/omsinfra.py, FERRETDB_PATCHES) answers exactly as FerretDB's own path.

The patch pushes a superset of a filter into SQL and reads sorted finds in index order. The oracle is the same
server asked the same question in a form the patch does not touch: the filter wrapped in a double `$nor` (the same
documents match) and the sort without a limit (then sliced here). The documents are chosen to break a careless
pushdown: arrays where a scalar is usual (Mongo matches an element), values of other types that look alike
(1 vs true, "true", a regex value), strings whose JSON text orders differently from the strings (quotes, `!`,
spaces, backslashes, `<&>`, non-ASCII), ties in the sort key, and keys that are missing, null or not strings.
On real MongoDB the same assertions hold, since they only compare two ways of asking.

Counting `$group`s (the orders grid counts: group by top-level fields, or unwind a list and group by its values)
are grouped in SQL when every value is missing, null, a bool or a string, and by FerretDB's own stages otherwise;
the oracle is the same pipeline whose `$match` is the double `$nor`. Their documents add look-alike types in the
grouped fields (1, 1.0 and 1L group together in MongoDB; true vs 1 vs "true"; null vs missing), strings whose JSON
text has escapes, lists with repeats, nulls and nested lists, and values that only FerretDB's stages can group.
"""

import copy
import re
import uuid
from datetime import UTC, datetime

import pytest
from bson import Int64, ObjectId, Regex
from pymongo import ASCENDING, DESCENDING

from oms_platform.mongo import mongo_client

pytestmark = pytest.mark.integration

OPENED = ["2026-11-01T10:00:00+00:00", "2026-11-01T10:00:00+00:00", "2026-11-02T09:00:00+00:00", "2026-11-03",
          "2026-11-03!", "2026-11-03 ", 'x"y', "x", "x!", "a\\b", "a<&>", "\u00e9t\u00e9", "Z", ""]
STATUSES = ["open", "open", "open", ["open", "held"], ["held"], "Open", "open ", 1, None, "processed"]
CHANNELS = ["ebay", "amazon", "ebay", ["ebay"], "EBAY", "e.bay"]
PAIDS = [True, True, False, 1, 0, "true", [True], None]
SEARCHES = ["ea-01 grace hopper grace@example.org pc1", "ada lovelace x.y", "hopper", "hop per", "a.b c\\d",
            'quote " here', "<&> caf\u00e9", ["grace hopper"], Regex("hopper"), 42, "HOPPER"]


def documents() -> list[dict]:
    """Documents covering the combinations above (every field missing in some)."""
    docs = []
    for n in range(120):
        doc = {"_id": ObjectId() if n % 17 == 0 else f"id-{n:04d}", "status": STATUSES[n % len(STATUSES)],
               "channel": CHANNELS[n % len(CHANNELS)], "paid": PAIDS[n % len(PAIDS)],
               "search": SEARCHES[n % len(SEARCHES)], "opened_at": OPENED[n % len(OPENED)],
               "tags": [["vip"], [], ["vip", "gift"], "vip"][n % 4], "n": n}
        for k, field in enumerate(("status", "channel", "paid", "search", "opened_at", "tags")):
            if n % 23 == 3 * k + 1:
                del doc[field]
        docs.append(doc)
    return docs


FILTERS = [
    {},
    {"status": "open"},
    {"status": "open", "channel": "ebay", "paid": True, "search": {"$regex": "hopper"}},
    {"status": "open", "search": {"$regex": re.escape("grace@example.org")}},
    {"search": {"$regex": re.escape("a.b")}},
    {"search": {"$regex": "hop.er"}},
    {"search": {"$regex": "HOPPER", "$options": "i"}},
    {"search": Regex("hopper")},
    {"search": {"$regex": re.escape('quote " here')}},
    {"search": {"$regex": re.escape("<&> caf")}},
    {"paid": False},
    {"paid": {"$eq": True}, "channel": {"$eq": "ebay"}},
    {"tags": "vip"},
    {"channel": "e.bay"},
    {"status": {"$in": ["open", "held"]}},
    {"opened_at": {"$gte": "2026-11-02", "$lt": "x"}},
    {"opened_at": {"$gt": "2026-11-03"}},
    {"$and": [{"status": "open"}, {"$or": [{"opened_at": {"$lt": "2026-11-03"}},
                                           {"opened_at": "2026-11-03", "_id": {"$lt": "id-0050"}}]}]},
    {"$or": [{"channel": "amazon"}, {"paid": False}]},
    {"$or": [{"channel": "amazon"}, {"n": {"$gt": 100}}]},
    {"status": "open", "n": {"$gte": 30}},
    {"status": "nope"},
    {"_id": "id-0003"},
    {"_id": "id-0003", "n": 3},
    {"_id": "id-0003", "n": 4},
    {"_id": {"$in": ["id-0003", "id-0004", "nope"]}, "status": "open"},
]
SORTS = [[("opened_at", DESCENDING), ("_id", DESCENDING)], [("opened_at", ASCENDING), ("_id", ASCENDING)],
         [("status", ASCENDING), ("n", DESCENDING)], [("channel", DESCENDING), ("n", ASCENDING)],
         [("n", DESCENDING)]]


# Grouped values SQL may group (missing, null, bools, strings with awkward JSON text), and list fields to unwind.
G_TEXTS = ["ebay", "amazon", "", 'x"y', "a\\b", "<&>", "\u00e9t\u00e9", "\u2028", "nul\x00byte", "true", "null", "EBAY",
           "ebay ", "\U0001f600", "tab\there"]
G_STATUSES = ["open", "open", "open", ["open", "held"], ["held"], "Open", None, "processed", Regex("open"), "open"]
G_BOOLS = [True, False, None, True, False]
G_FOLDERS = [None, "b2b", "", "B2B", "b2b\n", "b2b"]
G_TAGS = [["vip"], [], ["vip", "vip"], ["gift", "vip", ""], None, "vip", ["<&>", "\u00e9"], [None], [True, "true"],
          [False], ["vip", "gift", "vip", "gift"]]
# Values only FerretDB's own stages group (numbers of three types, lists and documents where a scalar is grouped,
# other BSON types), each tried in a document that SQL decides and in one left to Go (status is a list there).
G_SPOILERS = [("channel", 1), ("channel", 1.0), ("channel", Int64(1)), ("channel", ["ebay"]),
              ("channel", {"c": "ebay"}), ("channel", ObjectId("5f0000000000000000000001")),
              ("channel", datetime(2026, 1, 1, tzinfo=UTC)), ("channel", Regex("ebay")), ("paid", 0),
              ("folder", ["b2b", "x"]), ("tags", [1]), ("tags", [Regex("vip")]), ("tags", [{"t": "vip"}]),
              ("tags", 2.5), ("tags", ["vip", Int64(3)])]
GROUPED = ("channel", "paid", "parked", "locked", "out_of_stock", "folder")
# The orders service's grid counts (OrderRepository.counts), then other shapes the patch handles or must leave.
PIPELINES = [
    [{"$group": {"_id": {f: f"${f}" for f in GROUPED}, "n": {"$sum": 1}}}],
    [{"$unwind": "$tags"}, {"$group": {"_id": "$tags", "n": {"$sum": 1}}}],
    [{"$group": {"_id": "$channel", "n": {"$sum": 1}}}],
    [{"$group": {"_id": {"folder": "$folder"}, "count": {"$sum": 1.0}}}],
    [{"$group": {"_id": {"c": "$channel", "p": "$paid"}, "n": {"$sum": Int64(1)}}}],
    [{"$group": {"n": {"$sum": 2}, "_id": "$paid"}}],
    [{"$group": {"_id": "$folder"}}],
    [{"$unwind": "$tags"}, {"$group": {"_id": "$tags", "n": {"$sum": 1.5}}}],
    [{"$unwind": "$tags"}, {"$group": {"_id": "$tags"}}],
    [{"$unwind": "$tags"}, {"$group": {"_id": "$channel", "n": {"$sum": 1}}}],
    [{"$group": {"_id": "$channel", "n": {"$sum": 1}, "m": {"$sum": 1}}}],
    [{"$group": {"_id": "$order.channel", "n": {"$sum": 1}}}],
    [{"$group": {"_id": {"c": "$channel", "literal": "text"}, "n": {"$sum": 1}}}],
]
GROUP_FILTERS = [{}, {"status": "open"}, {"status": "open", "channel": "ebay"}, {"paid": True, "folder": "b2b"},
                 {"tags": "vip"}, {"search": {"$regex": "hopper"}}, {"status": "open", "n": {"$gte": 30}},
                 {"$or": [{"channel": "amazon"}, {"paid": False}]}, {"status": "nope"}]


def group_documents() -> list[dict]:
    """Orders-like documents whose grouped fields hold every value SQL may group (each field missing in some)."""
    docs = []
    for n in range(150):
        doc = {"_id": f"g-{n:04d}", "status": G_STATUSES[n % len(G_STATUSES)], "channel": G_TEXTS[n % len(G_TEXTS)],
               "paid": G_BOOLS[n % len(G_BOOLS)], "parked": G_BOOLS[n % 3], "locked": n % 7 == 0,
               "out_of_stock": G_BOOLS[(n // 2) % len(G_BOOLS)], "folder": G_FOLDERS[n % len(G_FOLDERS)],
               "tags": G_TAGS[n % len(G_TAGS)], "search": SEARCHES[n % len(SEARCHES)],
               "order": {"channel": G_TEXTS[n % 4]}, "n": n}
        for k, field in enumerate(("status", "channel", "paid", "parked", "locked", "out_of_stock", "folder",
                                   "tags")):
            if n % 29 == 3 * k + 1:
                del doc[field]
        docs.append(doc)
    return docs


def oracle(query: dict) -> dict:
    """The same filter in a form the patch leaves to FerretDB's own matching."""
    return {"$nor": [{"$nor": [query]}]}


@pytest.fixture
async def db(endpoints):
    client = mongo_client(endpoints[1])
    name = f"pushdown_{uuid.uuid4().hex[:8]}"
    yield client[name]
    await client.drop_database(name)
    await client.close()


async def seeded(db, name: str, docs: list[dict]):
    """A collection with the orders service's kind of indexes (non-unique, top-level fields)."""
    coll = db[name]
    await coll.create_index([("opened_at", DESCENDING), ("_id", DESCENDING)])
    await coll.create_index([("status", ASCENDING), ("opened_at", DESCENDING)])
    await coll.create_index([("channel", ASCENDING), ("opened_at", DESCENDING)])
    await coll.create_index([("tags", ASCENDING)])
    await coll.insert_many(docs)
    return coll


async def ids(cursor) -> list:
    return [d["_id"] async for d in cursor]


async def grouped(coll, query: dict, stages: list[dict]) -> list[str]:
    """A pipeline's answer in a form that keeps every type (1 vs 1.0 vs Int64(1), key order), in any group order."""
    return sorted(repr(d) for d in await (await coll.aggregate([{"$match": query}, *stages])).to_list(None))


async def assert_groups_as_without_the_patch(coll, queries: list[dict], pipelines: list[list[dict]]) -> int:
    compared = 0
    for query in queries:
        for stages in pipelines:
            expected = await grouped(coll, oracle(query), stages)
            assert await grouped(coll, query, stages) == expected, (query, stages)
            compared += bool(expected)
    return compared


class TestFerretDBPushdown:
    async def test_find_count_distinct_answer_as_without_the_patch(self, db):
        coll = await seeded(db, "orders", documents())
        checked = 0
        for query in FILTERS:
            expected_all = await ids(coll.find(oracle(query)))
            assert sorted(map(str, await ids(coll.find(query)))) == sorted(map(str, expected_all)), query
            assert await coll.count_documents(query) == len(expected_all), query
            assert sorted(map(str, await coll.distinct("n", query))) == sorted(
                map(str, await coll.distinct("n", oracle(query)))), query
            for sort in SORTS:
                full = await ids(coll.find(oracle(query)).sort(sort))
                for skip, limit in ((0, 1), (0, 5), (3, 4), (0, 50), (0, 500)):
                    got = await ids(coll.find(query, {"n": 1}).sort(sort).skip(skip).limit(limit))
                    assert got == full[skip:skip + limit], (query, sort, skip, limit)
                    checked += 1
        assert checked == len(FILTERS) * len(SORTS) * 5

    async def test_sort_keys_that_are_not_strings_fall_back_to_the_full_sort(self, db):
        docs = [{"_id": f"s-{n}", "opened_at": f"2026-11-{n:02d}", "status": "open"} for n in range(1, 21)]
        docs += [{"_id": "int", "opened_at": 20261130, "status": "open"},
                 {"_id": "null", "opened_at": None, "status": "open"},
                 {"_id": "missing", "status": "open"},
                 {"_id": "date", "opened_at": datetime(2026, 1, 1, tzinfo=UTC), "status": "open"},
                 {"_id": "array", "opened_at": ["2026-12-01", "2025-01-01"], "status": "open"},
                 {"_id": "oid", "opened_at": ObjectId(), "status": "open"},
                 {"_id": "closed-bool", "opened_at": True, "status": "closed"}]
        coll = await seeded(db, "mixed", docs)
        for query in ({"status": "open"}, {"status": "closed"}, {}, {"status": "open", "_id": {"$ne": "int"}}):
            for sort in SORTS[:2]:
                full = await ids(coll.find(oracle(query)).sort(sort))
                assert full, query
                for limit in (1, 3, 30):
                    assert await ids(coll.find(query).sort(sort).limit(limit)) == full[:limit], (query, sort)

    async def test_updates_and_deletes_touch_exactly_the_matching_documents(self, db):
        docs = documents()
        patched = await seeded(db, "patched", copy.deepcopy(docs))
        plain = await seeded(db, "plain", copy.deepcopy(docs))
        for n, query in enumerate(FILTERS[1:14]):
            a = await patched.update_many(query, {"$set": {f"u{n}": True}})
            b = await plain.update_many(oracle(query), {"$set": {f"u{n}": True}})
            assert a.matched_count == b.matched_count, query
        for query in ({"channel": "ebay", "paid": False}, {"search": {"$regex": "hopper"}}):
            a = await patched.delete_many(query)
            b = await plain.delete_many(oracle(query))
            assert a.deleted_count == b.deleted_count, query
        ordered = [("n", ASCENDING)]
        assert [d async for d in patched.find().sort(ordered)] == [d async for d in plain.find().sort(ordered)]
        one = await patched.find_one_and_update({"status": "open", "channel": "ebay"}, {"$set": {"picked": 1}},
                                                sort=[("n", ASCENDING)])
        two = await plain.find_one_and_update(oracle({"status": "open", "channel": "ebay"}),
                                              {"$set": {"picked": 1}}, sort=[("n", ASCENDING)])
        assert one == two

    async def test_counting_groups_answer_as_without_the_patch(self, db):
        coll = await seeded(db, "groups", group_documents())
        await coll.create_index([("folder", ASCENDING)])
        compared = await assert_groups_as_without_the_patch(coll, GROUP_FILTERS, PIPELINES)
        assert compared >= len(PIPELINES) * (len(GROUP_FILTERS) - 2)  # only the "nope" filter matches nothing

    async def test_counting_groups_with_values_sql_cannot_group_answer_as_without_the_patch(self, db):
        coll = await seeded(db, "spoiled", group_documents())
        for n, (field, value) in enumerate(G_SPOILERS):
            for status in ("open", ["open", "held"]):  # decided in SQL, and left to Go
                spoilers = [{"_id": f"spoiler-{n}-{k}", "status": status, "channel": "ebay", "paid": True,
                             "folder": "b2b", "tags": ["vip"], field: value} for k in range(2)]
                spoilers[1][field] = copy.deepcopy(value)
                await coll.insert_many(spoilers)
                await assert_groups_as_without_the_patch(coll, [{"status": "open"}], PIPELINES[:3])
                await coll.delete_many({"_id": {"$in": [d["_id"] for d in spoilers]}})
        # 1, 1.0 and 1L are one group, named by the first document read (the same on both paths: FerretDB's own).
        await coll.insert_many([{"_id": "one-int", "status": "open", "channel": 1},
                                {"_id": "one-double", "status": ["open"], "channel": 1.0},
                                {"_id": "one-long", "status": "open", "channel": Int64(1)}])
        await assert_groups_as_without_the_patch(coll, [{}, {"status": "open"}], PIPELINES[:3])
