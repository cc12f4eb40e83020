//! The languages wasmhost names, as stable lower-case identifiers.

use std::fmt;
use std::str::FromStr;

/// A guest's source language. The lower-case names ([`Lang::as_str`]) are
/// part of the log format and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Rust (rustc).
    Rust,
    /// C (clang and other LLVM C front ends).
    C,
    /// C++.
    Cpp,
    /// Go (the gc toolchain, `GOOS=wasip1`).
    Go,
    /// Go compiled by TinyGo.
    Tinygo,
    /// Zig.
    Zig,
    /// AssemblyScript.
    Assemblyscript,
    /// Python, as a component (componentize-py).
    Python,
    /// JavaScript, as a component (componentize-js / StarlingMonkey).
    Javascript,
    /// Swift (SwiftWasm).
    Swift,
    /// Ruby, run by CRuby (`ruby.wasm`).
    Ruby,
    /// .NET (C#, F#): the Mono runtime `dotnet.native.wasm` and the Webcil
    /// modules that carry .NET assemblies.
    Dotnet,
    /// Nothing was found.
    Unknown,
}

impl Lang {
    /// Every language, `Unknown` last.
    pub const ALL: [Lang; 13] = [
        Lang::Rust,
        Lang::C,
        Lang::Cpp,
        Lang::Go,
        Lang::Tinygo,
        Lang::Zig,
        Lang::Assemblyscript,
        Lang::Python,
        Lang::Javascript,
        Lang::Swift,
        Lang::Ruby,
        Lang::Dotnet,
        Lang::Unknown,
    ];

    /// The stable lower-case name, e.g. `cpp`, `assemblyscript`.
    ///
    /// ```
    /// assert_eq!(wasmhost_detect::Lang::Cpp.as_str(), "cpp");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Cpp => "cpp",
            Lang::Go => "go",
            Lang::Tinygo => "tinygo",
            Lang::Zig => "zig",
            Lang::Assemblyscript => "assemblyscript",
            Lang::Python => "python",
            Lang::Javascript => "javascript",
            Lang::Swift => "swift",
            Lang::Ruby => "ruby",
            Lang::Dotnet => "dotnet",
            Lang::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`Lang::ALL`] (nor a common alias).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLang(pub String);

impl fmt::Display for UnknownLang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Lang::ALL.iter().map(|l| l.as_str()).collect();
        write!(f, "unknown language {:?}; expected one of {}", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownLang {}

impl FromStr for Lang {
    type Err = UnknownLang;

    /// Parses a stable name or a common alias (`c++`, `golang`, `as`, `js`,
    /// `py`, `.net`, `csharp`), ignoring case and surrounding space.
    ///
    /// ```
    /// use wasmhost_detect::Lang;
    /// assert_eq!("C++".parse::<Lang>().unwrap(), Lang::Cpp);
    /// assert!("cobol".parse::<Lang>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let lang = match lower.as_str() {
            "rust" | "rs" => Lang::Rust,
            "c" => Lang::C,
            "cpp" | "c++" | "cxx" => Lang::Cpp,
            "go" | "golang" => Lang::Go,
            "tinygo" => Lang::Tinygo,
            "zig" => Lang::Zig,
            "assemblyscript" | "as" => Lang::Assemblyscript,
            "python" | "py" => Lang::Python,
            "javascript" | "js" => Lang::Javascript,
            "swift" => Lang::Swift,
            "ruby" | "rb" => Lang::Ruby,
            "dotnet" | ".net" | "csharp" | "c#" | "fsharp" | "f#" => Lang::Dotnet,
            "unknown" => Lang::Unknown,
            _ => return Err(UnknownLang(s.to_owned())),
        };
        Ok(lang)
    }
}
