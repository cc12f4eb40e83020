//! Routes: which sinks a record goes to, decided by LogQL stream selectors
//! with optional line and label filters over the record's own fields,
//! compiled once.

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
    /// A metric query, `| json` or `| line_format`.
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
        log.check_routable().map_err(|reason| RouteError::NotRoutable { query: query.into(), reason })?;
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
