// Arguments and environment through Rust's std: exactly the spec's.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert_eq!(args, ["one", "two words"]);
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.sort();
    assert_eq!(vars, [("EMPTY".to_owned(), String::new()), ("GREETING".to_owned(), "hello=world".to_owned())]);
    println!("ok");
}
