//! Queries from Loki's LogQL documentation: the supported ones parse (and
//! evaluate sensibly), the others fail naming what is not supported.

use wasmhost_logql::{parse, MetricQuery, ParseError, Query};

const SUPPORTED: &[&str] = &[
    r#"{container="query-frontend",namespace="loki-dev"}"#,
    r#"{app="mysql",name="mysql-backup"}"#,
    r#"{name=~"mysql.+"}"#,
    r#"{name!~"mysql.+"}"#,
    r#"{name!~`mysql-\d+`}"#,
    r#"{job="mysql"} |= "error""#,
    r#"{name="kafka"} |~ "tsdb-ops.*io:2003""#,
    r#"{name="cassandra"} |~  `error=\w+`"#,
    r#"{instance=~"kafka-[23]",name="kafka"} != "kafka.server:type=ReplicaManager""#,
    r#"{job="mysql"} |= "error" != "timeout""#,
    r#"{container="query-frontend",namespace="loki-dev"} |= "metrics.go" | logfmt_is_not_here="x""#,
    r#"{job="varlogs"} | json | level="error""#,
    r#"{cluster="ops-tools1", namespace="loki-dev", job="loki-dev/query-frontend"} |= "metrics.go" !="out of order" | json | status_code=~"5.." and duration > 10"#,
    r#"{job="loki"} | json | status_code >= 200 and status_code < 300"#,
    r#"{job="loki"} | json | level="error" or level="warn""#,
    r#"{job="loki"} | json | (level="error" or level="warn"), user="alice""#,
    r#"{job="loki"} | json | line_format "{{.status_code}} {{ .method }}""#,
    r#"count_over_time({job="mysql"}[5m])"#,
    r#"sum by (host) (rate({job="mysql"} |= "error" != "timeout" | json | duration > 10 [1m]))"#,
    r#"rate({job="mysql"} |= "error" [1m])"#,
    r#"sum(count_over_time({job="mysql"}[5m])) by (level)"#,
    r#"bytes_over_time({job="mysql"}[1h30m])"#,
    r#"avg(rate({job="mysql"}[5m])) by (host)"#,
    r#"count_over_time({job="gateway"} | json | __error__="" [5m]) by (lang, task_id)"#,
    r#"count_over_time({job="gateway"}[5m]) without (task_id)"#,
];

