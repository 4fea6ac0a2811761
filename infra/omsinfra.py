#!/usr/bin/env python3
"""Local infrastructure for the OMS: a real Kafka 4 broker and FerretDB (MongoDB wire protocol), no Docker.

Usage: python3 infra/omsinfra.py up [--reset] [--no-ferretdb] | down | status [--no-ferretdb] | env

Stdlib only, so it runs before any virtualenv exists. See infra/README.md.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INFRA_SRC = REPO / "infra"
CACHE = REPO / ".oms" / "cache"
STATE = Path(os.environ.get("OMS_INFRA_DIR", REPO / ".oms" / "infra")).resolve()

KAFKA_PORT = int(os.environ.get("OMS_KAFKA_PORT", "19092"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("OMS_KAFKA_CONTROLLER_PORT", "19093"))
MONGO_PORT = int(os.environ.get("OMS_MONGO_PORT", "27117"))
TIMEOUT = float(os.environ.get("OMS_INFRA_TIMEOUT", "90"))
HOST = "127.0.0.1"

DATA = STATE / "data"
LOGS = STATE / "logs"
RUN = STATE / "run"
ENV_FILE = STATE / "infra.env"


@dataclass
class Component:
    """One managed server process."""

    name: str
    port: int
    # Substring of /proc/<pid>/cmdline that proves a pid is this component of *this* state dir,
    # so a recycled pid or another infra dir's server is never mistaken for ours.
    marker: str
    log: Path

    @property
    def pid_file(self) -> Path:
        """Where the pid of the running process is kept."""
        return RUN / f"{self.name}.pid"


KAFKA = Component("kafka", KAFKA_PORT, str(RUN / "server.properties"), LOGS / "kafka.log")
FERRETDB = Component("ferretdb", MONGO_PORT, str(DATA / "ferretdb"), LOGS / "ferretdb.log")


def log(msg: str) -> None:
    """Print a progress line to stderr (stdout is kept for results such as `env`)."""
    print(f"omsinfra: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes and pid files
# ---------------------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A detached server whose parent (an earlier `up`) exited may linger as a zombie until reaped.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_pid(comp: Component) -> int | None:
    """Pid of the running component, or None; removes a stale pid file."""
    try:
        pid = int(comp.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        cmdline = ""
    if alive(pid) and comp.marker in cmdline:
        return pid
    log(f"{comp.name}: removing stale pid file (pid {pid} is gone)")
    comp.pid_file.unlink(missing_ok=True)
    return None


def spawn(comp: Component, cmd: list[str], out: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start cmd detached in its own session with output appended to out, and record its pid."""
    with open(out, "ab") as f:
        f.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} omsinfra start: {shlex.join(cmd)}\n".encode())
        f.flush()
        # start_new_session: the server outlives this CLI and ignores the terminal's Ctrl-C;
        # its pid is also its process group id, which `down` signals.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                cwd=STATE, start_new_session=True, env={**os.environ, **(env or {})})
    comp.pid_file.write_text(f"{proc.pid}\n")
    return proc


def stop(comps: list[Component], timeout: float = 60.0) -> None:
    """SIGTERM each running component's process group, wait, SIGKILL what is left; idempotent."""
    pids = {}
    for comp in comps:
        pid = read_pid(comp)
        if pid is None:
            log(f"{comp.name}: not running")
            continue
        log(f"{comp.name}: stopping (pid {pid})")
        signal_group(pid, signal.SIGTERM)
        pids[comp.name] = (comp, pid)
    # Kafka's shutdown hook does a controlled shutdown and flushes logs: give it time, don't kill early.
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        for name, (comp, pid) in list(pids.items()):
            if not alive(pid):
                log(f"{comp.name}: stopped")
                comp.pid_file.unlink(missing_ok=True)
                del pids[name]
        time.sleep(0.2)
    for comp, pid in pids.values():
        log(f"{comp.name}: did not stop within {timeout:.0f}s, sending SIGKILL")
        signal_group(pid, signal.SIGKILL)
        comp.pid_file.unlink(missing_ok=True)


