#![no_main]
//! ICC/EXIF/metadata parsers and splicers: see `shelfready::pipeline::fuzzing::splice`
//! for the input layout (one selector byte, then the operation's bytes).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shelfready::pipeline::fuzzing::splice(data);
});
