// Clocks through Rust's std: SystemTime is after 2020, Instant moves forward
// across a sleep by at least the sleep; HashMap's RandomState (random_get)
// differs between maps.
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() {
    assert!(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() > 1_577_836_800);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(20));
    assert!(t0.elapsed() >= Duration::from_millis(20));
    let hash = |s: &RandomState| {
        let mut h = s.build_hasher();
        42u64.hash(&mut h);
        h.finish()
    };
    assert_ne!(hash(&RandomState::new()), hash(&RandomState::new()), "random_get gave the same keys twice");
    println!("ok");
}