def signal_group(pid: int, sig: int) -> None:
    """Send sig to the process group led by pid, ignoring a group that is already gone."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def port_busy(port: int) -> bool:
    """True if something already accepts connections on HOST:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def tail(path: Path, lines: int = 40) -> str:
    """Last lines of a text file, or a note that it is missing."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} does not exist)"


# ---------------------------------------------------------------------------------------------
# Cache: Kafka jars (Maven) and the ferretdb-local binary (Go), shared by every state dir
# ---------------------------------------------------------------------------------------------


class CacheLock:
    """Exclusive lock on the shared cache, so a dev `up` and a test `up` don't fetch at once."""

    def __enter__(self):
        """Take the lock, blocking."""
        CACHE.mkdir(parents=True, exist_ok=True)
        self.f = open(CACHE / ".lock", "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        """Release the lock."""
        self.f.close()


def run_quiet(cmd: list[str], cwd: Path, what: str) -> None:
    """Run a build command, showing its output only if it fails."""
    res = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout + res.stderr)
        sys.exit(f"omsinfra: {what} failed (exit {res.returncode}): {shlex.join(cmd)}")


def kafka_jars() -> Path:
    """Directory with the Kafka runtime jars, fetched with Maven on first use."""
    pom = INFRA_SRC / "kafka" / "pom.xml"
    version = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text()).group(1)
    jars = CACHE / f"kafka-{version}"
    # The stamp ties the cached jars to the exact pom (e.g. a log4j bump refetches).
    stamp = hashlib.sha256(pom.read_bytes()).hexdigest()
    if (jars / ".pom-sha256").exists() and (jars / ".pom-sha256").read_text() == stamp:
        return jars
    with CacheLock():
        if (jars / ".pom-sha256").exists() and (jars / ".pom-sha256").read_text() == stamp:
            return jars
        if not shutil.which("mvn"):
            sys.exit("omsinfra: mvn not found: install Maven 3 and Java 17+")
        log(f"fetching Kafka {version} jars with Maven into {jars} ...")
        t0 = time.monotonic()
        tmp = CACHE / f"kafka-{version}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        run_quiet(["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                   "-DincludeScope=runtime", f"-DoutputDirectory={tmp}"], REPO, "Maven fetch")
        (tmp / ".pom-sha256").write_text(stamp)
        # Swap in whole, so an interrupted fetch never looks complete.
        shutil.rmtree(jars, ignore_errors=True)
        tmp.rename(jars)
        log(f"Kafka jars ready in {time.monotonic() - t0:.1f}s")
    return jars


# FerretDB v1.24's SQLite backend narrows a query in SQL only when the filter is exactly {_id: <string|ObjectID>};
# any other filter reads and decodes the whole collection in Go, the handler sorts in Go, and secondary indexes are
# never used for reading. Our writes are guarded by {_id, version} (or seq, status) filters, so every save scanned
# its collection, and the Open Orders list (status + filters + free text, newest first, 50 a page) decoded and
# sorted every order: tens of seconds at 10,000 orders. We build ferretdb-local from a copy of FerretDB with:
#
# - FERRETDB_OVERLAY: our own Go files added to its packages (infra/ferretdb/_overlay; `_` keeps Go tools out);
# - FERRETDB_PATCHES: small edits that call them.
#
# What they change, and why each is safe (the same results as unpatched FerretDB; MongoDB is untouched):
# 0. Lookups by _id use the _id_ index (metadata/metadata.go): FerretDB looks an _id up as `_ferretdb_sjson->'$._id'`
#    while its unique index is on `_ferretdb_sjson->"_id"`; SQLite picks an index only for the same expression, so
#    every find, update and delete by _id read the whole table (a guarded replace of a 4 KB document took ~30 ms at
#    4,000 documents, and grew with the table). `->'_id'` is the same path ("a label X means '$.X'") written as
#    the index is, so SQLite searches the index: the same rows, found in O(log n).
# 1. Filter pushdown (backends/sqlite/oms_pushdown.go, omsFilterWhere): the SQL WHERE holds a condition that every
#    matching document satisfies: one top-level _id (string/ObjectID, or $in of up to 500), and for top-level
#    fields equality with a string or bool, string ranges ($gt/$gte/$lt/$lte), a literal regex (instr), $and, and
#    $or when every branch has a condition. Each keeps arrays (Mongo matches an element) and decides types by the
#    sjson schema ($s.p.<field>.t), never by the JSON text. It is only a SUPERSET: Query's contract lets a backend
#    apply the filter partially, and every caller applies the whole filter again to what Query returns (checked in
#    v1.24.2: find, count, distinct, update, delete, findAndModify, aggregate $match, getMore).
# 2. Non-unique indexes on a top-level field (metadata/oms_index.go, OMSString) store the field's text when its
#    BSON type is string and NULL otherwise, instead of the JSON text (unique indexes keep FerretDB's expression:
#    they enforce uniqueness). SQLite orders that text by memcmp, which is MongoDB's string order; FerretDB itself
#    never read these indexes, so nothing else depends on their expression.
# 3. Sorted reads (handler/oms_sorted_find.go + omsSortedQuery): a find with a limit whose first sort key is a
#    top-level field with such an index is read in that order (INDEXED BY, no SQL LIMIT) only if an index probe
#    finds no candidate whose key is not a string (NULL); the handler filters while reading and stops once it
#    holds skip+limit matches and the next key differs (ties are all kept), then sorts those by the whole sort
#    document in Go as before. Anything else (no such index, an index built before this patch, a non-string key,
#    tailable cursors, no limit) takes FerretDB's ordinary path.
# 4. Counts (handler/oms_count.go + omsCountQuery): PyMongo's count_documents pipeline [{$match: F}, {$group: {_id:
#    1, n: {$sum: 1}}}] counts in SQL when every key and operator of F was translated: SQL counts the documents
#    whose tested fields are plain values (there the translation is exact), and returns the rest (a tested field
#    holding an array or a regex value) for the handler to match in Go; $group then runs as before over that
#    many empty documents, so the reply has FerretDB's own shape.
# 5. Statistics (omsAnalyze): FerretDB never runs ANALYZE, so SQLite cannot tell a selective index (channel) from
#    one holding every row (status of Open Orders). Queries that use the pushdown refresh a sampled ANALYZE of
#    their table in the background at most every 5 minutes; statistics change plans, never results.
# 6. Grouped counts (handler/oms_group.go + sqlite/oms_group.go): [{$match: F}, ({$unwind: "$u"},) {$group: {_id:
#    "$f" or {k: "$f", ...}, n: {$sum: <number>}}}] (the orders grid counts) with F translated exactly groups in SQL
#    by each field's sjson schema and JSON text, one json_extract per document, when every value SQL decides is
#    missing, null, a bool or a string (else FerretDB's own stages); undecided documents are matched and grouped in
#    Go as in 4, and the reply is built as $group builds it (_id as FerretDB evaluates it, the accumulator applied
#    to that many documents). Only one accumulator, and after $unwind only _id "$u": FerretDB's own stages answer
#    otherwise than MongoDB there (see the file), so those pipelines keep them.
# tests/integration/test_ferretdb_pushdown.py checks them against the same server asked in a form the patch
# leaves alone (the filter inside a double $nor, the sort without a limit), on documents chosen to break them.
FERRETDB_OVERLAY = INFRA_SRC / "ferretdb" / "_overlay"
FERRETDB_PATCHES = {
    "internal/backends/collection.go": [(
        """	OnlyRecordIDs bool
	Comment       string
}

