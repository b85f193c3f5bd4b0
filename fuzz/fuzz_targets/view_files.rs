//! Fuzz target: arbitrary bytes as a view file's payload (the first byte picks the view), then
//! every query of that view; a payload that checks clean must encode stably. The body is
//! shared with sluice-views' test suite (`views/tests/view_file_damage.rs`).
#![no_main]

#[path = "../../views/tests/support/fuzz_views.rs"]
mod fuzz_views;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((&pick, payload)) = data.split_first() {
        fuzz_views::load_and_query(pick, payload, &[]);
    }
});
