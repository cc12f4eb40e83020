//! Every detection rule on a minimal synthetic module, written as text:
//! what it decides, with which confidence, and what remains once the module
//! is stripped of its custom sections.

mod common;

use common::strip;
use wasmhost_detect::{detect, Detection, Lang, Tier, UNKNOWN_BELOW, WEAK_HINT_MAX};

fn module(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap_or_else(|e| panic!("{e}\n{wat}"))
}

/// A function body of about `n` bytes of code.
fn code(n: usize) -> String {
    "nop ".repeat(n)
}

fn details(d: &Detection) -> String {
    d.evidence.iter().map(|e| format!("{:?} {} {:?} {}", e.tier, e.weight, e.lang, e.detail)).collect::<Vec<_>>().join("\n")
}

fn assert_lang(d: &Detection, lang: Lang, what: &str) {
    assert_eq!(d.lang, lang, "{what}: {}", details(d));
}

fn has_evidence(d: &Detection, text: &str) -> bool {
    d.evidence.iter().any(|e| e.detail.contains(text))
}

/// wasi-sdk links libc++'s int128 helpers into C programs: `producers`
/// lists C++ although no line of the program is C++.
#[test]
fn wasi_sdk_c_is_not_read_as_cpp() {
    let wat = format!(
        r#"(module
            (@producers (language "C11" "") (language "C_plus_plus_14" "") (processed-by "clang" "19.1.5-wasi-sdk"))
            (func $main (@name "main") (result i32) call $parse i32.const 0)
            (func $parse (@name "parse_args") {})
            (func $multi3 (@name "__multi3") {})
            (export "_start" (func $main)))"#,
        code(200),
        code(50)
    );
    let d = detect(&module(&wat));
    assert_lang(&d, Lang::C, "names");
    assert_eq!(d.tier, Some(Tier::Names));
    assert!(d.confidence >= 0.85, "{}", d.confidence);
    assert_eq!(d.toolchain.as_ref().unwrap().name, "wasi-sdk");

    // Without names, producers alone: the C++ unit is the toolchain's.
    let d = detect(&module(
        r#"(module (@producers (language "C11" "") (language "C_plus_plus_14" "") (processed-by "clang" "19.1.5-wasi-sdk")))"#,
    ));
    assert_lang(&d, Lang::C, "producers only");
    assert!(has_evidence(&d, "wasi-sdk links a libc++ source into C programs"), "{}", details(&d));

    // Real C++ (a demangled name) keeps C++.
    let d = detect(&module(&format!(
        r#"(module
            (@producers (language "C11" "") (language "C_plus_plus_14" "") (processed-by "clang" "19.1.5-wasi-sdk"))
            (func (@name "main") (result i32) call 1 i32.const 0)
            (func (@name "Parser::run(int)") {}))"#,
        code(100)
    )));
    assert_lang(&d, Lang::Cpp, "a C++ function");
}

/// A C program that links a Rust library: `processed-by: rustc` is there,
/// and the Rust code is even larger, but the entry point is C.
#[test]
fn a_linked_library_does_not_beat_the_program() {
    let wat = format!(
        r#"(module
            (@producers (language "C11" "") (language "Rust" "") (processed-by "clang" "19 wasi-sdk") (processed-by "rustc" "1.90.0"))
            (func $main (@name "main") (result i32) call $interp i32.const 0)
            (func $interp (@name "interp_run") call $lib {})
            (func $lib (@name "regex::Regex::new::h0123456789abcdef") {}))"#,
        code(300),
        code(700)
    );
    let d = detect(&module(&wat));
    assert_lang(&d, Lang::C, "entry point is C");
    assert!(has_evidence(&d, "entry point: main calls only plain C names") || has_evidence(&d, "entry point"), "{}", details(&d));
    let rust = d.langs.iter().find(|l| l.lang == Lang::Rust).expect("rust is listed in langs");
    assert!(rust.share.unwrap() > 0.5, "{:?}", d.langs);

    // A Rust program: main leads to Rust code.
    let wat = format!(
        r#"(module
            (@producers (language "C11" "") (language "Rust" "") (processed-by "rustc" "1.90.0"))
            (func $main (@name "main") (result i32) call $start i32.const 0)
            (func $start (@name "std::rt::lang_start::h0123456789abcdef") {})
            (func $libc (@name "printf_core") {}))"#,
        code(50),
        code(900)
    );
    let d = detect(&module(&wat));
    assert_lang(&d, Lang::Rust, "entry point leads to Rust");
    assert!(has_evidence(&d, "main → std::rt::lang_start"), "{}", details(&d));
}