// QueryResult represents the results of Collection.Query method.
type QueryResult struct {
	Iter types.DocumentsIterator
}""",
        """	OnlyRecordIDs bool
	Comment       string

	// OMS patch: read in the order of this top-level field if the backend can (see QueryResult.OMSSorted);
	// count matches in SQL if the backend can (see QueryResult.OMSCounted), per distinct values of
	// OMSGroupFields if set (per element of OMSUnwind, the one grouped field, if set; see QueryResult.OMSGroups).
	OMSSortField   string
	OMSSortDesc    bool
	OMSCountOnly   bool
	OMSGroupFields []string
	OMSUnwind      string
}

// QueryResult represents the results of Collection.Query method.
type QueryResult struct {
	Iter types.DocumentsIterator

	// OMS patch: Iter returns documents in the order of QueryParams.OMSSortField, every one with a string there.
	OMSSorted bool
	// OMS patch: OMSCount documents match (with OMSGroupFields: OMSGroups hold the counts per values instead);
	// Iter returns only those the backend could not decide.
	OMSCount   int64
	OMSCounted bool
	OMSGroups  []OMSGroup
}""",
    )],
    "internal/backends/sqlite/collection.go": [(
        """	q := prepareSelectClause(meta.TableName, params.Comment, meta.Capped(), params.OnlyRecordIDs)

	var whereClause string
	var args []any

	// that logic should exist in one place
	// TODO https://github.com/FerretDB/FerretDB/issues/3235
	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}

	q += whereClause""",
        """	q := prepareSelectClause(meta.TableName, params.Comment, meta.Capped(), params.OnlyRecordIDs)

	// OMS patch: counts in SQL, a superset of the filter in SQL, and reads in index order (oms_pushdown.go).
	where, args, byID := omsFilterWhere(params.Filter)
	if !byID && (where != "" || params.OMSSortField != "" || params.OMSCountOnly) {
		omsAnalyze(db, c.dbName, meta)
	}

	if params.OMSCountOnly {
		if res, ok, err := omsCountQuery(ctx, db, meta, params); err != nil {
			return nil, lazyerrors.Error(err)
		} else if ok {
			return res, nil
		}
	}

	if !byID && params.OMSSortField != "" {
		if rows, ok := omsSortedQuery(ctx, db, meta, params, q, where, args); ok {
			return &backends.QueryResult{Iter: newQueryIterator(ctx, rows, params.OnlyRecordIDs), OMSSorted: true}, nil
		}
	}

	var whereClause string
	if where != "" {
		whereClause = " WHERE " + where
	}

	q += whereClause""",
    ), (
        """	var filterPushdown bool
	var whereClause string
	var args []any

	// that logic should exist in one place
	// TODO https://github.com/FerretDB/FerretDB/issues/3235
	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			filterPushdown = true
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}
""",
        """	// OMS patch: the same condition as Query (oms_pushdown.go).
	where, args, _ := omsFilterWhere(params.Filter)
	filterPushdown := where != ""

	var whereClause string
	if filterPushdown {
		whereClause = " WHERE " + where
	}
