//! The deploy kit (`deploy/`) cannot rot: every YAML and JSON file parses,
//! the compose file wires wasmhost to Loki and the collector, every LogQL
//! query of the dashboard parses with wasmhost's own LogQL parser (the
//! headline queries among them), and every metric the dashboard's PromQL
//! names is one wasmhost exports.

use std::path::{Path, PathBuf};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// What wasmhost exports once a sink exists and instances have run.
fn exported_metrics() -> String {
    use std::sync::Arc;
    use wasmhost_log::{InstanceContext, Level, Line, LogRecord, Stream};
    let m = wasmhost_export::Metrics::new();
    m.sink("loki");
    let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
    for event in ["instance.start", "instance.trap", "instance.timeout", "instance.exit"] {
        m.observe(&LogRecord::event(ctx.clone(), 1, Level::Info, event, String::new(), vec![("exit_code", 0i64.into())]));
    }
    m.observe(&LogRecord::line(ctx, Stream::Stderr, 2, Line { bytes: b"x", continued: false }));
    m.render()
}

fn yaml(path: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_file_of_the_kit_parses() {
    let mut all = Vec::new();
    files(&deploy(), &mut all);
    let mut checked = 0;
    for f in &all {
        match f.extension().and_then(|e| e.to_str()) {
            Some("yml" | "yaml") => {
                yaml(f);
                checked += 1;
            }
            Some("json") => {
                serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(f).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                checked += 1;
            }
            Some("alloy") => {
                alloy_is_balanced(&std::fs::read_to_string(f).unwrap());
                checked += 1;
            }
            _ if f.file_name().is_some_and(|n| n == "Dockerfile") => {}
            _ => panic!("{}: a file the kit test does not know how to check", f.display()),
        }
    }
    assert_eq!(checked, all.len() - 1, "everything but the Dockerfile: {all:?}");
}

/// Alloy's syntax is neither YAML nor JSON: check its blocks and strings
/// close, and that it writes to Loki's push API.
fn alloy_is_balanced(text: &str) {
    let (mut depth, mut in_string, mut prev) = (0i32, false, ' ');
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for c in line.chars() {
            match c {
                '"' if prev != '\\' => in_string = !in_string,
                '{' | '[' if !in_string => depth += 1,
                '}' | ']' if !in_string => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0, "unbalanced: {line}");
            prev = c;
        }
    }
    assert!(!in_string && depth == 0);
    assert!(text.contains("loki.write") && text.contains("/loki/api/v1/push"));
}

#[test]
fn compose_wires_wasmhost_to_loki_the_collector_and_prometheus() {
    let compose = yaml(&deploy().join("docker-compose.yml"));
    let services = compose["services"].as_mapping().unwrap();
    for s in ["loki", "grafana", "otel-collector", "prometheus", "wasmhost"] {
        assert!(services.contains_key(s), "service {s}");
    }
    let args: Vec<&str> = compose["services"]["wasmhost"]["command"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let after = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(after("--loki"), "http://loki:3100");
    assert_eq!(after("--otlp"), "http://otel-collector:4317");
    assert_eq!(after("--label"), "job=gateway");
    let collector = yaml(&deploy().join("otel-collector/config.yaml"));
    assert_eq!(collector["exporters"]["otlphttp/loki"]["endpoint"], "http://loki:3100/otlp");
    let prom = yaml(&deploy().join("prometheus/prometheus.yml"));
    let port = after("--metrics-addr").rsplit(':').next().unwrap();
    assert_eq!(prom["scrape_configs"][0]["static_configs"][0]["targets"][0], format!("wasmhost:{port}").as_str());
    let ds = yaml(&deploy().join("grafana/provisioning/datasources/datasources.yaml"));
    let uids: Vec<&str> = ds["datasources"].as_sequence().unwrap().iter().map(|d| d["uid"].as_str().unwrap()).collect();
    assert_eq!(uids, ["loki", "prometheus"]);
}

#[test]
fn dashboard_queries_parse_and_name_real_metrics() {
    let text = std::fs::read_to_string(deploy().join("grafana/dashboards/wasmhost.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let exported = exported_metrics();
    let mut logql = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            match target["datasource"]["type"].as_str().unwrap() {
                "loki" => {
                    wasmhost_logql::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
                    logql.push(expr.to_owned());
                }
                "prometheus" => {
                    for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("wasmhost_")) {
                        let family = word.trim_end_matches("_total").trim_end_matches("_bucket");
                        assert!(exported.contains(&format!("# TYPE {family} ")), "{word} in {expr} is not a wasmhost metric");
                    }
                }
                other => panic!("unknown datasource {other}"),
            }
        }
    }
    for headline in [
        r#"{job="gateway"} | json | lang="rust""#,
        r#"sum by (lang, task_id) (count_over_time({job="gateway"} | json | __error__="" [5m]))"#,
    ] {
        assert!(logql.iter().any(|q| q == headline), "the dashboard has {headline}");
    }
}