#[test]
fn demangled_cpp_names_are_not_rust() {
    let wat = format!(
        r#"(module
            (func (@name "std::exception::~exception()") {0})
            (func (@name "std::__2::basic_string<char>::append(char const*)") {0})
            (func (@name "std::bad_alloc::what() const") {0}))"#,
        code(100)
    );
    let d = detect(&module(&wat));
    assert_lang(&d, Lang::Cpp, "demangled C++");
    assert!(!d.evidence.iter().any(|e| e.lang == Lang::Rust), "{}", details(&d));
}

#[test]
fn emscripten_says_c_or_cpp_by_libcxx() {
    let main = r#"(module (import "env" "emscripten_resize_heap" (func (param i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (memory 1) (global (mut i32) (i32.const 70000)))"#;
    let d = detect(&module(main));
    assert_lang(&d, Lang::C, "emscripten without libc++");
    assert!(d.confidence < 0.5, "a C/C++ guess from an absence stays under 0.5: {}", d.confidence);
    assert_eq!(d.toolchain.as_ref().unwrap().name, "emscripten");

    let with_libcxx = r#"(module (import "env" "__syscall_openat" (func (param i32 i32 i32 i32) (result i32)))
        (memory 1) (data (i32.const 16) "NSt3__212basic_stringIcEE"))"#;
    assert_lang(&detect(&module(with_libcxx)), Lang::Cpp, "emscripten with libc++ type names");

    // Closure-minified: one import module `a`, one-letter names.
    let minified = r#"(module (import "a" "a" (func)) (import "a" "b" (func))
        (memory 1) (export "c" (memory 0)) (export "d" (func 0)))"#;
    let d = detect(&module(minified));
    assert_eq!(d.toolchain.as_ref().unwrap().name, "emscripten", "{}", details(&d));

    // A side module: dylink.0, importing libc++ from the main module.
    let side = r#"(module (@custom "dylink.0" "\01\04\00\00\00\00")
        (import "env" "__memory_base" (global i32)) (import "env" "_Znwm" (func (param i32) (result i32)))
        (import "env" "abort" (func)))"#;
    let d = detect(&module(side));
    assert_lang(&d, Lang::Cpp, "side module importing libc++");
    let d = detect(&strip(&module(side)));
    assert_lang(&d, Lang::Cpp, "stripped side module: the imports remain");
}

/// clang's data-first layout linked with wasi-libc (wasi-sdk, stripped or
/// shipped without custom sections) is C or C++, as emscripten's imports
/// are: libc++ says C++, its absence C, under 0.5. Without wasi-libc's
/// imports the layout alone stays one weak hint.
#[test]
fn wasi_libc_with_clang_layout_says_c_or_cpp_by_libcxx() {
    let reactor = r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (memory 3) (global (mut i32) (i32.const 164416)) (func (export "pm_parse")))"#;
    let d = detect(&module(reactor));
    assert_lang(&d, Lang::C, "wasi-libc, data-first, no libc++");
    assert!(d.confidence >= UNKNOWN_BELOW && d.confidence < 0.5, "a guess from an absence: {}", d.confidence);
    assert!(has_evidence(&d, "wasi-libc's imports"), "{}", details(&d));

    let cpp = r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (memory 3) (global (mut i32) (i32.const 164416)) (data (i32.const 16) "NSt3__212basic_stringIcEE"))"#;
    assert_lang(&detect(&module(cpp)), Lang::Cpp, "wasi-libc with libc++ type names");

    let no_libc = r#"(module (memory 3) (global (mut i32) (i32.const 164416)) (func (export "hb_blob_create")))"#;
    assert_lang(&detect(&module(no_libc)), Lang::Unknown, "data-first layout alone");
}