""",
    )],
    "internal/backends/sqlite/metadata/registry.go": [(
        """			columns[i] = fmt.Sprintf("%s->%s", DefaultColumn, strings.Join(fields, "->"))
""",
        """			columns[i] = fmt.Sprintf("%s->%s", DefaultColumn, strings.Join(fields, "->"))
			if !index.Unique && OMSField(key.Field) { // OMS patch: string values in MongoDB order (oms_index.go)
				columns[i] = OMSString(key.Field)
			}
""",
    )],
    "internal/backends/sqlite/metadata/metadata.go": [(
        """	IDColumn = DefaultColumn + "->'$._id'"
""",
        """	IDColumn = DefaultColumn + "->'_id'" // OMS patch: the _id_ index's own expression (see 0. above)
""",
    )],
    "internal/handler/msg_aggregate.go": [(
        """		iter, err = processStagesDocuments(ctx, closer, &stagesDocumentsParams{c, qp, stagesDocuments})
""",
        """		// OMS patch: PyMongo's count_documents pipeline counts in SQL when it can (oms_count.go).
		if h.DisablePushdown {
			iter, err = processStagesDocuments(ctx, closer, &stagesDocumentsParams{c, qp, stagesDocuments})
		} else {
			iter, err = omsCountStages(ctx, closer, c, qp, aggregationStages, stagesDocuments)
		}
""",
    )],
    "internal/handler/msg_find.go": [(
        """	queryRes, err := coll.Query(ctx, qp)
	if err != nil {
		return nil, handleMaxTimeMSError(err, params.MaxTimeMS, "find")
	}
""",
        """	// OMS patch: read in the order of the first sort key when the backend can (oms_sorted_find.go).
	omsNeed := omsSortNeed(h, params)
	if omsNeed > 0 {
		qp.OMSSortField, qp.OMSSortDesc = omsSortField(params.Sort)
	}

	queryRes, err := coll.Query(ctx, qp)
	if err != nil {
		return nil, handleMaxTimeMSError(err, params.MaxTimeMS, "find")
	}

	if queryRes.OMSSorted {
		if queryRes.Iter, err = omsFirstMatches(ctx, coll, qp, queryRes.Iter, params, omsNeed); err != nil {
			return nil, handleMaxTimeMSError(err, params.MaxTimeMS, "find")
		}
	}

	qp.OMSSortField, qp.OMSSortDesc = "", false // the cursor keeps qp (tailable getMore reads it again)
