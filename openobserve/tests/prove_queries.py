#!/usr/bin/env python3
"""Proves every query aurora-logs installs in OpenObserve on real SQL.

Runs each dashboard panel, alert and saved view of openobserve/ in Apache DataFusion (the engine
OpenObserve runs) over records made by aurora-logs' own parsers, with what OpenObserve adds
around a query supplied here:

- its functions as UDFs: str_match, str_match_ignore_case, re_match, histogram(_timestamp,
  '<interval>') (buckets of the server's date_bin rewrite); match_all('x') is approximated as a
  case-insensitive substring match on the stream's full-text fields;
- dashboard variables substituted as the UI does ('v' for a value, '_o2_all_' for "All",
  which the server then rewrites to TRUE);
- the time range applied to every stream as `_timestamp >= start AND _timestamp < end`, and
  OpenObserve's default LIMIT 1000 on a query without one;
- a stream's columns typed as OpenObserve types them (Int64, Float64, Utf8, Boolean).

Input: --assets openobserve/, --queries docs/openobserve.md, --data DIR written by
tests/openobserve_queries.rs:
  DIR/all/<stream>.ndjson        the demo world, the corpora and the alert fixtures together
  DIR/demo/<stream>.ndjson       the demo world alone
  DIR/digest/<stream>.ndjson     MySQL slow logs, and DIR/digest/digest.json: `aurora-logs digest
                                 --format json` on the same files
  DIR/alerts/<name>/{fires,quiet}/<stream>.ndjson   data made to trigger each alert, and not

Checks, each a failure when it does not hold:
- every panel: its SQL runs with "All" and with one value per variable; its result columns are
  exactly its axis aliases; it is not empty on `all`;
- the "top fingerprints" panel gives the same count, total and max query time per
  fingerprint_id as `aurora-logs digest` on the same records;
- every alert: its SQL runs; it fires on its `fires` data and stays quiet on its `quiet` data
  (evaluated as the scheduler does: rows >= threshold over the last `period` minutes);
- every saved view, and every SQL block of docs/openobserve.md's "Querying in OpenObserve": it runs and
  finds records on `all`;
- every field a stream setting or a dashboard variable names exists in that stream's records.
Prints the count of queries proven; exits 1 listing every failure.
"""
import argparse
import datetime as dt
import glob
import json
import math
import os
import re
import sys

import pyarrow as pa
import pyarrow.compute as pc
from datafusion import SessionConfig, SessionContext, udf

KINDS = {
    "mysql_slow": "aurora_mysql_slowquery",
    "mysql_error": "aurora_mysql_error",
    "mysql_general": "aurora_mysql_general",
    "mysql_audit": "aurora_mysql_audit",
    "postgresql": "aurora_postgresql",
}
ALL = "_o2_all_"
DEFAULT_LIMIT = 1000
US = 1_000_000
FAILURES = []
DEMO_VERDICTS = []


def fail(what, why):
    FAILURES.append(f"{what}: {why}")


# ------------------------------------------------------------------------------- UDFs

def _str_match(col, pat, ignore_case):
    out = []
    for v, p in zip(col.to_pylist(), pat.to_pylist()):
        if v is None or p is None:
            out.append(None)
        elif ignore_case:
            out.append(p.lower() in v.lower())
        else:
            out.append(p in v)
    return pa.array(out, pa.bool_())


_RE_CACHE = {}


def _re_match(col, pat):
    out = []
    for v, p in zip(col.to_pylist(), pat.to_pylist()):
        if v is None or p is None:
            out.append(None)
            continue
        r = _RE_CACHE.get(p) or _RE_CACHE.setdefault(p, re.compile(p))
        out.append(r.search(v) is not None)
    return pa.array(out, pa.bool_())


UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
ORIGIN_US = int(dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc).timestamp()) * US


def interval_us(text):
    m = re.fullmatch(r"\s*(\d+)\s*(second|minute|hour|day)s?\s*", text)
    if not m:
        raise ValueError(f"histogram interval {text!r} is not '<n> second|minute|hour|day'")
    return int(m.group(1)) * UNITS[m.group(2)] * US


