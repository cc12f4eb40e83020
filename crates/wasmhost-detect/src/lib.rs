//! Tells which source language a WebAssembly module was written in, with the
//! evidence, without compiling or running it.
//!
//! This crate is pure (no wasmtime): it reads the binary with `wasmparser`
//! and never fails or panics, whatever the bytes — a malformed section is
//! evidence of nothing. See [`detect`] for the rules and [`resolve`] for how
//! an explicit choice and the `MODULE_TYPE` environment variable combine
//! with what was detected.
//!
//! ```
//! use wasmhost_detect::{detect, resolve, Lang, Origin};
//! let detection = detect(b"\0asm\x01\0\0\0");
//! assert_eq!(detection.lang, Lang::Unknown);
//! let chosen = resolve(&detection, None, Some(Lang::Zig));
//! assert_eq!((chosen.lang, chosen.origin), (Lang::Zig, Origin::Environment));
//! ```

#![warn(missing_docs)]

mod component;
mod detect;
mod dwarf;
mod facts;
mod lang;
mod names;
mod toolchain;

pub use detect::{
    detect_facts, Detection, Evidence, LangShare, Tier, Toolchain, DECISIVE, STRONG_HINT, UNKNOWN_BELOW, WEAK_HINT_MAX,
};
pub use facts::{MAX_INNER_MODULES, BinaryKind, ExportFact, GlobalFact, ImportFact, ModuleFacts, ProducerValue, ProducersField};
pub use lang::{Lang, UnknownLang};

/// Identifies the detection rules of this build: the crate's version and a
/// fingerprint of its source. A detection stored for later (beside a
/// compile-cache entry) is only reused by a build with the same `RULES`.
///
/// ```
/// assert!(wasmhost_detect::RULES.starts_with(env!("CARGO_PKG_VERSION")));
/// ```
pub const RULES: &str = env!("WASMHOST_DETECT_RULES");

/// Reads `bytes` and detects its language. Never fails; see [`detect_facts`].
pub fn detect(bytes: &[u8]) -> Detection {
    detect_facts(&ModuleFacts::read(bytes))
}

/// Where the language that is used came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Given explicitly (`--lang`, or the embedder).
    Override,
    /// Detected from the module.
    Detected,
    /// From `MODULE_TYPE` in the host's environment.
    Environment,
}

impl Origin {
    /// `override`, `detected` or `environment`, as in the `lang_source` field.
    ///
    /// ```
    /// assert_eq!(wasmhost_detect::Origin::Environment.as_str(), "environment");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Override => "override",
            Origin::Detected => "detected",
            Origin::Environment => "environment",
        }
    }
}

/// The language to tag an instance with, and why.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Resolved {
    /// The language.
    pub lang: Lang,
    /// 1.0 for an override; the detection's confidence otherwise; 0.5 for
    /// the environment.
    pub confidence: f64,
    /// Where it came from.
    pub origin: Origin,
}

/// Combines an explicit choice, the detection and `MODULE_TYPE`, in this
/// order of trust: explicit > detection from sections or names > the
/// environment > detection from shape alone > unknown. Shape evidence is a
/// guess an operator's `MODULE_TYPE` should be able to correct; sections and
/// names are the toolchain's own word and are not overridden by it.
///
/// ```
/// use wasmhost_detect::{resolve, Detection, Lang, Origin};
/// let unknown = Detection::unknown();
/// assert_eq!(resolve(&unknown, Some(Lang::Go), Some(Lang::Zig)).origin, Origin::Override);
/// assert_eq!(resolve(&unknown, None, None).lang, Lang::Unknown);
/// ```
pub fn resolve(detection: &Detection, explicit: Option<Lang>, module_type: Option<Lang>) -> Resolved {
    if let Some(lang) = explicit {
        return Resolved { lang, confidence: 1.0, origin: Origin::Override };
    }
    let strong = detection.tier.is_some_and(|t| t >= Tier::Names);
    match module_type {
        Some(lang) if !strong => Resolved { lang, confidence: 0.5, origin: Origin::Environment },
        _ => Resolved { lang: detection.lang, confidence: detection.confidence, origin: Origin::Detected },
    }
}
