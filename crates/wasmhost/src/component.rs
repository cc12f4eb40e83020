//! WASI 0.2 components: the component linker (`wasmtime_wasi::p2` and
//! `wasi:logging`), linking a component once, and in an instance's store
//! either calling a `wasi:cli/command`'s `wasi:cli/run` or, for `--invoke`,
//! any exported function with WAVE-encoded arguments (as `wasmtime run` 48).
//!
//! A component runs in the same [`InstanceState`] as a core module: the same
//! WASI context (so its stdout/stderr reach the same captured streams and
//! line splitter), limiter, fuel and epoch deadline, UUIDv7 and log. Only the
//! linker and the entry point differ.

use wasmhost_log::{import_record, lock, Level};
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::wasm_wave::wasm::{DisplayFuncResults, WasmFunc};
use wasmtime::component::wit_parser::ItemName;
use wasmtime::component::{Component, ComponentExportIndex, HasSelf, InstancePre, Linker, Val};
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

/// A linked component: any component can be instantiated and have its
/// exported functions called (`--invoke`); a `wasi:cli/command` also runs.
#[derive(Clone)]
pub(crate) struct LinkedComponent {
    pre: InstancePre<InstanceState>,
    /// Its `wasi:cli/run`, or why it has none (said only when a run needs it).
    command: Result<CommandPre<InstanceState>, String>,
}

/// Links a compiled component. `imports` are the component's import names.
/// An import the host does not provide is an error naming it; except that
/// `wasi:http` imports, when they are all that is missing, are linked as
/// traps (what `wasmtime run -W unknown-imports-trap=y` does for every
/// unknown import). A component that is no `wasi:cli/command` links too: it
/// can still be called with `--invoke`.
pub(crate) fn link(linker: &Linker<InstanceState>, component: &Component, imports: &[String]) -> Result<LinkedComponent, String> {
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
    let command = CommandPre::new(pre.clone()).map_err(|e| one_line(&e));
    Ok(LinkedComponent { pre, command })
}

/// A function named by `--invoke`, found among the component's exports,
/// with its WAVE-encoded arguments parsed into its parameter types.
pub(crate) struct Call {
    export: ComponentExportIndex,
    params: Vec<Val>,
    results: usize,
}

impl LinkedComponent {
    /// Its `wasi:cli/run`; a component without one can only be invoked.
    pub(crate) fn command(&self) -> Result<&CommandPre<InstanceState>, RunError> {
        self.command.as_ref().map_err(|_| RunError::NoEntry { name: RUN_INTERFACE.into(), exports: self.functions_list() })
    }

    /// Parses `--invoke NAME(ARGS)` as `wasmtime run` 48 does for components:
    /// a WAVE function call whose name is a WIT item name
    /// (`wasmhost:guest/math.add-points`, `wasi:cli/run.run@0.2.12`) or a
    /// bare function name, looked for among the component's own functions,
    /// then in every exported instance (it must be unambiguous there).
    pub(crate) fn call(&self, invoke: &str) -> Result<Call, RunError> {
        let bad = |reason: String| RunError::InvokeArgs { name: invoke.to_owned(), reason };
        let call = UntypedFuncCall::parse(invoke).map_err(|e| bad(format!("not a WAVE function call such as `add(1, 2)`: {e}")))?;
        let name: ItemName = call.item_name().map_err(|e| bad(format!("`{}` is not a WIT function name: {e}", call.name())))?;
        let (export, func) = self.find(&name)?;
        let types: Vec<_> = WasmFunc::params(&func).collect();
        let params = call.to_wasm_params::<Val>(&types).map_err(|e| bad(e.to_string()))?;
        let results = func.results().len();
        Ok(Call { export, params, results })
    }