#[test]
fn tool_evidence_names_the_language_and_the_toolchain() {
    let cases = [
        (r#"(module (@producers (processed-by "walrus" "0.20.3") (processed-by "wasm-bindgen" "0.2.92")))"#, Lang::Rust, "wasm-bindgen"),
        (r#"(module (import "wbg" "__wbindgen_throw" (func (param i32 i32))))"#, Lang::Rust, "wasm-bindgen"),
        (r#"(module (import "gojs" "runtime.wasmExit" (func (param i32))) (import "gojs" "syscall/js.valueGet" (func (param i32))))"#, Lang::Go, "go"),
        (r#"(module (import "gojs" "runtime.ticks" (func (result f64))) (import "gojs" "syscall/js.valueGet" (func (param i32))))"#, Lang::Tinygo, "tinygo"),
        (r#"(module (@producers (processed-by "TinyGo" "0.40.1")))"#, Lang::Tinygo, "tinygo"),
        (r#"(module (@producers (processed-by "wit-bindgen-rust" "0.54.0") (processed-by "wit-component" "0.245")))"#, Lang::Rust, "wit-component"),
    ];
    for (wat, lang, tool) in cases {
        let bytes = module(wat);
        let d = detect(&bytes);
        assert_lang(&d, lang, wat);
        assert!(d.confidence > 0.9, "{wat}: {}", d.confidence);
        assert_eq!(d.toolchain.as_ref().map(|t| t.name.as_str()), Some(tool), "{wat}");
        // Imports survive stripping; producers do not.
        let stripped = detect(&strip(&bytes));
        if wat.contains("import") {
            assert_lang(&stripped, lang, "stripped");
        } else {
            assert_lang(&stripped, Lang::Unknown, "stripped producers-only module");
        }
    }

    // CPython's API exported: an interpreter runs Python.
    let exports: String = (0..25).map(|i| format!("(export \"PyObject_Fn{i}\" (func 0))")).collect();
    let d = detect(&module(&format!("(module (func) {exports})")));
    assert_lang(&d, Lang::Python, "CPython exports");
}

/// rustc, Zig and TinyGo all start the stack at 1 MiB: alone, that names nobody.
#[test]
fn one_weak_shape_hint_is_unknown_with_the_hint_kept() {
    let zig_freestanding = r#"(module (import "env" "log" (func (param i32 i32)))
        (memory 17) (global (mut i32) (i32.const 1048576)) (export "memory" (memory 0)))"#;
    let d = detect(&module(zig_freestanding));
    assert_lang(&d, Lang::Unknown, "1 MiB stack alone");
    assert_eq!(d.confidence, 0.0);
    assert!(has_evidence(&d, "exactly 1 MiB"), "the hint stays in the evidence: {}", details(&d));
    assert!(d.evidence_summary().contains("1 MiB"));
    assert!(WEAK_HINT_MAX < UNKNOWN_BELOW);

    // The same layout with Zig's panic text is Zig.
    let zig = r#"(module (memory 17) (global (mut i32) (i32.const 1048576))
        (data (i32.const 1048600) "aborting due to recursive panic"))"#;
    assert_lang(&detect(&module(zig)), Lang::Zig, "Zig panic text");
}

#[test]
fn tiny_assemblyscript_is_named_from_its_runtime() {
    // The runtime's abort import and its zero-initialised globals.
    let tiny = r#"(module (import "env" "abort" (func (param i32 i32 i32 i32)))
        (global (mut i32) (i32.const 0)) (global (mut i32) (i32.const 0))
        (memory 1) (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;
    let d = detect(&module(tiny));
    assert_lang(&d, Lang::Assemblyscript, "abort + runtime globals");
    assert!(d.confidence <= 0.5, "{}", d.confidence);
    // With the standard library's UTF-16 path in data, more surely.
    let with_lib = r#"(module (import "env" "abort" (func (param i32 i32 i32 i32)))
        (memory 1) (data (i32.const 8) "~\00l\00i\00b\00/\00r\00t\00"))"#;
    let d = detect(&module(with_lib));
    assert_lang(&d, Lang::Assemblyscript, "~lib/ in data");
    assert!(d.confidence > 0.5);
    // asc's `process.exit(3)` with the WASI shim: one function, one runtime
    // global, a memory of 0 pages (asc sizes it by the data; wasm-ld and
    // Go always reserve a stack). Two weak hints that add up, under 0.5.
    let proc_exit = r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
        (memory 0) (global (mut i32) (i32.const 0)) (export "memory" (memory 0))
        (func (export "_start") i32.const 3 call 0))"#;
    let d = detect(&module(proc_exit));
    assert_lang(&d, Lang::Assemblyscript, "tiny proc_exit test");
    assert!(d.confidence < 0.5, "{}", d.confidence);
    // Names: `~lib/` and file-path names.
    let named = format!(r#"(module (func (@name "~lib/rt/tlsf/allocateBlock") {0}) (func (@name "assembly/index/main") {0}))"#, code(20));
    assert_lang(&detect(&module(&named)), Lang::Assemblyscript, "AS names");
}

#[test]
fn go_code_laid_out_by_wasm_ld_is_tinygo() {
    let wat = format!(
        r#"(module (memory 2) (global (mut i32) (i32.const 65536))
            (func (@name "runtime.alloc") {0}) (func (@name "main.main") {0}) (func (@name "runtime.run") {0}))"#,
        code(50)
    );
    assert_lang(&detect(&module(&wat)), Lang::Tinygo, "Go names, wasm-ld stack pointer");
    // Stripped, Go's standard library strings remain.
    let stripped = r#"(module (memory 2) (global (mut i32) (i32.const 65536))
        (data (i32.const 100) "internal/reflectlite") (data (i32.const 200) "reflect: call of reflect.Value"))"#;
    let d = detect(&module(stripped));
    assert_lang(&d, Lang::Tinygo, "Go strings, wasm-ld stack pointer");
    assert_eq!(d.toolchain.as_ref().map(|t| t.name.as_str()), Some("tinygo"), "{}", details(&d));

    // TinyGo's `_start` is its runtime: it calls wasi-libc's `arc4random`
    // (plain, larger than a shim) before its Go runtime. The Go it calls
    // decides, not the libc helper; a C `main` still decides C.
    let start = |entry: &str| {
        format!(
            r#"(module (memory 2) (global (mut i32) (i32.const 65536))
                (func $start (@name "{entry}") call $rand call $run)
                (func $rand (@name "arc4random") {0})
                (func $run (@name "runtime.run") {0}) (func (@name "main.main") {0}) (func (@name "runtime.alloc") {0})
                (export "{entry}" (func $start)))"#,
            code(300)
        )
    };
    let d = detect(&module(&start("_start")));
    assert_lang(&d, Lang::Tinygo, "TinyGo's _start");
    assert!(has_evidence(&d, "entry point: _start → runtime.run"), "{}", details(&d));
    assert_lang(&detect(&module(&start("main"))), Lang::C, "a plain main calling C first");
}

/// MicroPython's JavaScript port exports its embedding API: an interpreter
/// runs Python, whatever emscripten's C says.
#[test]
fn micropython_is_python() {
    let exports: String = ["mp_js_init", "mp_js_do_exec", "mp_js_do_import"].iter().map(|n| format!(r#"(export "{n}" (func $f))"#)).collect();
    let wat = format!(r#"(module (import "env" "emscripten_resize_heap" (func (param i32) (result i32))) (func $f) {exports})"#);
    let d = detect(&strip(&module(&wat)));
    assert_lang(&d, Lang::Python, "mp_js_* exports");
    assert!(d.confidence > 0.9);
    let one = r#"(module (import "env" "emscripten_resize_heap" (func (param i32) (result i32))) (func $f) (export "mp_js_init" (func $f)))"#;
    assert_lang(&detect(&module(one)), Lang::C, "one mp_js_ export is not the port");
}

/// Swift: the compiler's custom section, and once stripped the standard
/// library's texts; the Swift runtime's libc++ does not make it C++.
#[test]
fn swift_is_swift_despite_its_runtimes_libcxx() {
    let wat = r#"(module (@custom ".swift1_autolink_entries" "-lswiftCore")
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (memory 1) (global (mut i32) (i32.const 70000))
        (data (i32.const 8) "NSt3__212basic_stringIcEE") (data (i32.const 64) "N10__cxxabiv117__class_type_infoE")
        (data (i32.const 128) "Unexpectedly found nil while unwrapping an Optional value")
        (data (i32.const 256) "Swift/ContiguousArrayBuffer.swift"))"#;
    let bytes = module(wat);
    let d = detect(&bytes);
    assert_lang(&d, Lang::Swift, "custom section");
    assert!(d.confidence > 0.9, "{}", d.confidence);
    assert_eq!(d.toolchain.as_ref().unwrap().name, "swiftc");
    let d = detect(&strip(&bytes));
    assert_lang(&d, Lang::Swift, "stripped: the standard library's texts");
    assert!(d.confidence > 0.5, "{}", d.confidence);
    // Without Swift's texts, the same libc++ names are C++.
    let cpp = r#"(module (memory 1) (data (i32.const 8) "NSt3__212basic_stringIcEE") (data (i32.const 64) "N10__cxxabiv1"))"#;
    assert_lang(&detect(&module(cpp)), Lang::Cpp, "libc++ alone");
}

/// CRuby runs Ruby; `ruby.wasm` links wasi-vfs (Rust) and its `producers`
/// name only rustc: the interpreter's mark decides, stripped or not.
#[test]
fn cruby_is_ruby_whatever_it_links() {
    let wat = r#"(module (@producers (language "Rust" "") (processed-by "rustc" "1.92.0"))
        (memory 1) (data (i32.const 8) "RUBY_DESCRIPTION") (data (i32.const 64) "library/std/src/io.rs"))"#;
    let bytes = module(wat);
    for d in [detect(&bytes), detect(&strip(&bytes))] {
        assert_lang(&d, Lang::Ruby, "CRuby with a Rust crate");
        assert!(d.confidence > 0.9, "{}", d.confidence);
    }
}

#[test]
fn javascript_engines_are_tagged_javascript() {
    let quickjs = r#"(module (memory 1) (data (i32.const 8) "../../vendor/quickjs/quickjs.c"))"#;
    assert_lang(&detect(&module(quickjs)), Lang::Javascript, "QuickJS");
}

/// .NET: the Mono runtime (`dotnet.native.wasm`) exports its embedding API,
/// and the SDK wraps each assembly in a Webcil module; both survive
/// stripping. A few `mono_wasm_*` names alone are not the runtime.
#[test]
fn dotnet_runtime_and_webcil_assemblies_are_dotnet() {
    let mono_exports: String = (0..12).map(|i| format!(r#"(export "mono_wasm_f{i}" (func $f))"#)).collect();
    let runtime = module(&format!(
        r#"(module (import "env" "emscripten_resize_heap" (func (param i32) (result i32)))
            (memory 1) (global (mut i32) (i32.const 70000)) (func $f {}) {mono_exports})"#,
        code(50)
    ));
    for bytes in [runtime.clone(), strip(&runtime)] {
        let d = detect(&bytes);
        assert_lang(&d, Lang::Dotnet, "Mono runtime");
        assert!(d.confidence >= 0.9, "{}", d.confidence);
        assert_eq!(d.toolchain.as_ref().unwrap().name, "dotnet");
    }
    let few: String = (0..3).map(|i| format!(r#"(export "mono_wasm_f{i}" (func $f))"#)).collect();
    let d = detect(&module(&format!(r#"(module (func $f) {few})"#)));
    assert!(d.lang != Lang::Dotnet, "three mono_wasm_ exports: {}", details(&d));

    let webcil = module(
        r#"(module (import "webcil" "memory" (memory 1))
            (global (export "webcilVersion") i32 (i32.const 0)) (global (export "webcilSize") i32 (i32.const 4))
            (func (export "getWebcilSize") (param i32) (i32.store (local.get 0) (i32.const 4)))
            (func (export "getWebcilPayload") (param i32 i32) (memory.init 0 (local.get 0) (i32.const 0) (local.get 1)))
            (data "WbIL"))"#,
    );
    let d = detect(&webcil);
    assert_lang(&d, Lang::Dotnet, "Webcil");
    assert!(has_evidence(&d, "Webcil"), "{}", details(&d));
    assert_eq!(d.toolchain.as_ref().unwrap().name, "dotnet");
    assert_eq!("C#".parse::<Lang>().unwrap(), Lang::Dotnet);
}

#[test]
fn components_are_read_through_their_core_modules() {
    let adapter = r#"(core module $adapter (@name "wit-component:adapter:wasi_snapshot_preview1")
        (import "__main_module__" "_start" (func)))"#;
    let rust = format!(
        r#"(core module $main (@producers (language "Rust" "") (processed-by "rustc" "1.90.0"))
            (func (@name "core::fmt::write::h0123456789abcdef") {}))"#,
        code(100)
    );
    let bytes = module(&format!("(component {adapter} {rust})"));
    let d = detect(&bytes);
    assert_lang(&d, Lang::Rust, "component with a Rust module and the adapter");
    assert!(has_evidence(&d, "preview1 adapter (evidence of nothing)"), "{}", details(&d));
    assert!(d.evidence.iter().any(|e| e.lang == Lang::Rust && e.detail.starts_with("module main: ")), "{}", details(&d));
    // Stripped of names and producers, the Rust module still has nothing
    // but no evidence points elsewhere either.
    assert_ne!(detect(&strip(&bytes)).lang, Lang::Cpp);

    // componentize-py: libpython inside.
    let py = r#"(component (core module $libc (@name "libc.so") (func)) (core module $py (@name "libpython3.14.so") (func)))"#;
    let d = detect(&module(py));
    assert_lang(&d, Lang::Python, "libpython module");

    // componentize-js writes JavaScript into the component's producers.
    let js = r#"(component (@producers (language "JavaScript" "") (processed-by "ComponentizeJS" "0.23.0")) (core module (func)))"#;
    let d = detect(&module(js));
    assert_lang(&d, Lang::Javascript, "componentize-js");
    assert_eq!(d.toolchain.unwrap().name, "componentize-js");

    // An adapter alone is evidence of nothing.
    assert_lang(&detect(&module(&format!("(component {adapter})"))), Lang::Unknown, "adapter only");
}

#[test]
fn hand_written_modules_are_unknown() {
    // Named imports are the host's functions, not evidence of the program.
    let d = detect(&module(r#"(module (import "env" "launch_missiles" (func $launch (param i32)))
        (func (export "_start") (call $launch (i32.const 1))))"#));
    assert_lang(&d, Lang::Unknown, "a named import");
    // Plain `$names` of a hand-written module are not C: no C toolchain shows.
    let d = detect(&module(r#"(module (func $outer (export "_start") (call $middle))
        (func $middle (call $inner)) (func $inner unreachable))"#));
    assert_lang(&d, Lang::Unknown, "hand-written, named");
    let d = detect(&module(r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#));
    assert_lang(&d, Lang::Unknown, "no evidence");
    assert!(d.toolchain.is_none());
}

/// DWARF compile units as `.debug_*` custom sections: (file, language,
/// bytes of code), laid out one after the other.
fn dwarf_sections(units: &[(&str, gimli::DwLang, u64)]) -> Vec<u8> {
    use gimli::write::{Address, AttributeValue, Dwarf, EndianVec, LineProgram, Sections, Unit};
    let encoding = gimli::Encoding { format: gimli::Format::Dwarf32, version: 4, address_size: 4 };
    let mut dwarf = Dwarf::new();
    let mut low = 0u64;
    for (name, lang, size) in units {
        let id = dwarf.units.add(Unit::new(encoding, LineProgram::none()));
        let unit = dwarf.units.get_mut(id);
        let root_id = unit.root();
        let root = unit.get_mut(root_id);
        root.set(gimli::DW_AT_name, AttributeValue::String(name.as_bytes().to_vec()));
        root.set(gimli::DW_AT_language, AttributeValue::Language(*lang));
        root.set(gimli::DW_AT_low_pc, AttributeValue::Address(Address::Constant(low)));
        root.set(gimli::DW_AT_high_pc, AttributeValue::Udata(*size));
        low += size;
    }
    let mut sections = Sections::new(EndianVec::new(gimli::LittleEndian));
    dwarf.write(&mut sections).expect("DWARF written");
    let mut out = Vec::new();
    sections
        .for_each(|id, data| {
            if !data.slice().is_empty() {
                out.extend(common::custom_section(id.name(), data.slice()));
            }
            Ok::<(), ()>(())
        })
        .expect("sections");
    out
}

/// Per compile unit: wasi-sdk's libc++ file in a C program is the
/// toolchain's, and the program's units decide.
#[test]
fn dwarf_compile_units_attribute_code_and_know_toolchain_paths() {
    let producers = r#"(@producers (language "C11" "") (language "C_plus_plus_14" "") (processed-by "clang" "19.1.5-wasi-sdk"))"#;
    let c_program = [
        ("/home/me/app/main.c", gimli::DW_LANG_C11, 600),
        ("wasisdk://v25.0/build/sysroot/wasi-libc/libc-bottom-half/sources/abort.c", gimli::DW_LANG_C11, 100),
        ("wasisdk://v25.0/src/llvm-project/libcxx/src/int128_builtins.cpp", gimli::DW_LANG_C_plus_plus_14, 50),
    ];
    let mut bytes = module(&format!("(module {producers} (func {}))", code(750)));
    bytes.extend(dwarf_sections(&c_program));
    let d = detect(&bytes);
    assert_lang(&d, Lang::C, "C program with wasi-sdk's libc++ unit");
    assert!(has_evidence(&d, "toolchain compile units (not the program's), e.g. wasisdk://"), "{}", details(&d));
    assert!(!d.langs.iter().any(|l| l.lang == Lang::Cpp && l.share.unwrap_or(0.0) > 0.0), "{:?}", d.langs);
    // Stripped: producers and DWARF are gone, nothing is left to say.
    assert_lang(&detect(&strip(&bytes)), Lang::Unknown, "stripped");

    // The same toolchain with a C++ program unit is C++.
    let cpp_program = [
        ("/home/me/app/main.cpp", gimli::DW_LANG_C_plus_plus_14, 600),
        ("wasisdk://v25.0/build/sysroot/wasi-libc/libc-bottom-half/sources/abort.c", gimli::DW_LANG_C11, 100),
    ];
    let mut bytes = module(&format!("(module {producers} (func {}))", code(700)));
    bytes.extend(dwarf_sections(&cpp_program));
    assert_lang(&detect(&bytes), Lang::Cpp, "C++ program unit");

    // Rust's standard library units (/rustc/…) are the toolchain's too: a C
    // program linking a small Rust crate stays C.
    let mixed = [
        ("/src/interp.c", gimli::DW_LANG_C11, 800),
        ("/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/fmt/mod.rs", gimli::DW_LANG_Rust, 900),
        ("src/lib.rs/@/regexlite", gimli::DW_LANG_Rust, 100),
    ];
    let mut bytes = module(&format!(
        r#"(module (@producers (language "C11" "") (language "Rust" "") (processed-by "rustc" "1.90.0")) (func {}))"#,
        code(1800)
    ));
    bytes.extend(dwarf_sections(&mixed));
    let d = detect(&bytes);
    assert_lang(&d, Lang::C, "C program, Rust library");
    let rust = d.langs.iter().find(|l| l.lang == Lang::Rust).expect("rust listed");
    assert!((rust.share.unwrap() - 0.111).abs() < 0.01, "{:?}", d.langs);
}
