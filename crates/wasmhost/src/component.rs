//! WASI 0.2 components: the component linker (`wasmtime_wasi::p2` and
//! `wasi:logging`), linking a `wasi:cli/command` component once, and calling
//! its `wasi:cli/run` export in an instance's store.
//!
//! A component runs in the same [`InstanceState`] as a core module: the same
//! WASI context (so its stdout/stderr reach the same captured streams and
//! line splitter), limiter, fuel and epoch deadline, UUIDv7 and log. Only the
//! linker and the entry point differ.

use wasmhost_log::{import_record, lock, Level};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::Store;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{I32Exit, WasiCtxView, WasiView};

use crate::error::{one_line, RunError};
use crate::instance::InstanceState;

/// The interface a command component exports: `wasmhost run` calls its `run`.
pub(crate) const RUN_INTERFACE: &str = "wasi:cli/run";

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.ctx()
    }
}

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/logging.wit",
        world: "wasi:logging/imports",
        imports: { default: trappable },
    });
}

use bindings::wasi::logging::logging;

/// The record's `lifted` value: which API the guest's record came through.
const LOGGING_FORMAT: &str = "wasi_logging";

/// `wasi:logging/logging.log`: one record on the instance's log, at the
/// call's level (`critical` is `error`, the most severe level lines have),
/// with `context` as a field when the guest gave one.
impl logging::Host for InstanceState {
    fn log(&mut self, level: logging::Level, context: String, message: String) -> wasmtime::Result<()> {
        let max = self.guest_log_max;
        if message.len() + context.len() > max {
            return Err(wasmtime::Error::msg(format!(
                "wasi:logging/logging.log: the message and context are {} bytes, more than the {max}-byte line limit",
                message.len() + context.len()
            )));
        }
        let level = match level {
            logging::Level::Trace => Level::Trace,
            logging::Level::Debug => Level::Debug,
            logging::Level::Info => Level::Info,
            logging::Level::Warn => Level::Warn,
            logging::Level::Error | logging::Level::Critical => Level::Error,
        };
        let mut log = lock(&self.limiter.log);
        let mut record = import_record(&self.lift, log.context(), level, message.as_bytes(), &[]);
        if let Some(lifted) = record.lifted.as_mut() {
            lifted.format = LOGGING_FORMAT;
        }
        if !context.is_empty() {
            record.fields.push(("context", context.into()));
        }
        log.guest_record(record);
        Ok(())
    }
}

/// The component linker every component is linked with: WASI 0.2 as
/// `wasmtime_wasi::p2` provides it, and `wasi:logging`. Sockets are linked
/// but reach nothing: the WASI context allows no address (the sandbox
/// `wasmtime run` keeps without `-S inherit-network`).
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    logging::add_to_linker::<InstanceState, HasSelf<InstanceState>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// The packages [`linker`] provides interfaces of.
const PROVIDED: [&str; 7] = ["wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:filesystem/", "wasi:random/", "wasi:sockets/", "wasi:logging/"];

/// Imports linked as functions that trap when called, when they are the only
/// ones the host lacks: componentize-js's engine (StarlingMonkey) imports
/// `wasi:http` for `fetch` even when built with `--disable http`, and most
/// JavaScript guests never call it.
const TRAPPED: &str = "wasi:http/";

/// Links a compiled component as a `wasi:cli/command`. `imports` are the
/// component's import names. An import the host does not provide, or a
/// component that does not export `wasi:cli/run`, is an error naming it;
/// except that `wasi:http` imports, when they are all that is missing, are
/// linked as traps (what `wasmtime run -W unknown-imports-trap=y` does for
/// every unknown import).
pub(crate) fn link(linker: &Linker<InstanceState>, component: &Component, imports: &[String]) -> Result<CommandPre<InstanceState>, String> {
    let unprovided = || imports.iter().filter(|name| !PROVIDED.iter().any(|p| name.starts_with(p)));
    let pre = match linker.instantiate_pre(component) {
        Ok(pre) => pre,
        Err(e) if unprovided().next().is_none() || !unprovided().all(|name| name.starts_with(TRAPPED)) => return Err(one_line(&e)),
        Err(_) => {
            let mut linker = linker.clone();
            trap_imports(&mut linker, component).map_err(|e| one_line(&e))?;
            linker.instantiate_pre(component).map_err(|e| one_line(&e))?
        }
    };
    CommandPre::new(pre).map_err(|e| format!("not a {RUN_INTERFACE} command: {}", one_line(&e)))
}

/// Links the component's [`TRAPPED`] imports as functions that trap when
/// called, and their resources as empty host resources. (wasmtime's
/// `define_unknown_imports_as_traps` would also shadow the older-versioned
/// `wasi:io` the same component imports, which the linker does provide.)
fn trap_imports(linker: &mut Linker<InstanceState>, component: &Component) -> wasmtime::Result<()> {
    use wasmtime::component::types::ComponentItem;
    let engine = component.engine();
    // Resources the trapped interfaces only re-export (`wasi:io`'s streams):
    // the linker's own.
    let provided: Vec<wasmtime::component::ResourceType> = component
        .component_type()
        .imports(engine)
        .filter(|(name, _)| !name.starts_with(TRAPPED))
        .filter_map(|(_, item)| match item.ty {
            ComponentItem::ComponentInstance(instance) => Some(instance),
            _ => None,
        })
        .flat_map(|instance| {
            instance
                .exports(engine)
                .filter_map(|(_, item)| match item.ty {
                    ComponentItem::Resource(ty) => Some(ty),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for (name, item) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else { continue };
        if !name.starts_with(TRAPPED) {
            continue;
        }
        let mut stub = linker.instance(name)?;
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let called = format!("{name}#{export}");
                    stub.func_new(export, move |_, _, _, _| {
                        Err(wasmtime::Error::msg(format!("{called} is not provided by wasmhost (no wasi:http)")))
                    })?;
                }
                ComponentItem::Resource(ty) if !provided.contains(&ty) => {
                    stub.resource(export, wasmtime::component::ResourceType::host::<()>(), |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Instantiates the command and calls its `run`. The outer error is a
/// failed instantiation; the inner one is how the guest's call ended: `run`
/// returning its error is exit code 1, as under `wasmtime run`.
pub(crate) async fn run_command(
    pre: &CommandPre<InstanceState>,
    store: &mut Store<InstanceState>,
) -> Result<wasmtime::Result<()>, RunError> {
    let command = pre.instantiate_async(&mut *store).await.map_err(|e| RunError::Instantiate(one_line(&e)))?;
    Ok(match command.wasi_cli_run().call_run(&mut *store).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(())) => Err(I32Exit(1).into()),
        Err(e) => Err(e),
    })
}
