// hello: one line to stdout, one to stderr, exit 0.
fn main() {
    println!("hello from rust");
    eprintln!("hello from rust on stderr");
}
