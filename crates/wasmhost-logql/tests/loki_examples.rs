//! Queries from Loki's LogQL documentation parse, print back to text that
//! parses to the same query, and the nesting bound holds.

use wasmhost_logql::{parse, ParseError, MAX_DEPTH};

/// Queries written as in Loki's documentation (LogQL v3).
const DOCUMENTED: &[&str] = &[
    r#"{container="query-frontend",namespace="loki-dev"}"#,
    r#"{name=~"mysql.+"}"#,
    r#"{name!~`mysql-\d+`, job="x"}"#,
    r#"{job="mysql"} |= "error" != "timeout""#,
    r#"{name="kafka"} |~ "tsdb-ops.*io:2003""#,
    r#"{instance=~"kafka-[23]",name="kafka"} != "kafka.server:type=ReplicaManager""#,
    r#"{job="varlogs"} | json | level="error""#,
    r#"{cluster="ops-tools1", namespace="loki-dev", job="loki-dev/query-frontend"} |= "metrics.go" !="out of order" | logfmt | duration > 30s or status_code!="200""#,
    r#"{job="loki"} | json | (level="error" or level="warn"), user="alice""#,
    r#"{job="loki"} | json first_server="servers[0]", ua="request.headers[\"User-Agent\"]""#,
    r#"{job="loki"} | logfmt --strict --keep-empty host, status="code""#,
    r#"{job="nginx"} | pattern `<ip> - - <_> "<method> <uri> <_>" <status> <size> <_> "<agent>" <_>`"#,
    r#"{job="x"} | regexp "(?P<method>\\w+) (?P<path>[\\w|/]+) \\((?P<status>\\d+?)\\) (?P<duration>.*)""#,
    r#"{job="x"} | unpack | line_format "{{.app}}: {{ __line__ }}""#,
    r#"{job="x"} | label_format foo=bar, dst="{{.status}} {{.query | ToLower}}""#,
    r#"{job="x"} | drop level, method="GET" | keep job, status"#,
    r#"{job="x"} | decolorize"#,
    r#"{job="x"} | json | size > 20MB and latency <= 250ms or addr = ip("192.168.0.0/16")"#,
    r#"{job="x"} |= "a" or "b" |> "<_> error <_>" !> "<_> ok""#,
    r#"{job="x"} |= ip("192.168.4.5-192.168.4.20") != ip("::1")"#,
    r#"{job="x"} | logfmt | distinct id, host"#,
    r#"{job="x"} # a comment
       |= "error""#,
    r#"count_over_time({job="mysql"}[5m])"#,
    r#"sum by (host) (rate({job="mysql"} |= "error" != "timeout" | json | duration > 10s [1m]))"#,
    r#"sum(count_over_time({job="mysql"}[5m])) by (level)"#,
    r#"bytes_over_time({job="mysql"}[1h30m] offset 1d)"#,
    r#"quantile_over_time(0.99, {cluster="ops-tools1",container="ingress-nginx"} | json | __error__ = "" | unwrap request_time [1m]) by (path)"#,
    r#"sum by (org_id) (sum_over_time({cluster="ops-tools1",container="loki-dev"} |= "metrics.go" | logfmt | unwrap bytes_processed [1m]))"#,
    r#"avg_over_time({job="x"} | unwrap duration(took) | __error__="" [5m]) by (job)"#,
    r#"rate_counter({job="x"} | logfmt | unwrap total [5m])"#,
    r#"absent_over_time({job="x"}[5m])"#,
    r#"topk(10, sum(rate({region="us-east1"}[5m])) by (name))"#,
    r#"sort_desc(sum by (a) (count_over_time({job="x"}[5m])))"#,
    r#"sum by (a) (count_over_time({job="x"}[5m])) / on (a) group_left (b) sum by (a, b) (count_over_time({job="y"}[5m]))"#,
    r#"sum(rate({job="x"}[5m])) > bool 10 or vector(0)"#,
    r#"label_replace(rate({job="api-server",service="a:c"} |= "err" [5m]), "foo", "$1", "service", "(.*):.*")"#,
    r#"count_over_time(({job="x"} | json)[5m])"#,
    r#"-1 + 2 * 3 ^ 2 % 5"#,
];

#[test]
fn documented_queries_parse_and_print_back() {
    for q in DOCUMENTED {
        let parsed = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let printed = parsed.to_string();
        let reparsed = parse(&printed).unwrap_or_else(|e| panic!("{q} printed as {printed}: {e}"));
        assert_eq!(parsed, reparsed, "{q} printed as {printed}");
    }
}

/// Issue #18 item 7: 10,000 and 20,000 nested parentheses are errors, in
/// label filters and in metric expressions, never a stack overflow.
#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for n in [10_000, 20_000] {
        let filter = format!(r#"{{job="x"}} | {}a="1"{}"#, "(".repeat(n), ")".repeat(n));
        let metric = format!(r#"{}count_over_time({{job="x"}}[5m]){}"#, "(".repeat(n), ")".repeat(n));
        let unary = format!(r#"{}1"#, "+".repeat(n));
        let range = format!(r#"count_over_time({}{{job="x"}}{}[5m])"#, "(".repeat(n), ")".repeat(n));
        for q in [filter, metric, unary, range] {
            assert_eq!(parse(&q), Err(ParseError::TooDeep), "{}…", &q[..40]);
        }
    }
    let ok = format!(r#"{{job="x"}} | {}a="1"{}"#, "(".repeat(MAX_DEPTH / 2), ")".repeat(MAX_DEPTH / 2));
    assert!(parse(&ok).is_ok());
}

/// Issue 13: 20,000 nested parentheses — around a selector, in a label
/// filter, around a metric expression, inside a binary expression — and
/// 20,000-long operator chains (each operator nests the tree one level)
/// are each a clear error, not a stack overflow; half the bound parses.
#[test]
fn twenty_thousand_levels_are_an_error_in_every_construct() {
    let nest = |n: usize, inner: &str| format!("{}{inner}{}", "(".repeat(n), ")".repeat(n));
    let chain = |n: usize, op: &str, operand: &str| vec![operand; n + 1].join(op);
    let cases = |n: usize| {
        vec![
            ("selector", nest(n, r#"{job="x"}"#)),
            ("label filter", format!(r#"{{job="x"}} | {}"#, nest(n, r#"a="1""#))),
            ("metric expression", nest(n, r#"count_over_time({job="x"}[5m])"#)),
            ("binary expression", format!("1 + {}", nest(n, "vector(1) * 2"))),
            ("binary chain", chain(n, " + ", "vector(1)")),
            ("power chain", chain(n, " ^ ", "2")),
            ("label filter chain", format!(r#"{{job="x"}} | {}"#, chain(n, " and ", r#"a="1""#))),
            ("label filter list", format!(r#"{{job="x"}} | {}"#, chain(n, ", ", r#"a="1""#))),
        ]
    };
    for (what, q) in cases(20_000) {
        // The caller's stack is a test thread's 2 MB; the parser must not need more.
        assert_eq!(parse(&q), Err(ParseError::TooDeep), "{what}");
        assert_eq!(parse(&q).unwrap_err().to_string(), format!("parse error : query nested deeper than {MAX_DEPTH} levels"), "{what}");
    }
    for (what, q) in cases(MAX_DEPTH / 2 - 4) {
        let parsed = parse(&q).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(parse(&parsed.to_string()), Ok(parsed), "{what} prints back");
    }
}