    /// The exported function `name` names.
    fn find(&self, name: &ItemName) -> Result<(ComponentExportIndex, ComponentFunc), RunError> {
        let component = self.pre.component();
        if let Some((ComponentItem::ComponentFunc(func), export)) = component.get_export(None, name.clone()) {
            return Ok((export, func));
        }
        // A bare name may be a function of an exported instance.
        let bare = name.package.is_none() && name.interface.is_none();
        let candidates: Vec<(String, String, ComponentFunc)> = match bare {
            true => self.instance_functions().into_iter().filter(|(_, function, _)| *function == name.name).collect(),
            false => Vec::new(),
        };
        match candidates.as_slice() {
            [(instance, function, func)] => {
                let export = component
                    .get_export_index(None, instance.as_str())
                    .and_then(|instance| component.get_export_index(Some(&instance), function.as_str()))
                    .ok_or_else(|| RunError::Instantiate(format!("{} is listed but cannot be found", item_name(instance, function))))?;
                Ok((export, func.clone()))
            }
            [] => Err(RunError::NoEntry { name: name.to_string(), exports: self.functions_list() }),
            several => Err(RunError::InvokeArgs {
                name: name.to_string(),
                reason: format!(
                    "several exported instances have a function `{name}`: name one of {}",
                    several.iter().map(|(instance, function, _)| format!("`{}`", item_name(instance, function))).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }

    /// The functions exported by instances: (instance, function, type).
    fn instance_functions(&self) -> Vec<(String, String, ComponentFunc)> {
        let component = self.pre.component();
        let engine = component.engine();
        component
            .component_type()
            .exports(engine)
            .filter_map(|(instance, item)| match item.ty {
                ComponentItem::ComponentInstance(ty) => Some((instance.to_owned(), ty)),
                _ => None,
            })
            .flat_map(|(instance, ty)| {
                ty.exports(engine)
                    .filter_map(|(function, item)| match item.ty {
                        ComponentItem::ComponentFunc(func) => Some((instance.clone(), function.to_owned(), func)),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every function `--invoke` can call, as WIT item names, for a message.
    fn functions_list(&self) -> String {
        let names = self.functions();
        if names.is_empty() {
            return "none".into();
        }
        names.join(", ")
    }

    /// Every function `--invoke` can call, as WIT item names.
    fn functions(&self) -> Vec<String> {
        let component = self.pre.component();
        let engine = component.engine();
        let ty = component.component_type();
        let mut names: Vec<String> = ty
            .exports(engine)
            .filter_map(|(name, item)| match item.ty {
                ComponentItem::ComponentFunc(_) => Some(name.to_owned()),
                _ => None,
            })
            .collect();
        names.extend(self.instance_functions().iter().map(|(instance, function, _)| item_name(instance, function)));
        names
    }

    /// Instantiates the component and makes the call. The outer error is a
    /// failed instantiation; the inner one is how the call ended. Its results
    /// come back WAVE-encoded on one line, as `wasmtime run --invoke` prints
    /// them (one value, or a parenthesised list; `()` when there are none).
    pub(crate) async fn call_async(&self, call: &Call, store: &mut Store<InstanceState>) -> Result<wasmtime::Result<String>, RunError> {
        let instance = self.pre.instantiate_async(&mut *store).await.map_err(|e| RunError::Instantiate(one_line(&e)))?;
        let func = instance
            .get_func(&mut *store, call.export)
            .ok_or_else(|| RunError::Instantiate("the invoked export is not a function".into()))?;
        let mut results = vec![Val::Bool(false); call.results];
        Ok(func.call_async(&mut *store, &call.params, &mut results).await.map(|()| DisplayFuncResults(&results).to_string()))
    }
}

/// A function of an exported instance as a WIT item name: the version, if
/// any, goes last (`wasi:cli/run.run@0.2.12`), as wasmtime writes them.
fn item_name(instance: &str, function: &str) -> String {
    match instance.split_once('@') {
        Some((interface, version)) => format!("{interface}.{function}@{version}"),
        None => format!("{instance}.{function}"),
    }
}

/// Links the component's [`TRAPPED`] imports as functions that trap when
/// called, and their resources as empty host resources. (wasmtime's
/// `define_unknown_imports_as_traps` would also shadow the older-versioned
/// `wasi:io` the same component imports, which the linker does provide.)
fn trap_imports(linker: &mut Linker<InstanceState>, component: &Component) -> wasmtime::Result<()> {
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
