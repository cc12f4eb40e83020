// proc_exit through std::process::exit, after flushing stdout.
use std::io::Write;

fn main() {
    print!("leaving with 3\n");
    std::io::stdout().flush().unwrap();
    std::process::exit(3);
}
