#![no_main]
//! An upload's multipart body through the byte meter and the upload's field handling:
//! see `shelfready::server::fuzzing::multipart` for the input layout.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shelfready::server::fuzzing::multipart(data);
});
