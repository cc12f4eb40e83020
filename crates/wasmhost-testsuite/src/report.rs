//! Reports: the summary line, JUnit XML and JSON lines.

use std::fmt::Write as _;

use crate::runner::{Outcome, TestResult};

/// Counts for the summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Tests that did what their spec says.
    pub passed: usize,
    /// Tests that did not (or passed against their expected failure).
    pub failed: usize,
    /// Tests not run.
    pub skipped: usize,
    /// Tests that failed as the expectations file says they do (pytest's
    /// `xfailed`).
    pub expected_failures: usize,
}

impl Summary {
    /// Counts `results`.
    pub fn of(results: &[TestResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.outcome {
                Outcome::Passed => s.passed += 1,
                Outcome::Failed(_) => s.failed += 1,
                Outcome::Skipped(_) => s.skipped += 1,
                Outcome::ExpectedFailure(_) => s.expected_failures += 1,
            }
        }
        s
    }
}

impl std::fmt::Display for Summary {
    /// `N passed, N failed, N skipped`: the line CI systems read; then
    /// `, N expected failures` when there are any (as pytest's `xfailed`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped)?;
        match self.expected_failures {
            0 => Ok(()),
            1 => f.write_str(", 1 expected failure"),
            n => write!(f, ", {n} expected failures"),
        }
    }
}

/// JUnit XML: one `<testsuite>` per suite, a `<failure>` or `<skipped>` per
/// test that needs one.
pub fn junit(results: &[TestResult]) -> String {
    let mut suites: Vec<&str> = results.iter().map(|r| r.suite.as_str()).collect();
    suites.dedup();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"wasmhost test\">\n");
    for suite in suites {
        let tests: Vec<&TestResult> = results.iter().filter(|r| r.suite == suite).collect();
        let summary = Summary::of(&tests.iter().map(|t| (*t).clone()).collect::<Vec<_>>());
        let time: f64 = tests.iter().map(|t| t.duration_ms).sum::<f64>() / 1000.0;
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{time:.3}\">",
            escape(suite),
            tests.len(),
            summary.failed,
            summary.skipped
        );
        for t in tests {
            let _ = write!(xml, "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"", escape(&t.name), escape(suite), t.duration_ms / 1000.0);
            match &t.outcome {
                Outcome::Passed => xml.push_str("/>\n"),
                Outcome::Failed(reason) => {
                    let _ = writeln!(xml, ">\n      <failure message=\"{}\"/>\n    </testcase>", escape(reason));
                }
                Outcome::Skipped(reason) | Outcome::ExpectedFailure(reason) => {
                    let _ = writeln!(xml, ">\n      <skipped message=\"{}\"/>\n    </testcase>", escape(reason));
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// One JSON object per test per line.
pub fn json_lines(results: &[TestResult]) -> String {
    results.iter().filter_map(|r| serde_json::to_string(r).ok()).map(|l| l + "\n").collect()
}

/// Escapes text for an XML attribute; characters XML 1.0 cannot hold at all
/// (most control characters) become U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
