//! The detector on real-world modules nobody here built: every module that
//! `scripts/fetch-corpus.py` lists in `tests/corpus/corpus.tsv`, as shipped
//! and with every custom section removed. Prints a confusion table and fails
//! below the goals of docs/detection.md:
//!
//! - as shipped: at least 95% right, no wrong verdict above confidence 0.5,
//!   where `unknown` is right for the modules the table marks as carrying no
//!   mark of their language at all (checked by hand, with the reason; the
//!   strict figure, counting those as misses, is printed too);
//! - stripped: at least 85% right or `unknown`, no wrong verdict above 0.5.

mod common;

use std::collections::BTreeMap;

use common::strip;
use std::path::PathBuf;

use wasmhost_detect::{detect, Lang};

/// Wrong verdicts are never allowed above this confidence.
const WRONG_MAX_CONFIDENCE: f64 = 0.5;

struct Entry {
    id: String,
    lang: Lang,
    toolchain: String,
    /// The table's reason why the shipped bytes carry no evidence, if so.
    no_evidence: Option<String>,
    bytes: Vec<u8>,
}

fn corpus() -> Vec<Entry> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let table = std::fs::read_to_string(root.join("tests/corpus/corpus.tsv")).expect("tests/corpus/corpus.tsv");
    let dir = std::env::var_os("WASMHOST_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/wasmhost-corpus"))
        .join("modules");
    let mut out = Vec::new();
    for line in table.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 9, "corpus.tsv: {line}");
        let path = dir.join(format!("{}.wasm", cols[0]));
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}: run scripts/fetch-corpus.py (make corpus)", path.display()));
        out.push(Entry {
            id: cols[0].to_owned(),
            lang: cols[1].parse().expect("a language name"),
            toolchain: cols[2].to_owned(),
            no_evidence: cols[8].strip_prefix("none: ").map(str::to_owned),
            bytes,
        });
    }
    out
}

#[derive(Default)]
struct Tally {
    right: usize,
    /// `unknown` on a module marked as carrying no evidence.
    right_unknown: usize,
    /// The toolchain found is the table's.
    toolchain_right: usize,
    unknown: usize,
    wrong: Vec<String>,
    confident_wrong: Vec<String>,
    confusion: BTreeMap<(Lang, Lang), usize>,
}

fn run(name: &str, entries: &[Entry], prepare: impl Fn(&[u8]) -> Vec<u8>) -> Tally {
    let mut t = Tally::default();
    println!("\n== {name} ==");
    for e in entries {
        let d = detect(&prepare(&e.bytes));
        *t.confusion.entry((e.lang, d.lang)).or_default() += 1;
        let verdict = if d.lang == e.lang {
            t.right += 1;
            "ok"
        } else if d.lang == Lang::Unknown {
            t.unknown += 1;
            if e.no_evidence.is_some() {
                t.right_unknown += 1;
                "unknown*"
            } else {
                "unknown"
            }
        } else {
            let what = format!("{}: {} detected as {} ({:.2}): {}", e.id, e.lang, d.lang, d.confidence, d.evidence_summary());
            if d.confidence > WRONG_MAX_CONFIDENCE {
                t.confident_wrong.push(what.clone());
            }
            t.wrong.push(what);
            "WRONG"
        };
        let toolchain = d.toolchain.as_ref().map_or("-", |t| t.name.as_str());
        if toolchain == e.toolchain && toolchain != "-" {
            t.toolchain_right += 1;
        }
        println!(
            "{verdict:8} {:24} true {:14} ({:12}) got {:14} {:.2} toolchain {toolchain}",
            e.id, e.lang, e.toolchain, d.lang, d.confidence
        );
    }
    print_confusion(&t.confusion);
    let named: Vec<&Entry> = entries.iter().filter(|e| e.toolchain != "-").collect();
    println!("{name}: toolchain named right on {} of {}", t.toolchain_right, named.len());
    let n = entries.len();
    println!(
        "{name}: {} right, {} unknown ({} of them on modules with no evidence, marked *), {} wrong of {n}",
        t.right,
        t.unknown,
        t.right_unknown,
        t.wrong.len()
    );
    t
}

fn print_confusion(confusion: &BTreeMap<(Lang, Lang), usize>) {
    let truths: Vec<Lang> = Lang::ALL.into_iter().filter(|l| confusion.keys().any(|(t, _)| t == l)).collect();
    let got: Vec<Lang> = Lang::ALL.into_iter().filter(|l| confusion.keys().any(|(_, g)| g == l)).collect();
    print!("{:16}", "true \\ detected");
    for g in &got {
        print!("{:>8}", &g.as_str()[..g.as_str().len().min(7)]);
    }
    println!();
    for t in &truths {
        print!("{:16}", t.as_str());
        for g in &got {
            print!("{:>8}", confusion.get(&(*t, *g)).copied().unwrap_or(0));
        }
        println!();
    }
}

#[test]
fn corpus_as_shipped_and_stripped_meets_the_goals() {
    let entries = corpus();
    assert!(entries.len() >= 40, "the corpus has {} modules", entries.len());
    let n = entries.len() as f64;

    let shipped = run("as shipped", &entries, <[u8]>::to_vec);
    let stripped = run("stripped", &entries, strip);

    let strict = shipped.right as f64 / n;
    let shipped_right = (shipped.right + shipped.right_unknown) as f64 / n;
    let stripped_ok = (stripped.right + stripped.unknown) as f64 / n;
    println!(
        "as shipped: {:.1}% right (strictly, with no credit for unknown: {:.1}%); stripped: {:.1}% right or unknown",
        shipped_right * 100.0,
        strict * 100.0,
        stripped_ok * 100.0
    );
    assert!(shipped.confident_wrong.is_empty(), "wrong above {WRONG_MAX_CONFIDENCE} as shipped: {:#?}", shipped.confident_wrong);
    assert!(stripped.confident_wrong.is_empty(), "wrong above {WRONG_MAX_CONFIDENCE} stripped: {:#?}", stripped.confident_wrong);
    assert!(shipped_right >= 0.95, "as shipped {:.1}% right; wrong: {:#?}", shipped_right * 100.0, shipped.wrong);
    assert!(stripped_ok >= 0.85, "stripped {:.1}% right or unknown; wrong: {:#?}", stripped_ok * 100.0, stripped.wrong);
}

#[test]
fn stripping_removes_every_custom_section_and_keeps_the_code() {
    for e in corpus() {
        let stripped = strip(&e.bytes);
        let facts = wasmhost_detect::ModuleFacts::read(&stripped);
        assert!(facts.custom_sections.is_empty(), "{}: {:?}", e.id, facts.custom_sections);
        assert!(facts.parse_error.is_none(), "{}: {:?}", e.id, facts.parse_error);
        assert_eq!(facts.code_size, wasmhost_detect::ModuleFacts::read(&e.bytes).code_size, "{}", e.id);
    }
}
