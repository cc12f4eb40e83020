// Files and directories through Rust's std: write, read, seek, metadata,
// rename, remove, create_dir, read_dir, and the error kinds for misses.
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};

fn main() {
    let a = "fs.dir/rust_a.cleanup";
    let b = "fs.dir/rust_b.cleanup";
    let mut f = OpenOptions::new().create(true).read(true).write(true).truncate(true).open(a).unwrap();
    f.write_all(b"hello world").unwrap();
    assert_eq!(f.seek(SeekFrom::Start(6)).unwrap(), 6);
    let mut word = String::new();
    f.read_to_string(&mut word).unwrap();
    assert_eq!(word, "world");
    assert_eq!(f.seek(SeekFrom::End(-5)).unwrap(), 6);
    f.set_len(5).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 5);
    drop(f);
    assert_eq!(fs::read_to_string(a).unwrap(), "hello");

    fs::rename(a, b).unwrap();
    assert_eq!(fs::metadata(a).unwrap_err().kind(), ErrorKind::NotFound);
    assert!(fs::metadata(b).unwrap().is_file());
    fs::remove_file(b).unwrap();
    assert_eq!(File::open(b).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(OpenOptions::new().write(true).create_new(true).open("fs.dir/fixture.txt").unwrap_err().kind(), ErrorKind::AlreadyExists);

    let d = "fs.dir/rust_dir.cleanup";
    fs::create_dir_all(format!("{d}/nested/deeper")).unwrap();
    for name in ["z", "x", "y"] {
        fs::write(format!("{d}/{name}"), name).unwrap();
    }
    let mut names: Vec<String> = fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["nested", "x", "y", "z"]);
    assert!(fs::remove_dir(d).is_err());
    // Debian's rustc 1.63 has a remove_dir_all that fails with ENOTEMPTY on
    // WASI for nested trees (its own bug: the same tree removed step by step
    // works), so the tree is taken down explicitly.
    for name in ["x", "y", "z"] {
        fs::remove_file(format!("{d}/{name}")).unwrap();
    }
    fs::remove_dir(format!("{d}/nested/deeper")).unwrap();
    fs::remove_dir(format!("{d}/nested")).unwrap();
    fs::remove_dir(d).unwrap();
    assert!(!std::path::Path::new(d).exists());
    assert_eq!(fs::read_to_string("fs.dir/fixture.txt").unwrap(), "fixture\n");
    assert!(fs::read_to_string("/etc/passwd").is_err());
    println!("ok");
}