""",
    )],
}


def patched_ferretdb_module(build: Path) -> Path:
    """A copy of the FerretDB module from Go's module cache with FERRETDB_PATCHES applied, inside `build`."""
    res = subprocess.run(["go", "mod", "download", "-json", "github.com/FerretDB/FerretDB"],
                         cwd=INFRA_SRC / "ferretdb", stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"omsinfra: go mod download of FerretDB failed: {res.stderr}")
    module = build / "ferretdb-module"
    shutil.copytree(json.loads(res.stdout)["Dir"], module)
    for path in module.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the module cache is read-only
    for src in sorted(FERRETDB_OVERLAY.rglob("*.go")):
        dest = module / src.relative_to(FERRETDB_OVERLAY)
        if dest.exists():
            sys.exit(f"omsinfra: FerretDB overlay file {dest.name} already exists in the module")
        shutil.copy(src, dest)
    for name, edits in FERRETDB_PATCHES.items():
        text = (module / name).read_text()
        for old, new in edits:
            if text.count(old) != 1:
                sys.exit(f"omsinfra: FerretDB patch does not apply to {name} (FerretDB version changed?)")
            text = text.replace(old, new)
        (module / name).write_text(text)
    return module


def ferretdb_binary() -> Path:
    """Path of the ferretdb-local binary, built with Go on first use (named by a hash of its sources and patch)."""
    src = INFRA_SRC / "ferretdb"
    h = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        h.update((src / name).read_bytes())
    h.update(repr(FERRETDB_PATCHES).encode())
    for path in sorted(FERRETDB_OVERLAY.rglob("*.go")):
        h.update(str(path.relative_to(FERRETDB_OVERLAY)).encode() + path.read_bytes())
    binary = CACHE / f"ferretdb-local-{h.hexdigest()[:16]}"
    if binary.exists():
        return binary
    with CacheLock():
        if binary.exists():
            return binary
        if not shutil.which("go"):
            sys.exit("omsinfra: go not found: install Go 1.24+")
        log(f"building {binary.name} with Go (first time takes minutes: modernc SQLite) ...")
        t0 = time.monotonic()
        tmp = binary.with_name(binary.name + ".tmp")
        # Build from a copy of our program whose go.mod points FerretDB at the patched copy of its module.
        build = binary.with_name(binary.name + ".build")
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        for name in ("go.mod", "go.sum", "main.go"):
            shutil.copy(src / name, build / name)
        patched_ferretdb_module(build)
        run_quiet(["go", "mod", "edit", "-replace", "github.com/FerretDB/FerretDB=./ferretdb-module"], build,
                  "go mod edit")
        # -buildvcs=false: the binary must not depend on the state of the surrounding git work tree.
        run_quiet(["go", "build", "-buildvcs=false", "-o", str(tmp), "."], build, "go build")
        shutil.rmtree(build, ignore_errors=True)
        tmp.rename(binary)
        log(f"ferretdb-local built in {time.monotonic() - t0:.1f}s")
    return binary


# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------


def kafka_properties() -> str:
    """server.properties for a single-node KRaft broker+controller."""
    return f"""# Written by infra/omsinfra.py on every `up`: edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{HOST}:{KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://{HOST}:{KAFKA_PORT},CONTROLLER://{HOST}:{KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://{HOST}:{KAFKA_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={DATA / "kafka"}
# One node: every internal topic has one replica.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Internal topics default to 50 partitions, which makes the first group join / transaction slow.
offsets.topic.num.partitions=3
transaction.state.log.num.partitions=3
share.coordinator.state.topic.num.partitions=3
# Tests start consumers and expect them to get partitions at once.
group.initial.rebalance.delay.ms=0
num.partitions=1
# Two cores shared with the database and the services: fewer broker threads (defaults 3 and 8) to switch between.
# With these and the serial collector (kafka_jvm) the broker used ~16 instead of ~19 ms of CPU per pipeline order.
num.network.threads=1
num.io.threads=2
# Convenient in dev; the OMS still creates its topics explicitly with chosen partition counts.
auto.create.topics.enable=true
"""


def java() -> str:
    """The java executable: $JAVA_HOME/bin/java if set, else from PATH."""
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