const UNSUPPORTED: &[(&str, &str)] = &[
    (r#"{job="mysql"} | logfmt | level="error""#, "logfmt"),
    (r#"{job="x"} | pattern "<ip> - <_>""#, "pattern"),
    (r#"{job="x"} | regexp "(?P<m>\\w+)""#, "regexp"),
    (r#"{job="x"} | label_format foo=bar"#, "label_format"),
    (r#"sum_over_time({job="x"} | unwrap bytes [5m])"#, "sum_over_time"),
    (r#"quantile_over_time(0.99, {job="x"} | unwrap latency [5m])"#, "quantile_over_time"),
    (r#"topk(10, sum(rate({region="us-east1"}[5m])) by (name))"#, "topk"),
    (r#"count_over_time({job="x"}[5m] offset 1h)"#, "offset"),
    (r#"sum(rate({job="x"}[5m])) > 10"#, "binary operator"),
    (r#"{job="x"} | json first="a""#, "json with parameters"),
    (r#"{job="x"} | json | duration > 1s"#, "duration"),
    (r#"{job="x"} | line_format "{{ .a | ToUpper }}""#, "line_format"),
];

#[test]
fn documented_queries_parse() {
    for q in SUPPORTED {
        parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
}

#[test]
fn unsupported_constructs_are_named() {
    for (q, construct) in UNSUPPORTED {
        match parse(q) {
            Err(ParseError::Unsupported(what)) => assert!(what.contains(construct), "{q}: {what}"),
            other => panic!("{q}: expected an unsupported error naming {construct}, got {other:?}"),
        }
    }
}

#[test]
fn syntax_errors_say_where() {
    for q in [r#"{job="x""#, r#"{job=x}"#, r#"{}"#, r#"{job="x"} |"#, r#"count_over_time({job="x"})"#, r#"{job="x" |= "y""#, "\"unterminated"] {
        match parse(q) {
            Err(ParseError::Syntax { at, message }) => assert!(at <= q.len() && !message.is_empty(), "{q}"),
            other => panic!("{q}: expected a syntax error, got {other:?}"),
        }
    }
}

fn log(q: &str) -> wasmhost_logql::LogQuery {
    match parse(q).unwrap() {
        Query::Log(q) => q,
        Query::Metric(_) => panic!("{q} is a metric query"),
    }
}

fn metric(q: &str) -> MetricQuery {
    match parse(q).unwrap() {
        Query::Metric(q) => q,
        Query::Log(_) => panic!("{q} is a log query"),
    }
}

#[test]
fn selectors_filters_and_json() {
    let line = r#"{"job":"loki","level":"error","status_code":503,"duration":12.5,"req":{"user-agent":"curl","path":"/x"},"msg":"oops"}"#;
    assert!(log(r#"{job="loki"}"#).run(line).is_some());
    assert!(log(r#"{job!="loki"}"#).run(line).is_none());
    assert!(log(r#"{job=~"lo.*"}"#).run(line).is_some());
    assert!(log(r#"{job=~"lo"}"#).run(line).is_none(), "regex matchers are anchored");
    assert!(log(r#"{missing=""}"#).run(line).is_some(), "a missing label equals the empty string");
    assert!(log(r#"{job="loki"} |= "oops" != "fine" |~ "o{2}""#).run(line).is_some());
    assert!(log(r#"{job="loki"} !~ "oo""#).run(line).is_none());
    let passed = log(r#"{job="loki"} | json | status_code=~"5.." and duration > 10"#).run(line).unwrap();
    assert_eq!(passed.labels["req_user_agent"], "curl");
    assert_eq!(passed.labels["req_path"], "/x");
    assert!(log(r#"{job="loki"} | json | duration > 20 or level="warn""#).run(line).is_none());
    assert!(log(r#"{job="loki"} | json | (duration > 20 or level="error"), status_code != 200"#).run(line).is_some());
    let formatted = log(r#"{job="loki"} | json | line_format "{{.level}}: {{.req_path}} {{.nope}}!""#).run(line).unwrap();
    assert_eq!(formatted.text, "error: /x !");
    // Not JSON: only `| json` can see it, and it marks the error.
    let plain = log(r#"{job=""} | json"#).run("plain text").unwrap();
    assert_eq!(plain.labels["__error__"], "JSONParserErr");
    assert!(log(r#"{job=""} | json | __error__="""#).run("plain text").is_none());
}

#[test]
fn range_and_vector_aggregations() {
    let lines = [
        r#"{"ts":"2026-11-25T17:00:00Z","lang":"rust","task_id":1}"#, // outside [5m]
        r#"{"ts":"2026-11-25T17:56:00Z","lang":"rust","task_id":1}"#,
        r#"{"ts":"2026-11-25T17:58:00Z","lang":"rust","task_id":2}"#,
        r#"{"ts":"2026-11-25T17:59:00Z","lang":"go","task_id":3}"#,
        r#"{"ts":"2026-11-25T18:00:00.000000001Z","lang":"go","task_id":3}"#,
    ];
    let q = metric(r#"count_over_time({lang=~".+"} | json [5m]) by (lang, task_id)"#);
    let got: Vec<(String, String, f64)> = q
        .evaluate(lines)
        .into_iter()
        .map(|s| (s.labels["lang"].clone(), s.labels["task_id"].clone(), s.value))
        .collect();
    assert_eq!(got, [("go".into(), "3".into(), 2.0), ("rust".into(), "1".into(), 1.0), ("rust".into(), "2".into(), 1.0)]);
    let q = metric(r#"sum by (lang) (count_over_time({lang=~".+"}[5m]))"#);
    let got: Vec<f64> = q.evaluate(lines).into_iter().map(|s| s.value).collect();
    assert_eq!(got, [2.0, 2.0]);
    let q = metric(r#"sum(rate({lang=~".+"}[2h]))"#);
    let samples = q.evaluate(lines);
    assert_eq!(samples.len(), 1);
    assert!((samples[0].value - 5.0 / 7200.0).abs() < 1e-12);
    let q = metric(r#"count(count_over_time({lang=~".+"}[5m]) by (task_id))"#);
    assert_eq!(q.evaluate(lines)[0].value, 3.0);
}

#[test]
fn timestamps() {
    use wasmhost_logql::parse_rfc3339 as p;
    assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(p("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
    assert_eq!(p("2000-02-29T00:00:00.000000001Z"), Some(951_782_400_000_000_001));
    assert_eq!(p("1970-01-01T01:00:00+01:00"), Some(0));
    assert_eq!(p("yesterday"), None);
}
