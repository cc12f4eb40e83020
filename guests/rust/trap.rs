// trap: panics; on wasm32-wasi a panic aborts with `unreachable`.
fn main() {
    let items: Vec<u32> = std::env::args().skip(5).map(|s| s.len() as u32).collect();
    eprintln!("about to panic");
    let index = items.len() + 3;
    println!("{}", items[index]);
}
