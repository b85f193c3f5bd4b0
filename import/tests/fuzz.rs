//! The `import_formats` fuzz body over random and mutated inputs, in the normal test suite.

#[path = "support/fuzz_formats.rs"]
mod fuzz_formats;

use rand::{Rng, SeedableRng, rngs::StdRng};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(sluice_tests::data_dir().join("small").join(name)).unwrap()
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(55);
    for _ in 0..2000 {
        let len = rng.gen_range(0..300);
        let data: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        fuzz_formats::read_every_way(&data);
    }
}

#[test]
fn mutated_fixture_heads_never_panic() {
    let mut rng = StdRng::seed_from_u64(56);
    for name in ["msgs.jsonl", "log.offset", "log.bipf"] {
        let head: Vec<u8> = fixture(name).into_iter().take(4000).collect();
        for _ in 0..150 {
            let mut data = head[..rng.gen_range(0..head.len())].to_vec();
            for _ in 0..rng.gen_range(1..4) {
                if let Some(len) = std::num::NonZeroUsize::new(data.len()) {
                    data[rng.gen_range(0..len.get())] = rng.r#gen();
                }
            }
            fuzz_formats::read_every_way(&data);
        }
    }
}
