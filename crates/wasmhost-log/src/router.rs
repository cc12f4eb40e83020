//! Routes: which sinks a record goes to, decided by LogQL log queries over
//! the record's own fields (its selector sees every field, as the record's
//! JSON line has them; line filters see `msg`), compiled once. A route may
//! use any log-pipeline stage; metric queries are refused.

use wasmhost_logql::{parse, LogQuery, ParseError, Query};

use crate::record::LogRecord;

/// One route: a query and the sinks (by index) that get what it matches.
#[derive(Debug, Clone)]
pub struct Route {
    query: LogQuery,
    sinks: Vec<usize>,
    continue_matching: bool,
}

/// A route that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The query does not parse.
    #[error("route {query:?}: {error}")]
    Parse {
        /// The query.
        query: String,
        /// Why.
        error: ParseError,
    },
    /// A metric query.
    #[error("route {query:?}: {reason}")]
    NotRoutable {
        /// The query.
        query: String,
        /// Why.
        reason: String,
    },
}

/// Routes in order, and where unmatched records go.
///
/// ```
/// use std::sync::Arc;
/// use wasmhost_log::{InstanceContext, Level, LogRecord, Router};
/// let router = Router::new(vec![0])
///     .route(r#"{lang="rust", stream="host"}"#, vec![1], false).unwrap()
///     .route(r#"{level="error"}"#, vec![2], false).unwrap();
/// let ctx = Arc::new(InstanceContext::new("id", "rust", "m"));
/// let rec = LogRecord::event(ctx, 1, Level::Info, "instance.start", "start".into(), vec![]);
/// let mut dests = Vec::new();
/// router.destinations(&rec, &mut dests);
/// assert_eq!(dests, [1]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
    default_sinks: Vec<usize>,
    taps: Vec<usize>,
}

impl Router {
    /// A router without routes: everything goes to `default_sinks`.
    pub fn new(default_sinks: Vec<usize>) -> Router {
        Router { routes: Vec::new(), default_sinks, taps: Vec::new() }
    }

    /// Sends every record to `sink` too, whatever the routes say: for sinks
    /// that must see all lines (metrics, `wasmhost run --loki`/`--otlp`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wasmhost_log::{InstanceContext, Level, LogRecord, Router};
    /// let router = Router::new(vec![0]).route(r#"{lang="c"}"#, vec![1], false).unwrap().tap(2);
    /// let rec = LogRecord::event(Arc::new(InstanceContext::new("id", "c", "m")), 1, Level::Info, "instance.start", "s".into(), vec![]);
    /// let mut dests = Vec::new();
    /// router.destinations(&rec, &mut dests);
    /// assert_eq!(dests, [1, 2]);
    /// ```
    pub fn tap(mut self, sink: usize) -> Router {
        self.taps.push(sink);
        self
    }

    /// Adds a route: records matching `query` go to `sinks`; matching stops
    /// at this route unless `continue_matching` (all-matches routing).
    pub fn route(mut self, query: &str, sinks: Vec<usize>, continue_matching: bool) -> Result<Router, RouteError> {
        let parsed = parse(query).map_err(|error| RouteError::Parse { query: query.into(), error })?;
        let Query::Log(log) = parsed else {
            return Err(RouteError::NotRoutable { query: query.into(), reason: "a route is a log query, not a metric".into() });
        };
        self.routes.push(Route { query: log, sinks, continue_matching });
        Ok(self)
    }

    /// The sinks `record` goes to, each once, into `out` (cleared first).
    /// Line filters of a route see the record's `msg`.
    pub fn destinations(&self, record: &LogRecord, out: &mut Vec<usize>) {
        out.clear();
        self.match_routes(record, out);
        for &s in &self.taps {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }

    fn match_routes(&self, record: &LogRecord, out: &mut Vec<usize>) {
        let mut matched = false;
        for route in &self.routes {
            if route.query.matches_record(record, &record.msg) {
                matched = true;
                for &s in &route.sinks {
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
                if !route.continue_matching {
                    return;
                }
            }
        }
        if !matched {
            out.extend_from_slice(&self.default_sinks);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{InstanceContext, Line, Stream};

    fn record(msg: &str) -> LogRecord {
        let ctx = Arc::new(InstanceContext::new("id", "go", "api"));
        LogRecord::line(ctx, Stream::Stderr, 1, Line { bytes: msg.as_bytes(), continued: false })
    }

    /// A route may use any log-pipeline stage: here `| json` over a guest's
    /// JSON stderr line, a numeric filter, and `label_format`.
    #[test]
    fn routes_run_whole_pipelines_on_the_message() {
        let router = Router::new(vec![0])
            .route(r#"{lang="go"} | json | __error__="" | status >= 500"#, vec![1], false)
            .unwrap()
            .route(r#"{lang="go"} | label_format who="{{.module}}/{{.stream}}" | who="api/stderr" |= "slow""#, vec![2], false)
            .unwrap();
        let mut dests = Vec::new();
        router.destinations(&record(r#"{"status":503,"path":"/x"}"#), &mut dests);
        assert_eq!(dests, [1]);
        router.destinations(&record(r#"{"status":200,"path":"/x"}"#), &mut dests);
        assert_eq!(dests, [0]);
        router.destinations(&record("slow request"), &mut dests);
        assert_eq!(dests, [2]);
    }

    /// Issue #18 item 7: a deeply nested route is a clear error, not a stack overflow.
    #[test]
    fn deep_routes_are_errors() {
        let deep = format!(r#"{{lang="go"}} | {}a="1"{}"#, "(".repeat(20_000), ")".repeat(20_000));
        let err = Router::new(vec![0]).route(&deep, vec![1], false).unwrap_err();
        assert!(err.to_string().contains("nested deeper than 256 levels"), "{err}");
        let metric = Router::new(vec![0]).route(r#"count_over_time({lang="go"}[5m])"#, vec![1], false).unwrap_err();
        assert!(matches!(metric, RouteError::NotRoutable { .. }));
    }
}