def kafka_jvm(jars: Path, heap: str) -> list[str]:
    """Common JVM command prefix for Kafka main classes."""
    # The serial collector: on a 512 MB heap G1's concurrent work costs CPU the two cores do not have to spare.
    return [java(), f"-Xms{heap}", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={INFRA_SRC / 'kafka' / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={LOGS}", "-cp", f"{jars}/*"]


def cluster_id() -> str:
    """The KRaft cluster id of this state dir, created once (16 random bytes, base64url, 22 chars)."""
    path = DATA / "kafka-cluster.id"
    if path.exists():
        return path.read_text().strip()
    cid = "-"
    # An id starting with "-" would be read as an option by the StorageTool command line.
    while cid.startswith("-"):
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    path.write_text(cid + "\n")
    return cid


def start_kafka() -> subprocess.Popen:
    """Write the config, format storage once, and start the broker detached."""
    jars = kafka_jars()
    props = RUN / "server.properties"
    props.write_text(kafka_properties())
    (DATA / "kafka").mkdir(parents=True, exist_ok=True)
    if not (DATA / "kafka" / "meta.properties").exists():
        cid = cluster_id()
        log(f"kafka: formatting storage (cluster id {cid})")
        run_quiet(kafka_jvm(jars, "64m") + ["kafka.tools.StorageTool", "format", "-t", cid,
                                            "-c", str(props), "--ignore-formatted"], STATE, "Kafka storage format")
    log(f"kafka: starting on {HOST}:{KAFKA_PORT} (controller {KAFKA_CONTROLLER_PORT})")
    return spawn(KAFKA, kafka_jvm(jars, "256m") + ["kafka.Kafka", str(props)], LOGS / "kafka.out")


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Read exactly n bytes or raise."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def kafka_call(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    """Send one Kafka request (header v1) and return the response body after the correlation id."""
    client_id = b"omsinfra"
    msg = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    data = recv_exact(sock, size)
    if struct.unpack_from(">i", data)[0] != corr:
        raise ConnectionError("correlation id mismatch")
    return data[4:]


def kafka_probe(timeout: float = 3.0) -> str:
    """ApiVersions + Metadata over the wire; returns a short description, raises if not ready."""
    with socket.create_connection((HOST, KAFKA_PORT), timeout=timeout) as sock:
        # ApiVersions v0: every broker answers it, and it says which Metadata versions it takes.
        body = kafka_call(sock, 18, 0, 1, b"")
        err, n = struct.unpack_from(">hi", body)
        if err:
            raise ConnectionError(f"ApiVersions error {err}")
        versions = {}
        for i in range(n):
            key, lo, hi = struct.unpack_from(">hhh", body, 6 + 6 * i)
            versions[key] = (lo, hi)
        lo, hi = versions[3]
        # Metadata v1..v7 share one simple non-flexible layout (v9+ is flexible); Kafka 4.1 takes v1.
        mv = max(lo, 1)
        if mv > min(hi, 7):
            raise ConnectionError(f"no usable Metadata version in {lo}..{hi}")
        # Empty topic list (not null): brokers and cluster only, no topic scan.
        req = struct.pack(">i", 0) + (struct.pack(">?", False) if mv >= 4 else b"")
        body = kafka_call(sock, 3, mv, 2, req)
    off = 4 if mv >= 3 else 0  # throttle_time_ms
    (nbrokers,) = struct.unpack_from(">i", body, off)
    off += 4
    brokers = []
    for _ in range(nbrokers):
        node, hlen = struct.unpack_from(">ih", body, off)
        host = body[off + 6:off + 6 + hlen].decode()
        off += 6 + hlen
        (port, rlen) = struct.unpack_from(">ih", body, off)
        off += 6 + max(rlen, 0)
        brokers.append(f"{node}@{host}:{port}")
    # Only unfenced, registered brokers are listed: ours in the list means it serves clients.
    if f"1@{HOST}:{KAFKA_PORT}" not in brokers:
        raise ConnectionError(f"broker not registered yet (brokers: {brokers})")
    return f"Metadata v{mv} lists broker {brokers[0]}"


# ---------------------------------------------------------------------------------------------
# FerretDB
# ---------------------------------------------------------------------------------------------


def start_ferretdb() -> subprocess.Popen:
    """Start ferretdb-local detached on the SQLite dir of this state dir."""
    binary = ferretdb_binary()
    (DATA / "ferretdb").mkdir(parents=True, exist_ok=True)
    log(f"ferretdb: starting on {HOST}:{MONGO_PORT}")
    # GOGC 400: the Go collector runs a quarter as often. Every command allocates its documents several times over
    # (BSON, sjson, SQLite); FerretDB's CPU per pipeline order went from ~41 to ~33 ms; it stays ~50 MB resident.
    pprof = ["-pprof", os.environ["OMS_FERRETDB_PPROF"]] if os.environ.get("OMS_FERRETDB_PPROF") else []
    return spawn(FERRETDB, [str(binary), "-listen", f"{HOST}:{MONGO_PORT}", "-dir", str(DATA / "ferretdb"), *pprof],
                 FERRETDB.log, env={"GOGC": os.environ.get("GOGC", "400")})


def bson_ping() -> bytes:
    """BSON for {ping: 1, $db: "admin"}, encoded by hand."""
    elems = b"\x10ping\x00" + struct.pack("<i", 1) + b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    return struct.pack("<i", len(elems) + 5) + elems + b"\x00"


def bson_top_level(doc: bytes) -> dict:
    """Scalar top-level fields of a BSON document (enough to read ok/errmsg of a reply)."""
    fixed = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16}
    out, off = {}, 4
    while doc[off] != 0:
        kind = doc[off]
        end = doc.index(b"\0", off + 1)
        name, off = doc[off + 1:end].decode(), end + 1
        if kind == 0x01:
            out[name] = struct.unpack_from("<d", doc, off)[0]
        elif kind == 0x10:
            out[name] = struct.unpack_from("<i", doc, off)[0]
        elif kind == 0x12:
            out[name] = struct.unpack_from("<q", doc, off)[0]
        elif kind == 0x08:
            out[name] = doc[off] == 1
        elif kind == 0x02:
            (n,) = struct.unpack_from("<i", doc, off)
            out[name] = doc[off + 4:off + 3 + n].decode(errors="replace")
            off += 4 + n
            continue
        if kind in fixed:
            off += fixed[kind]
        elif kind in (0x03, 0x04):  # embedded document / array: length includes itself
            off += struct.unpack_from("<i", doc, off)[0]
        elif kind == 0x05:  # binary: length, subtype, bytes
            off += 5 + struct.unpack_from("<i", doc, off)[0]
        else:
            break  # a type a ping reply doesn't use; what was read so far is enough
    return out


def mongo_probe(timeout: float = 3.0) -> str:
    """MongoDB OP_MSG ping over the wire; returns a short description, raises unless ok: 1."""
    doc = bson_ping()
    msg = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0 (body)
    with socket.create_connection((HOST, MONGO_PORT), timeout=timeout) as sock:
        sock.sendall(struct.pack("<iiii", 16 + len(msg), 1, 0, 2013) + msg)
        (length,) = struct.unpack("<i", recv_exact(sock, 4))
        reply = recv_exact(sock, length - 4)
    _req, _resp_to, opcode = struct.unpack_from("<iii", reply)
    if opcode != 2013 or reply[16] != 0:
        raise ConnectionError(f"unexpected reply (opcode {opcode})")
    fields = bson_top_level(reply[17:])
    if fields.get("ok") != 1:
        raise ConnectionError(f"ping failed: {fields}")
    return "OP_MSG ping ok: 1"


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

PROBES = {"kafka": kafka_probe, "ferretdb": mongo_probe}


def healthy(comp: Component) -> str | None:
    """Probe result if the component answers, else None."""
    try:
        return PROBES[comp.name]()
    except (OSError, ValueError, KeyError, IndexError, struct.error):
        return None


def wait_healthy(comp: Component, proc: subprocess.Popen | None, deadline: float) -> bool:
    """Poll the component's real protocol until it answers; on failure show its log and return False."""
    while True:
        try:
            log(f"{comp.name}: ready ({PROBES[comp.name]()})")
            return True
        except (OSError, ValueError, KeyError, IndexError, struct.error) as e:
            err = f"timed out after {TIMEOUT:.0f}s, last probe error: {e}"
        if proc is not None and proc.poll() is not None:
            err = f"process exited with code {proc.returncode}"
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.3)
    logs = [comp.log]
    if comp is KAFKA and proc is not None and proc.returncode is not None:
        logs.append(LOGS / "kafka.out")  # the JVM's own output: only interesting when it died
    for path in logs:
        print(f"---- last 40 lines of {path} ----\n{tail(path)}", file=sys.stderr)
    log(f"{comp.name}: not healthy: {err}")
    return False


def endpoints(with_ferretdb: bool) -> dict[str, str]:
    """Client settings for the running infra."""
    env = {"KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{KAFKA_PORT}"}
    if with_ferretdb:
        env["MONGODB_URL"] = f"mongodb://{HOST}:{MONGO_PORT}/?directConnection=true"
    return env


def cmd_up(args: argparse.Namespace) -> int:
    """Start what is not running, wait until every component answers, write infra.env."""
    comps = [KAFKA] if args.no_ferretdb else [KAFKA, FERRETDB]
    if args.reset:
        stop([KAFKA, FERRETDB])
        log(f"wiping {DATA}")
        shutil.rmtree(DATA, ignore_errors=True)
        ENV_FILE.unlink(missing_ok=True)
    for d in (DATA, LOGS, RUN):
        d.mkdir(parents=True, exist_ok=True)

    t0 = time.monotonic()
    started = {}
    for comp in comps:
        pid = read_pid(comp)
        if pid is not None:
            log(f"{comp.name}: already running (pid {pid})")
            continue
        if port_busy(comp.port):
            sys.exit(f"omsinfra: port {comp.port} for {comp.name} is used by another process "
                     f"(another infra dir? set OMS_KAFKA_PORT / OMS_MONGO_PORT)")
        if comp is KAFKA and port_busy(KAFKA_CONTROLLER_PORT):
            sys.exit(f"omsinfra: Kafka controller port {KAFKA_CONTROLLER_PORT} is used by another process")
        started[comp.name] = start_kafka() if comp is KAFKA else start_ferretdb()

    # Started in parallel above, checked in turn here under one deadline.
    deadline = time.monotonic() + TIMEOUT
    for comp in comps:
        if not wait_healthy(comp, started.get(comp.name), deadline):
            # Leave no half-started servers behind; what was already running before stays up.
            stop([c for c in comps if c.name in started])
            return 1

    env = endpoints(not args.no_ferretdb)
    ENV_FILE.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    if started:
        log(f"up in {time.monotonic() - t0:.1f}s; state in {STATE}")
    else:
        log("already up and healthy")
    for k, v in env.items():
        print(f"{k}={v}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop every component of this state dir (whatever --no-ferretdb says)."""
    stop([KAFKA, FERRETDB])
    ENV_FILE.unlink(missing_ok=True)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print each component's state; exit 0 if all are up, 3 otherwise."""
    comps = [KAFKA] if args.no_ferretdb else [KAFKA, FERRETDB]
    all_up = True
    for comp in comps:
        pid = read_pid(comp)
        info = healthy(comp) if pid else None
        if pid and info:
            print(f"{comp.name}: up (pid {pid}, {HOST}:{comp.port}; {info})")
        elif pid:
            print(f"{comp.name}: starting or unhealthy (pid {pid}, {HOST}:{comp.port} not answering)")
            all_up = False
        else:
            print(f"{comp.name}: down ({HOST}:{comp.port})")
            all_up = False
    print(f"state: {STATE}")
    return 0 if all_up else 3


def cmd_env(args: argparse.Namespace) -> int:
    """Print `export KEY=VALUE` lines for the running infra (eval "$(python3 infra/omsinfra.py env)")."""
    if not ENV_FILE.exists():
        log(f"not up: run `python3 infra/omsinfra.py up` first (no {ENV_FILE})")
        return 3
    for line in ENV_FILE.read_text().splitlines():
        key, _, value = line.partition("=")
        if key:
            print(f"export {key}={shlex.quote(value)}")
    return 0


def main() -> int:
    """Parse the command line and run the command."""
    parser = argparse.ArgumentParser(description="Local Kafka + FerretDB for the OMS (no Docker).")
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument("--no-ferretdb", action="store_true", help="Kafka only (up, status)")
    parser.add_argument("--reset", action="store_true", help="up: stop and wipe the data dirs first")
    args = parser.parse_args()
    return {"up": cmd_up, "down": cmd_down, "status": cmd_status, "env": cmd_env}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
