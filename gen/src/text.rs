//! Words, names and random refs: the raw material of message content.
//!
//! Text is lorem ipsum like ssb-fixtures makes, with some non-ASCII words (accents, Cyrillic,
//! CJK, emoji outside the BMP) and paragraph breaks, which exercise the "latin1" message id and
//! the signing encoding's escaping.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;

const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipisicing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
    "excepteur",
    "sint",
    "occaecat",
    "cupidatat",
    "non",
    "proident",
    "sunt",
    "culpa",
    "qui",
    "officia",
    "deserunt",
    "mollit",
    "anim",
    "id",
    "est",
    "laborum",
];

const NON_ASCII: &[&str] = &[
    "café",
    "naïve",
    "Grüße",
    "señor",
    "ñandú",
    "smörgåsbord",
    "Привет",
    "мир",
    "日本語",
    "東京",
    "안녕",
    "שלום",
    "مرحبا",
    "ελληνικά",
    "🚀",
    "🌱",
    "🐚",
    "❤️",
    "✨",
    "½",
    "€",
    "—",
];

/// Channel names (posts' `channel`, `#channel` mentions, channel subscriptions).
pub(crate) const CHANNELS: &[&str] = &[
    "scuttlebutt",
    "ssb-dev",
    "solarpunk",
    "gardening",
    "music",
    "books",
    "rust",
    "javascript",
    "patchwork",
    "manyverse",
    "new-people",
    "sailing",
    "bikes",
    "cooking",
    "photography",
    "art",
    "climate",
    "offgrid",
    "p2p",
    "meta",
];

/// Vote expressions seen on the network.
pub(crate) const EXPRESSIONS: &[&str] = &["Like", "Yup", "y", "dig", "❤️", "Unlike"];

/// Probability that a generated word is non-ASCII.
const NON_ASCII_RATE: f64 = 0.03;

/// Picks one element of a non-empty slice.
pub(crate) fn pick<'a, T: ?Sized>(rng: &mut ChaCha8Rng, items: &[&'a T]) -> &'a T {
    let n = u32::try_from(items.len()).expect("short list");
    items[rng.gen_range(0..n) as usize]
}

/// One word, sometimes non-ASCII.
fn word(rng: &mut ChaCha8Rng) -> &'static str {
    if rng.gen_bool(NON_ASCII_RATE) {
        pick(rng, NON_ASCII)
    } else {
        pick(rng, WORDS)
    }
}

/// `count` words joined by spaces.
pub(crate) fn words(rng: &mut ChaCha8Rng, count: u32) -> String {
    let mut out = String::new();
    push_words(rng, count, &mut out);
    out
}

/// Appends `count` words joined by spaces to `out`.
fn push_words(rng: &mut ChaCha8Rng, count: u32, out: &mut String) {
    for i in 0..count {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word(rng));
    }
}

/// A short name of one or two words.
pub(crate) fn name(rng: &mut ChaCha8Rng) -> String {
    let count = rng.gen_range(1..3);
    words(rng, count)
}

/// Appends a capitalised sentence of 3 to 14 words ending with a full stop to `out`.
fn push_sentence(rng: &mut ChaCha8Rng, out: &mut String) {
    let count = rng.gen_range(3..15);
    let start = out.len();
    push_words(rng, count, out);
    if let Some(first) = out[start..].chars().next() {
        if first.is_ascii() {
            out[start..=start].make_ascii_uppercase();
        } else {
            let upper: String = first.to_uppercase().collect();
            out.replace_range(start..start + first.len_utf8(), &upper);
        }
    }
    out.push('.');
}

/// A post body: one word, or one to three paragraphs of sentences (long-tailed length).
pub(crate) fn post_text(rng: &mut ChaCha8Rng) -> String {
    if rng.gen_bool(0.1) {
        return word(rng).to_owned();
    }
    let paragraphs = if rng.gen_bool(0.8) {
        1
    } else {
        rng.gen_range(2..4)
    };
    let mut out = String::with_capacity(512);
    for p in 0..paragraphs {
        if p > 0 {
            out.push_str("\n\n");
        }
        let sentences = 1 + rng.gen_range(0..8) * rng.gen_range(0..3);
        for s in 0..sentences {
            if s > 0 {
                out.push(' ');
            }
            push_sentence(rng, &mut out);
        }
    }
    out
}

/// A random blob ref `&<base64 of 32 bytes>.sha256`.
pub(crate) fn blob_ref(rng: &mut ChaCha8Rng) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    format!("&{}.sha256", STANDARD.encode(bytes))
}

/// Encrypted content: canonical base64 of random bytes (the shape of a private-box) + `.box`.
pub(crate) fn private_box(rng: &mut ChaCha8Rng) -> String {
    let len = 24 + 16 + 33 * rng.gen_range(1..8) + rng.gen_range(100..1800);
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    let mut out = String::with_capacity(len.div_ceil(3) * 4 + ".box".len());
    STANDARD.encode_string(bytes, &mut out);
    out.push_str(".box");
    out
}

/// A pub's public key in base64 (for `pub` announcements).
pub(crate) fn pub_key(rng: &mut ChaCha8Rng) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn private_box_is_canonical_base64() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..50 {
            let b = private_box(&mut rng);
            let body = b.strip_suffix(".box").expect("suffix");
            let bytes = STANDARD.decode(body).expect("base64");
            assert_eq!(STANDARD.encode(bytes), body);
        }
    }

    #[test]
    fn blob_refs_have_the_ssb_shape() {
        let r = blob_ref(&mut ChaCha8Rng::seed_from_u64(2));
        assert!(r.starts_with('&') && r.ends_with("=.sha256"), "{r}");
        assert_eq!(r.len(), 1 + 44 + 7);
    }

    #[test]
    fn texts_vary_and_some_are_non_ascii() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let texts: Vec<String> = (0..500).map(|_| post_text(&mut rng)).collect();
        assert!(texts.iter().any(|t| !t.is_ascii()));
        assert!(texts.iter().any(|t| t.contains("\n\n")));
        assert!(texts.iter().all(|t| !t.is_empty() && t.len() < 4000));
    }
}
