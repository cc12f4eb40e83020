//! Components: the component's own producers first, then each embedded
//! core module detected on its own, its evidence naming which module spoke.
//!
//! componentize-js writes `JavaScript` into the component's producers;
//! componentize-py embeds `libpython3.x.so` and `componentize_py_runtime.wasm`. Otherwise the verdict is that of
//! the module with the most code, leaving out the preview1 adapter (which is
//! evidence of nothing: every component made from a preview1 module has
//! one) and the shared libraries of the toolchain (`libc.so`, `libc++*.so`).

use crate::detect::{detect_facts, Detection, Evidence, LangShare, Tier, Toolchain};
use crate::facts::ModuleFacts;
use crate::lang::Lang;

/// Shared libraries a toolchain links into every component of a language:
/// their code is nobody's program.
fn toolchain_library(name: &str) -> bool {
    ["libc.so", "libc++", "libwasi-emulated", "libdl.so", "libm.so"].iter().any(|p| name.starts_with(p))
}

fn is_adapter(m: &ModuleFacts<'_>) -> bool {
    m.imports.iter().any(|i| i.module == "__main_module__")
        || m.module_name.as_deref().is_some_and(|n| n.contains("wasi_snapshot_preview1"))
}

pub(crate) fn detect_component(f: &ModuleFacts<'_>) -> Detection {
    let mut evidence = Vec::new();
    let mut toolchain: Option<Toolchain> = None;
    for field in &f.component_producers {
        for v in &field.values {
            let lower = v.name.to_ascii_lowercase();
            let detail = format!("component producers {}: {} {}", field.name, v.name, v.version);
            let (lang, tool) = match (field.name.as_str(), lower.as_str()) {
                ("language", "javascript") => (Lang::Javascript, None),
                ("language", "python") => (Lang::Python, None),
                ("processed-by", n) if n.contains("componentizejs") => (Lang::Javascript, Some("componentize-js")),
                ("processed-by", n) if n.contains("componentize-py") => (Lang::Python, Some("componentize-py")),
                _ => continue,
            };
            evidence.push(Evidence { lang, tier: Tier::Sections, weight: 100, detail: detail.clone() });
            if let Some(name) = tool {
                toolchain = Some(Toolchain { name: name.to_owned(), evidence: vec![detail] });
            }
        }
    }
    // The main module: the most code, adapter and toolchain libraries aside.
    let mut main: Option<(u64, Detection)> = None;
    let mut langs: Vec<LangShare> = Vec::new();
    let program_code: u64 = f.inner.iter().filter(|m| !is_adapter(m)).map(|m| m.code_size).sum::<u64>().max(1);
    for (i, m) in f.inner.iter().enumerate() {
        let name = m.module_name.clone().unwrap_or_else(|| format!("#{i}"));
        if is_adapter(m) {
            evidence.push(Evidence {
                lang: Lang::Unknown,
                tier: Tier::Shape,
                weight: 0,
                detail: format!("module {name}: the WASI preview1 adapter (evidence of nothing)"),
            });
            continue;
        }
        let d = detect_facts(m);
        if name.starts_with("libpython") {
            evidence.push(Evidence { lang: Lang::Python, tier: Tier::Sections, weight: 100, detail: format!("module {name}: CPython") });
        }
        // componentize-py links its runtime into every component it makes
        // (and writes no producers of its own on the outer component).
        if name.starts_with("componentize_py_runtime") && toolchain.is_none() {
            let detail = format!("module {name}: componentize-py's runtime");
            evidence.push(Evidence { lang: Lang::Python, tier: Tier::Sections, weight: 100, detail: detail.clone() });
            toolchain = Some(Toolchain { name: "componentize-py".to_owned(), evidence: vec![detail] });
        }
        for e in &d.evidence {
            evidence.push(Evidence { detail: format!("module {name}: {}", e.detail), ..e.clone() });
        }
        let weight = m.code_size as f64 / program_code as f64;
        if d.lang != Lang::Unknown {
            match langs.iter_mut().find(|l| l.lang == d.lang) {
                Some(l) => l.share = Some(l.share.unwrap_or(0.0) + weight),
                None => langs.push(LangShare { lang: d.lang, share: Some(weight), evidence: vec![format!("module {name}")] }),
            }
        }
        if !toolchain_library(&name) && main.as_ref().is_none_or(|(size, _)| m.code_size > *size) {
            main = Some((m.code_size, d));
        }
    }
    for l in &mut langs {
        l.share = l.share.map(|s| (s * 1000.0).round() / 1000.0);
    }
    langs.sort_by(|a, b| b.share.unwrap_or(0.0).total_cmp(&a.share.unwrap_or(0.0)));
    let host = evidence.iter().find(|e| e.weight >= 100 && matches!(e.lang, Lang::Python | Lang::Javascript)).map(|e| e.lang);
    let (lang, confidence, tier, inner_toolchain) = match (host, main) {
        (Some(lang), main) => (lang, 0.95, Some(Tier::Sections), main.and_then(|(_, d)| d.toolchain)),
        (None, Some((_, d))) => (d.lang, d.confidence, d.tier, d.toolchain),
        (None, None) => (Lang::Unknown, 0.0, None, None),
    };
    Detection { lang, confidence, tier, evidence, langs, toolchain: toolchain.or(inner_toolchain) }
}
