//! One module per subcommand, plus what they share.

pub mod inspect;
pub mod run;

use anyhow::Context;
use wasmhost::{Lang, LoadOptions};

/// Language options shared by `run` and `inspect`: `--lang`, and the
/// `MODULE_TYPE` fall-back from the environment.
pub fn load_options(lang: Option<Lang>) -> anyhow::Result<LoadOptions> {
    let module_type = match std::env::var("MODULE_TYPE") {
        Ok(v) if !v.trim().is_empty() => Some(
            v.parse::<Lang>().with_context(|| format!("MODULE_TYPE={v:?} in the environment"))?,
        ),
        _ => None,
    };
    Ok(LoadOptions { lang, module_type })
}
