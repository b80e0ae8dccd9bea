//! The rules every store keeps, written once above the backends: when a recorded output
//! is still current, and which name a source's outputs carry.

use super::{sha256_hex, Claim};
use crate::handoff::{State, PIPELINE_VERSION};
use crate::naming;
use crate::spec::Spec;

/// What a store recorded of one output, as far as "is it still current" asks.
pub struct Recorded<'a> {
    pub state: State,
    /// The image's place in the store, when one was written.
    pub path: Option<&'a str>,
    pub sha256: Option<&'a str>,
    pub source_sha256: &'a str,
    pub spec_hash: &'a str,
    pub pipeline: &'a str,
}

impl Recorded<'_> {
    /// Whether the output stands for this source content and spec: its state stands (a
    /// person's decision included), source, spec and pipeline are unchanged, and its image
    /// (read by `read`) is still the bytes recorded.
    pub fn is_current(
        &self,
        spec: &Spec,
        source_sha256: &str,
        read: impl FnOnce(&str) -> Option<Vec<u8>>,
    ) -> bool {
        if !self.state.stands()
            || self.source_sha256 != source_sha256
            || self.spec_hash != spec.content_hash()
            || self.pipeline != PIPELINE_VERSION
        {
            return false;
        }
        let (Some(path), Some(sha)) = (self.path, self.sha256) else {
            return false;
        };
        read(path).is_some_and(|image| sha256_hex(&image) == sha)
    }
}

/// The name the source `key` gets when it asks for `wanted`: the one it was `given`
/// before, or the first free candidate close to `wanted` (`owner` says which source holds
/// a name, compared without case: names that differ only in case are one file on macOS
/// and Windows). The second value is true when the name is new and must be recorded.
pub fn claim<E>(
    key: &str,
    wanted: &str,
    given: Option<String>,
    owner: impl Fn(&str) -> Result<Option<String>, E>,
) -> Result<(Claim, bool), E> {
    let taken_by = owner(wanted)?.filter(|k| k != key);
    if let Some(name) = given {
        let taken_by = taken_by.filter(|_| name != wanted);
        return Ok((Claim { name, taken_by }, false));
    }
    let mut name = wanted.to_string();
    for candidate in naming::candidates(wanted, key, taken_by.as_deref()) {
        if owner(&candidate)?.is_none() {
            name = candidate;
            break;
        }
    }
    Ok((Claim { name, taken_by }, true))
}
