// exit: exits with the code given as the first argument.
fn main() {
    let code = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    std::process::exit(code);
}
