//! Properties of the parser: it never panics, on any text, and printing a
//! parsed query gives text that parses to the same query.

use proptest::prelude::*;
use wasmhost_logql::parse;

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["job", "lang", "level", "a_b", "x1", "status", "__error__"]).prop_map(String::from)
}

fn string() -> impl Strategy<Value = String> {
    // Quotes, escapes and non-ASCII text must survive printing.
    "[a-z0-9 .*+?\\\\\"é\n\t|()-]{0,8}".prop_map(|s| wasmhost_logql::quote(&s))
}

fn regex() -> impl Strategy<Value = String> {
    prop::sample::select(vec![".+", "a|b", "\\\\d+", "[a-z]*x", "(?i)err", "\\\\w\\\\s"]).prop_map(|s| format!("\"{s}\""))
}

fn label_filter() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (name(), prop::sample::select(vec!["=", "!="]), string()).prop_map(|(n, o, v)| format!("{n}{o}{v}")),
        (name(), prop::sample::select(vec!["=~", "!~"]), regex()).prop_map(|(n, o, v)| format!("{n}{o}{v}")),
        (name(), prop::sample::select(vec![">", ">=", "<", "<=", "==", "!="]), prop::sample::select(vec!["1", "2.5", "-3", "10s", "1h30m", "250ms", "20MB", "1KiB"]))
            .prop_map(|(n, o, v)| format!("{n} {o} {v}")),
        (name(), prop::sample::select(vec!["10.0.0.0/8", "::1", "1.2.3.4-1.2.3.9"])).prop_map(|(n, v)| format!("{n} = ip(\"{v}\")")),
    ];
    leaf.prop_recursive(4, 16, 2, |inner| {
        (inner.clone(), prop::sample::select(vec![" and ", " or ", ", ", " "]), inner.clone()).prop_map(|(a, op, b)| format!("({a}{op}{b})"))
    })
}

fn stage() -> impl Strategy<Value = String> {
    prop_oneof![
        (prop::sample::select(vec!["|=", "!=", "|~", "!~"]), regex()).prop_map(|(o, v)| format!("{o} {v}")),
        (string(), string()).prop_map(|(a, b)| format!("|= {a} or {b}")),
        Just("|> \"<_> x <_>\"".to_string()),
        Just("| json".to_string()),
        Just("| json a=\"b.c[0]\", d".to_string()),
        Just("| logfmt --strict x, y=\"z\"".to_string()),
        Just("| regexp \"(?P<m>\\\\w+)\"".to_string()),
        Just("| pattern \"<a> <_> <b>\"".to_string()),
        Just("| unpack".to_string()),
        Just("| decolorize".to_string()),
        Just("| line_format \"{{.a | ToUpper}} {{ if .b }}y{{ end }}\"".to_string()),
        Just("| label_format a=b, c=\"{{.d}}\"".to_string()),
        Just("| drop a, b=\"1\"".to_string()),
        Just("| keep a, b!~\"x.*\"".to_string()),
        (name(), name()).prop_map(|(a, b)| format!("| distinct {a}, {b}")),
        (prop::sample::select(vec!["|=", "!="]), prop::sample::select(vec!["10.0.0.0/8", "::1", "1.2.3.4-1.2.3.9"])).prop_map(|(o, v)| format!("{o} ip(\"{v}\")")),
        Just("| line_format \"{{ __timestamp__ | date \\\"2006-01-02\\\" }} {{ toDate \\\"2006\\\" .a | unixEpoch }}\"".to_string()),
        label_filter().prop_map(|f| format!("| {f}")),
    ]
}

fn log_query() -> impl Strategy<Value = String> {
    (name(), string(), prop::collection::vec(stage(), 0..4)).prop_map(|(n, v, stages)| {
        let v = if v == "\"\"" { "\"x\"".into() } else { v };
        format!("{{{n}={v}}} {}", stages.join(" "))
    })
}

fn metric() -> impl Strategy<Value = String> {
    let range = prop_oneof![
        (prop::sample::select(vec!["count_over_time", "rate", "bytes_over_time", "bytes_rate", "absent_over_time"]), log_query())
            .prop_map(|(f, q)| format!("{f}({q} [5m])")),
        (prop::sample::select(vec!["sum_over_time", "avg_over_time", "max_over_time", "rate_counter", "last_over_time"]), log_query())
            .prop_map(|(f, q)| format!("{f}({q} | unwrap duration(x) | __error__=\"\" [1h] offset 5m)")),
        log_query().prop_map(|q| format!("quantile_over_time(0.9, {q} | unwrap x [1m]) by (a)")),
        Just("vector(1)".to_string()),
        Just("2.5".to_string()),
    ];
    range.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (prop::sample::select(vec!["sum", "avg", "count", "max", "stddev", "sort"]), inner.clone()).prop_map(|(f, e)| format!("{f}({e})")),
            (prop::sample::select(vec!["sum by (a, b)", "min without (c)", "topk(3,", "bottomk by (a) (2,"]), inner.clone())
                .prop_map(|(f, e)| if f.ends_with(',') { format!("{f} {e})") } else { format!("{f} ({e})") }),
            (inner.clone(), prop::sample::select(vec!["+", "-", "*", "/", "%", "^", "==", "> bool", "and", "or on (a)", "unless ignoring (b)", "/ on (a) group_left (c)"]), inner.clone())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.prop_map(|e| format!("label_replace({e}, \"dst\", \"$1\", \"src\", \"(.*)\")")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_an_answer_never_a_panic(text in "\\PC{0,64}") {
        let _ = parse(&text);
    }

    #[test]
    fn logql_shaped_text_is_an_answer_never_a_panic(text in "[{}()\\[\\]|=~!<>,\"` a-z0-9_.#\\-+*/%^]{0,64}") {
        let _ = parse(&text);
    }

    #[test]
    fn log_queries_print_back(q in log_query()) {
        if let Ok(parsed) = parse(&q) {
            let printed = parsed.to_string();
            let again = parse(&printed);
            prop_assert_eq!(again.as_ref(), Ok(&parsed), "{} printed as {}", q, printed);
        }
    }

    #[test]
    fn metric_queries_print_back(q in metric()) {
        if let Ok(parsed) = parse(&q) {
            let printed = parsed.to_string();
            let again = parse(&printed);
            prop_assert_eq!(again.as_ref(), Ok(&parsed), "{} printed as {}", q, printed);
        }
    }
}

/// The generators make mostly valid queries, so the round-trip properties test something.
#[test]
fn generated_queries_mostly_parse() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for (what, strategy) in [("log", log_query().boxed()), ("metric", metric().boxed())] {
        let mut ok = 0;
        let mut last_err = String::new();
        for _ in 0..200 {
            let q = strategy.new_tree(&mut runner).unwrap().current();
            match parse(&q) {
                Ok(_) => ok += 1,
                Err(e) => last_err = format!("{q}: {e}"),
            }
        }
        assert!(ok >= 150, "{what}: only {ok} of 200 parse; e.g. {last_err}");
    }
}