def _histogram(ts, interval):
    out = []
    for t, i in zip(ts.to_pylist(), interval.to_pylist()):
        if t is None:
            out.append(None)
            continue
        step = interval_us(i)
        out.append(ORIGIN_US + ((t - ORIGIN_US) // step) * step)
    return pa.array(out, pa.timestamp("us"))


def context():
    ctx = SessionContext(SessionConfig().set("datafusion.sql_parser.dialect", "PostgreSQL"))
    ctx.register_udf(udf(lambda c, p: _str_match(c, p, False), [pa.string(), pa.string()], pa.bool_(),
                         "immutable", "str_match"))
    ctx.register_udf(udf(lambda c, p: _str_match(c, p, True), [pa.string(), pa.string()], pa.bool_(),
                         "immutable", "str_match_ignore_case"))
    ctx.register_udf(udf(_re_match, [pa.string(), pa.string()], pa.bool_(), "immutable", "re_match"))
    ctx.register_udf(udf(_histogram, [pa.int64(), pa.string()], pa.timestamp("us"), "immutable",
                         "histogram"))
    return ctx


# ------------------------------------------------------------------------------- data

def arrow_type(values, stream, field):
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pa.string()
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        return pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    if kinds == {str}:
        return pa.string()
    raise ValueError(f"{stream}.{field} has values of types {sorted(k.__name__ for k in kinds)}: "
                     "OpenObserve would refuse the records of the second type")


def load_stream(path):
    stream = os.path.basename(path)[: -len(".ndjson")]
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    fields = sorted({k for r in rows for k in r})
    schema = pa.schema([(k, arrow_type([r.get(k) for r in rows], stream, k)) for k in fields])
    return stream, pa.Table.from_pylist(rows, schema=schema)


class Scenario:
    """One data set: a table per stream."""

    def __init__(self, name, directory):
        self.name = name
        self.tables = dict(load_stream(p) for p in sorted(glob.glob(os.path.join(directory, "*.ndjson"))))
        self.ctx = context()
        times = [pc.min_max(t["_timestamp"]) for t in self.tables.values() if t.num_rows]
        self.start = min(m["min"].as_py() for m in times) if times else 0
        self.end = max(m["max"].as_py() for m in times) + 1 if times else 1

    def run(self, sql, start=None, end=None):
        start = self.start if start is None else start
        end = self.end if end is None else end
        for stream, table in self.tables.items():
            if self.ctx.table_exist(stream):
                self.ctx.deregister_table(stream)
            ts = table["_timestamp"]
            window = table.filter(pc.and_(pc.greater_equal(ts, start), pc.less(ts, end)))
            batches = window.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]
            self.ctx.register_record_batches(stream, [batches])
        return self.ctx.sql(sql)


# ------------------------------------------------------------------------------- SQL as OpenObserve sees it

def with_default_limit(sql):
    return sql if re.search(r"\bLIMIT\s+\d+\s*;?\s*$", sql, re.I) else f"{sql} LIMIT {DEFAULT_LIMIT}"


def substitute(sql, values):
    """$name -> the UI's substitution; then the server's _o2_all_ rewrite."""
    for name in sorted(values, key=len, reverse=True):
        sql = re.sub(r"\$" + re.escape(name) + r"\b", values[name], sql)
    left = re.findall(r"\$[A-Za-z_]\w*", sql)
    if left:
        raise ValueError(f"variables {left} are not defined by the dashboard")
    ident = r'(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_.]*)'
    sql = re.sub(ident + r"\s+IN\s*\(\s*'" + ALL + r"'\s*\)", "TRUE", sql, flags=re.I)
    sql = re.sub(ident + r"\s*=\s*'" + ALL + "'", "TRUE", sql)
    return sql


def expand_match_all(sql, fts_fields):
    def repl(m):
        term = m.group(1)
        return "(" + " OR ".join(f"str_match_ignore_case({f}, '{term}')" for f in fts_fields) + ")"
    return re.sub(r"match_all\('([^']*)'\)", repl, sql)


def streams_in(sql):
    return set(re.findall(r'FROM\s+"([^"]+)"', sql))


# ------------------------------------------------------------------------------- the checks

def load_assets(root):
    def load(pattern):
        return [(p, json.load(open(p))) for p in sorted(glob.glob(os.path.join(root, pattern)))]
    streams = {KINDS[s["kind"]]: s["settings"] for _, s in load("streams/*.json")}
    return streams, load("dashboards/*.json"), load("alerts/*.json"), load("views/*.json")


def result(df):
    table = df.to_arrow_table()
    return table.column_names, table.num_rows, table


def prove_panels(dashboards, all_, stream_settings):
    proven = 0
    for path, d in dashboards:
        variables = d.get("variables", {}).get("list", [])
        for v in variables:
            q = v["query_data"]
            table = all_.tables.get(q["stream"])
            if table is None or q["field"] not in table.column_names:
                fail(f"{os.path.basename(path)} variable {v['name']}", f"no field {q['field']} in {q['stream']}")
        everything = {v["name"]: f"'{ALL}'" for v in variables}
        for tab in d["tabs"]:
            for p in tab["panels"]:
                what = f"{os.path.basename(path)} panel {p['id']}"
                ok = True
                for q in p["queries"]:
                    f = q["fields"]
                    aliases = [a["alias"] for k in ("x", "y", "z", "breakdown") for a in f.get(k) or []]
                    try:
                        sql = expand_match_all(substitute(q["query"], everything),
                                               stream_settings[f["stream"]]["full_text_search_keys"])
                        cols, rows, _ = result(all_.run(with_default_limit(sql)))
                    except Exception as e:  # noqa: BLE001 - every engine error is a finding
                        fail(what, f"does not run: {e}")
                        ok = False
                        continue
                    if sorted(cols) != sorted(aliases):
                        fail(what, f"SELECT aliases {sorted(cols)} != axis aliases {sorted(aliases)}")
                        ok = False
                    if rows == 0:
                        fail(what, "empty on data that should fill it")
                        ok = False
                    # One value per variable: the most frequent of its field.
                    chosen = {}
                    for v in variables:
                        qd = v["query_data"]
                        t = all_.tables[qd["stream"]]
                        counts = pc.value_counts(t[qd["field"]].drop_null())
                        if len(counts):
                            best = max(counts.to_pylist(), key=lambda c: c["counts"])["values"]
                            chosen[v["name"]] = "'" + str(best).replace("'", "''") + "'"
                        else:
                            chosen[v["name"]] = f"'{ALL}'"
                    try:
                        sql = expand_match_all(substitute(q["query"], chosen),
                                               stream_settings[f["stream"]]["full_text_search_keys"])
                        result(all_.run(with_default_limit(sql)))
                    except Exception as e:  # noqa: BLE001
                        fail(what, f"does not run with variables {chosen}: {e}")
                        ok = False
                proven += ok
    return proven


def prove_digest(dashboards, digest_dir):
    scenario = Scenario("digest", digest_dir)
    report = json.load(open(os.path.join(digest_dir, "digest.json")))
    panel = next(p for _, d in dashboards for t in d["tabs"] for p in t["panels"] if p["id"] == "top_fingerprints")
    variables = {"cluster": f"'{ALL}'", "instance": f"'{ALL}'", "db": f"'{ALL}'", "user": f"'{ALL}'"}
    sql = substitute(panel["queries"][0]["query"], variables)
    _, rows, table = result(scenario.run(sql))
    limit = int(re.search(r"LIMIT\s+(\d+)\s*$", sql).group(1))
    classes = {c["fingerprint_id"]: c for c in report["classes"]}
    if rows == 0:
        fail("top fingerprints vs digest", "the panel is empty on the digest's records")
        return 0
    compared = 0
    for row in table.to_pylist():
        c = classes.get(row["fingerprint_id"])
        what = f"top fingerprints vs digest, class {row['fingerprint_id']}"
        if c is None:
            fail(what, "not among the digest's classes")
            continue
        q = c["query_time"]
        if row["calls"] != c["count"]:
            fail(what, f"count {row['calls']} != digest {c['count']}")
        if not math.isclose(row["total_s"], q["sum"], rel_tol=1e-9, abs_tol=1e-9):
            fail(what, f"total {row['total_s']} != digest {q['sum']}")
        if not math.isclose(row["max_s"], q["max"], rel_tol=1e-9, abs_tol=1e-9):
            fail(what, f"max {row['max_s']} != digest {q['max']}")
        compared += 1
    # The same classes: the digest's first `limit` by total time (ties at the edge aside).
    by_total = sorted(report["classes"], key=lambda c: -c["query_time"]["sum"])
    edge = by_total[min(limit, len(by_total)) - 1]["query_time"]["sum"]
    must = {c["fingerprint_id"] for c in by_total if c["query_time"]["sum"] > edge}
    missing = must - set(table.column("fingerprint_id").to_pylist())
    if missing:
        fail("top fingerprints vs digest", f"digest classes missing from the panel: {sorted(missing)}")
    if report.get("summary", {}).get("classes_pooled"):
        fail("top fingerprints vs digest", "the digest pooled classes: raise --max-classes")
    print(f"top fingerprints = digest on {compared} classes "
          f"({sum(c['count'] for c in report['classes'])} timed statements)")
    return 1 if compared == rows and not missing else 0


def window(scenario, trigger):
    """The evaluation window ending after the scenario's last record, as the scheduler would
    evaluate it: `period` minutes, the end aligned up to `frequency` when align_time is on."""
    end = scenario.end
    if trigger.get("align_time"):
        step = trigger["frequency"] * 60 * US
        end = -(-end // step) * step
    return end - trigger["period"] * 60 * US, end


def fires(scenario, alert):
    """Whether the alert fires on `scenario`, and how many rows its SQL returned. A field the
    SQL names that no record of the stream has is OpenObserve's "search field not found": the
    evaluation errors and nothing is sent (a parse_error alert on a stream that never had a
    flagged record), so that is quiet."""
    t = alert["trigger_condition"]
    start, end = window(scenario, t)
    try:
        _, rows, _ = result(scenario.run(alert["query_condition"]["sql"], start, end))
    except Exception as e:  # noqa: BLE001
        if "No field named" in str(e):
            return False, 0
        raise
    op = {">=": rows >= t["threshold"], ">": rows > t["threshold"], "=": rows == t["threshold"]}[t["operator"]]
    return op, rows


def prove_alerts(alerts, all_, demo, alerts_dir):
    proven = 0
    for path, a in alerts:
        name = a["name"]
        what = f"alert {name}"
        ok = True
        sql = a["query_condition"]["sql"]
        if re.search(r"select\s+\*", sql, re.I):
            fail(what, "SELECT * (OpenObserve refuses it in alerts)")
            ok = False
        if a["stream_name"] not in streams_in(sql):
            fail(what, f"its SQL does not read its stream {a['stream_name']}")
            ok = False
        try:
            result(all_.run(sql))
        except Exception as e:  # noqa: BLE001
            fail(what, f"does not run: {e}")
            continue
        for case, want in (("fires", True), ("quiet", False)):
            d = os.path.join(alerts_dir, name, case)
            if not os.path.isdir(d):
                fail(what, f"no data made to show that it {'fires' if want else 'stays quiet'} ({d})")
                ok = False
                continue
            try:
                got, rows = fires(Scenario(f"{name}/{case}", d), a)
            except Exception as e:  # noqa: BLE001
                fail(what, f"{case}: does not run: {e}")
                ok = False
                continue
            if got != want:
                fail(what, f"{'did not fire' if want else 'fired'} on its {case} data ({rows} rows)")
                ok = False
        if demo is not None and a["stream_name"] in demo.tables:
            try:
                got, rows = fires(demo, a)
                DEMO_VERDICTS.append(f"{name}: {'fires' if got else 'quiet'} ({rows} rows)")
            except Exception as e:  # noqa: BLE001 - e.g. no record of the demo has parse_error
                DEMO_VERDICTS.append(f"{name}: cannot run ({str(e).splitlines()[0]})")
        proven += ok
    return proven


def prove_views(views, all_, stream_settings):
    proven = 0
    for path, v in views:
        what = f"view {v['view_name']}"
        data = v["data"]["data"]
        stream = data["stream"]["selectedStream"][0]
        if data["query"] != data["editorValue"]:
            fail(what, "query and editorValue differ")
        for field in data["stream"]["selectedFields"]:
            if field not in all_.tables[stream].column_names:
                fail(what, f"selected field {field} is not in {stream}")
        try:
            sql = expand_match_all(data["query"], stream_settings[stream]["full_text_search_keys"])
            _, rows, _ = result(all_.run(with_default_limit(sql)))
        except Exception as e:  # noqa: BLE001
            fail(what, f"does not run: {e}")
            continue
        if rows == 0:
            fail(what, "finds nothing on data that should fill it")
            continue
        proven += 1
    return proven


def prove_doc(doc, all_, stream_settings):
    """The SQL blocks of docs/openobserve.md's "Querying in OpenObserve": each runs and finds records."""
    text = open(doc).read()
    start = text.find("\n## Querying in OpenObserve")
    if start < 0:
        fail("docs", "no section 'Querying in OpenObserve'")
        return 0, 0
    end = text.find("\n## ", start + 1)
    blocks = re.findall(r"```sql\n(.*?)```", text[start:end if end > 0 else None], re.S)
    proven = 0
    for block in blocks:
        title = block.splitlines()[0].lstrip("- ").strip()
        sql = " ".join(l for l in block.splitlines() if not l.strip().startswith("--"))
        stream = next(iter(streams_in(sql)), None)
        try:
            if stream not in stream_settings:
                raise ValueError(f"reads no aurora-logs stream ({stream})")
            sql = expand_match_all(sql, stream_settings[stream]["full_text_search_keys"])
            _, rows, _ = result(all_.run(with_default_limit(sql)))
        except Exception as e:  # noqa: BLE001
            fail(f"docs query '{title}'", f"does not run: {e}")
            continue
        if rows == 0:
            fail(f"docs query '{title}'", "finds nothing on data that should fill it")
            continue
        proven += 1
    return proven, len(blocks)


def check_settings_fields(stream_settings, all_):
    for stream, s in stream_settings.items():
        table = all_.tables.get(stream)
        if table is None:
            fail(f"stream {stream}", "no records at all")
            continue
        named = s.get("full_text_search_keys", []) + s.get("index_fields", []) + \
            [p["field"] for p in s.get("partition_keys", [])]
        for field in named:
            if field not in table.column_names:
                fail(f"stream {stream} settings", f"{field} is in no record of the stream")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--assets", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--queries", required=True)
    args = ap.parse_args()
    stream_settings, dashboards, alerts, views = load_assets(args.assets)
    all_ = Scenario("all", os.path.join(args.data, "all"))
    demo_dir = os.path.join(args.data, "demo")
    demo = Scenario("demo", demo_dir) if os.path.isdir(demo_dir) else None
    print("records: " + ", ".join(f"{s} {t.num_rows}" for s, t in sorted(all_.tables.items())))
    check_settings_fields(stream_settings, all_)
    panels = prove_panels(dashboards, all_, stream_settings)
    n_panels = sum(len(t["panels"]) for _, d in dashboards for t in d["tabs"])
    digest = prove_digest(dashboards, os.path.join(args.data, "digest"))
    n_alerts = prove_alerts(alerts, all_, demo, os.path.join(args.data, "alerts"))
    n_views = prove_views(views, all_, stream_settings)
    n_doc, doc_total = prove_doc(args.queries, all_, stream_settings)
    print("alerts on the demo world's last window: " + "; ".join(DEMO_VERDICTS))
    proven = panels + n_alerts + n_views + n_doc
    total = n_panels + len(alerts) + len(views) + doc_total
    print(f"queries proven: {proven} of {total} (panels {panels}/{n_panels}, alerts {n_alerts}/{len(alerts)}, "
          f"saved views {n_views}/{len(views)}, docs queries {n_doc}/{doc_total}; "
          f"top fingerprints = digest: {'yes' if digest else 'no'})")
    if FAILURES:
        print(f"{len(FAILURES)} failures:", file=sys.stderr)
        for f in FAILURES:
            print(f"  {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
