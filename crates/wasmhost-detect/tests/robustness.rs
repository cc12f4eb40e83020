//! The detector never panics and never fails, whatever the bytes: arbitrary
//! input, hostile custom sections, and real guests cut or corrupted anywhere.

mod common;

use common::{custom_section, leb128};
use proptest::prelude::*;
use wasmhost_detect::{detect, Lang, ModuleFacts};

const HEADER: &[u8] = b"\0asm\x01\0\0\0";

/// A component with an adapter-like module and a named Rust module.
fn component() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (core module (import "__main_module__" "_start" (func)))
            (core module (@producers (language "Rust" "") (processed-by "rustc" "1.90.0"))
                (func (@name "core::fmt::write::h0123456789abcdef") nop nop)
                (func (@name "main") call 0))
            (component (core module (@name "libpython3.14.so") (func))))"#,
    )
    .expect("a component")
}

/// Guests built by `make guests` (the test suite runs after it).
fn guests() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/build");
    let mut out = Vec::new();
    for lang in ["c", "cpp", "rust", "go", "zig", "as"] {
        let path = dir.join(lang).join("hello.wasm");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}: run `make guests`", path.display()));
        out.push((lang.to_owned(), bytes));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let d = detect(&bytes);
        prop_assert!((0.0..=1.0).contains(&d.confidence));
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut module = HEADER.to_vec();
        module.extend(bytes);
        let _ = detect(&module);
    }

    #[test]
    fn hostile_custom_sections(
        name in prop_oneof![
            Just("producers".to_owned()), Just("name".to_owned()), Just(".debug_str".to_owned()),
            Just("go:buildid".to_owned()), Just("target_features".to_owned()), Just(".debug_info".to_owned()),
            Just(".debug_abbrev".to_owned()), Just("dylink.0".to_owned()), "[a-z.:_]{0,12}",
        ],
        payload in proptest::collection::vec(any::<u8>(), 0..256),
        count in 1usize..4,
    ) {
        let mut module = HEADER.to_vec();
        for _ in 0..count {
            module.extend(custom_section(&name, &payload));
        }
        let facts = ModuleFacts::read(&module);
        prop_assert!(facts.parse_error.is_none(), "custom sections never break the module's structure");
        let d = detect(&module);
        // Garbage is never a reason for high confidence in a language the
        // bytes did not name.
        if name != "producers" && name != ".debug_str" && name != "go:buildid" {
            prop_assert_eq!(d.lang, Lang::Unknown);
        }
    }

    #[test]
    fn producers_with_arbitrary_strings(
        field in "[ -~]{0,16}",
        values in proptest::collection::vec(("[ -~]{0,16}", "[ -~]{0,8}"), 0..4),
    ) {
        let mut payload = Vec::new();
        leb128(1, &mut payload);
        leb128(field.len(), &mut payload);
        payload.extend_from_slice(field.as_bytes());
        leb128(values.len(), &mut payload);
        for (n, v) in &values {
            leb128(n.len(), &mut payload);
            payload.extend_from_slice(n.as_bytes());
            leb128(v.len(), &mut payload);
            payload.extend_from_slice(v.as_bytes());
        }
        let mut module = HEADER.to_vec();
        module.extend(custom_section("producers", &payload));
        let _ = detect(&module);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn real_guests_cut_anywhere(which in 0usize..6, cut in any::<prop::sample::Index>()) {
        let guests = guests();
        let (_, bytes) = &guests[which];
        let _ = detect(&bytes[..cut.index(bytes.len())]);
    }

    #[test]
    fn components_cut_or_corrupted(
        cut in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let mut bytes = component();
        let len = bytes.len();
        for (at, value) in edits {
            bytes[at.index(len)] = value;
        }
        let d = detect(&bytes[..cut.index(len)]);
        prop_assert!((0.0..=1.0).contains(&d.confidence));
    }

    #[test]
    fn real_guests_with_corrupted_bytes(
        which in 0usize..6,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
    ) {
        let guests = guests();
        let mut bytes = guests[which].1.clone();
        let len = bytes.len();
        for (at, value) in edits {
            bytes[at.index(len)] = value;
        }
        let _ = detect(&bytes);
    }
}

#[test]
fn guests_are_detected_after_appending_garbage_sections() {
    for (lang, mut bytes) in guests() {
        let before = detect(&bytes).lang;
        bytes.extend(custom_section("producers", &[0xff; 9]));
        bytes.extend(custom_section("name", &[0x01, 0xff, 0xff, 0xff, 0xff, 0x0f]));
        assert_eq!(detect(&bytes).lang, before, "{lang}");
    }
}
