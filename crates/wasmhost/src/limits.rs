//! Per-instance limits and what happens when one is hit: the guest is
//! stopped (time, fuel) or refused (memory, table), a host event says so with
//! the figures, and the outcome tells the embedder which limit it was.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmhost_log::{lock, FieldValue, InstanceLog, Level};

/// Limits for one instance. `Limits::default()` sets none.
///
/// ```
/// use std::time::Duration;
/// let limits = wasmhost::Limits { timeout: Some(Duration::from_secs(2)), fuel: Some(10_000_000), ..Default::default() };
/// assert!(limits.max_memory.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) the instance may burn. Needs a host
    /// built with [`HostConfig::fuel`](crate::HostConfig::fuel).
    pub fuel: Option<u64>,
    /// Wall-clock time from instantiation. A guest running wasm is stopped by
    /// epoch interruption (no thread per guest, granularity
    /// [`EPOCH_TICK`](crate::EPOCH_TICK)); a guest blocked in a host call (a
    /// sleep, a stdin read) by a tokio timer, which needs a runtime with time
    /// enabled (`enable_time`, or `enable_all`).
    pub timeout: Option<Duration>,
    /// Bytes each linear memory may grow to.
    pub max_memory: Option<usize>,
    /// Elements each table may grow to.
    pub max_table_elements: Option<usize>,
}

/// A limit an instance ran into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitHit {
    /// The instance ran longer than its timeout and was stopped.
    Timeout {
        /// The limit.
        limit: Duration,
    },
    /// The instance burned all its fuel and was stopped.
    OutOfFuel {
        /// The fuel it was given.
        limit: u64,
    },
    /// A linear memory was refused growth (the guest saw `memory.grow` fail).
    Memory {
        /// Bytes the memory would have had.
        requested: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A table was refused growth.
    Table {
        /// Elements the table would have had.
        requested: usize,
        /// The limit.
        limit: usize,
    },
}

/// wasmtime's resource limiter for one store: refuses growth beyond the
/// limits and logs each refusal on the instance's stream as it happens.
pub(crate) struct Limiter {
    pub(crate) max_memory: Option<usize>,
    pub(crate) max_table_elements: Option<usize>,
    pub(crate) log: Arc<Mutex<InstanceLog>>,
    pub(crate) hits: Vec<LimitHit>,
}

impl Limiter {
    fn refuse(&mut self, hit: LimitHit, current: usize) {
        let (event, what, requested, limit) = match &hit {
            LimitHit::Memory { requested, limit } => ("instance.memory_limit", "memory", *requested, *limit),
            LimitHit::Table { requested, limit } => ("instance.table_limit", "table", *requested, *limit),
            _ => return,
        };
        // One event and one record per kind and instance: a guest retrying in
        // a loop must not flood the log, nor grow this list.
        if self.hits.iter().any(|h| std::mem::discriminant(h) == std::mem::discriminant(&hit)) {
            return;
        }
        {
            lock(&self.log).event(
                Level::Warn,
                event,
                format!("{what} growth to {requested} refused: the limit is {limit}"),
                vec![
                    ("requested", FieldValue::U64(requested as u64)),
                    ("limit", FieldValue::U64(limit as u64)),
                    ("current", FieldValue::U64(current as u64)),
                ],
            );
        }
        self.hits.push(hit);
    }
}

impl Limiter {
    /// Whether growth to `desired` is allowed under `limit`; a refusal is
    /// recorded as the hit `make_hit` builds.
    fn allow(&mut self, limit: Option<usize>, current: usize, desired: usize, make_hit: fn(usize, usize) -> LimitHit) -> bool {
        match limit {
            Some(limit) if desired > limit => {
                self.refuse(make_hit(desired, limit), current);
                false
            }
            _ => true,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(self.allow(self.max_memory, current, desired, |requested, limit| LimitHit::Memory { requested, limit }))
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(self.allow(self.max_table_elements, current, desired, |requested, limit| LimitHit::Table { requested, limit }))
    }
}
