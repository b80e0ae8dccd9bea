//! Amazon: zips for Seller Central's bulk image upload. Each image is named
//! `<identifier>.<variant>.<ext>` at the zip's root: MAIN for the product's first position,
//! PT01-PT99 for the next ones in order, SWCH for a swatch. The identifier is the ASIN,
//! UPC, EAN, JAN or ISBN, never the seller SKU. A product's images stay in one zip; a zip
//! that would pass the size limit is closed and the next one started.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use super::{extension, ExportError, Included, Product, Target, Written};
use crate::handoff::Handoff;
use crate::identifier::{identify, sku_as_identifier};

/// Amazon's file naming takes a main image and up to 99 others per product (PT01-PT99,
/// docs/rules.md amazon-variant-codes).
pub const MAX_PARTS: usize = 99;

/// Per-entry bytes a stored zip entry adds besides its data and name (local header,
/// central directory record).
const ENTRY_OVERHEAD: u64 = 30 + 46;

struct Entry<'a> {
    name: String,
    variant: String,
    handoff: &'a Handoff,
    product: String,
}

pub fn write(products: &[Product], t: &Target) -> Result<Written, ExportError> {
    let mut w = Written::default();
    // Each product's entries, MAIN first.
    let mut groups: Vec<Vec<Entry>> = Vec::new();
    let ids: Vec<Option<String>> = products.iter().map(|p| identifier(p, &mut w)).collect();
    // One identifier is one listing: images of two products under one would go to the
    // same listing, so neither goes until the catalog is put right.
    let mut owners: HashMap<&str, Vec<&str>> = HashMap::new();
    for (p, id) in products.iter().zip(&ids) {
        if let Some(id) = id {
            owners.entry(id).or_default().push(&p.sku);
        }
    }
    // Names taken in the zips: two images never share one.
    let mut taken: HashSet<String> = HashSet::new();
    for (p, id) in products.iter().zip(&ids) {
        let Some(id) = id.clone() else {
            continue;
        };
        let others: Vec<&str> = owners
            .get(id.as_str())
            .into_iter()
            .flatten()
            .filter(|s| **s != p.sku)
            .copied()
            .collect();
        if !others.is_empty() {
            for image in &p.images {
                w.leave_out(
                    &p.sku,
                    image.handoff,
                    format!("its identifier {id} is also product {}'s: Amazon would put both products' images on one listing; give each product its own identifier", others.join(", ")),
                );
            }
            continue;
        }
        let mut entries = Vec::new();
        let mut parts = 0usize;
        let mut main_taken = false;
        // One image per photo: a photo made for both Amazon specs goes in once, its
        // amazon-main output as the MAIN, its amazon-additional one as a PTnn.
        for photo in p.photos() {
            // The main is the product's first position, ready or not: when it waits, the
            // second photo does not move up in its place.
            let is_main = !main_taken && photo[0].position != 0 && photo[0].position == p.first;
            let additional = |i: &super::Image| i.handoff.goal.spec_id == "amazon-additional";
            let image = if is_main {
                photo.iter().find(|i| !additional(i))
            } else {
                photo.iter().find(|i| additional(i))
            }
            .or(photo.first())
            .copied();
            let Some(image) = image else { continue };
            let h = image.handoff;
            let ext = match extension(h) {
                "jpg" => "jpg",
                "png" => "png",
                other => {
                    w.leave_out(
                        &p.sku,
                        h,
                        format!("Amazon's image upload takes JPEG, PNG or TIFF, not .{other}"),
                    );
                    continue;
                }
            };
            if is_main && additional(image) {
                w.leave_out(
                    &p.sku,
                    h,
                    "it is the product's first photo but was made for amazon-additional: process it with amazon-main to make the MAIN",
                );
                continue;
            }
            let variant = if image.position == 0 {
                "SWCH".to_string()
            } else if is_main {
                main_taken = true;
                "MAIN".to_string()
            } else if parts < MAX_PARTS {
                parts += 1;
                format!("PT{parts:02}")
            } else {
                w.leave_out(
                    &p.sku,
                    h,
                    format!("Amazon's file names hold a main image and {MAX_PARTS} others (PT01-PT{MAX_PARTS:02}); this is number {}", parts + 2),
                );
                continue;
            };
            let name = format!("{id}.{variant}.{ext}");
            // One image per slot, whatever its extension.
            if !taken.insert(format!("{id}.{variant}").to_ascii_lowercase()) {
                w.leave_out(
                    &p.sku,
                    h,
                    format!("another image of the product already takes the name {name} (two photos at one position)"),
                );
                continue;
            }
            entries.push(Entry {
                name: format!("{id}.{variant}.{ext}"),
                variant,
                handoff: h,
                product: p.sku.clone(),
            });
        }
        if !main_taken {
            for e in &entries {
                w.leave_out(
                    &p.sku,
                    e.handoff,
                    "its product has no main image ready (position 1): without a MAIN, Amazon may not show the others",
                );
            }
            continue;
        }
        // MAIN first, then PT01.., then the swatch.
        entries.sort_by_key(|e| (e.variant != "MAIN", e.variant == "SWCH", e.variant.clone()));
        groups.push(entries);
    }

    // Products packed into zips in order, each zip kept under the limit.
    let mut zips: Vec<Vec<Entry>> = Vec::new();
    let mut size = 0u64;
    for g in groups {
        let g_size: u64 = g
            .iter()
            .map(|e| {
                let bytes = e.handoff.asset.as_ref().map_or(0, |a| a.bytes);
                bytes + ENTRY_OVERHEAD + 2 * e.name.len() as u64
            })
            .sum();
        match zips.last_mut() {
            Some(z) if size + g_size <= t.opts.zip_max_bytes => {
                z.extend(g);
                size += g_size;
            }
            _ => {
                zips.push(g);
                size = g_size;
            }
        }
    }
    for (n, entries) in zips.iter().enumerate() {
        let file = format!("amazon-images-{}.zip", n + 1);
        write_zip(t, &file, entries)?;
        for e in entries {
            w.included.push(Included {
                asset: e.handoff.id.clone(),
                product: e.product.clone(),
                spec: e.handoff.goal.spec_id.clone(),
                name: e.name.clone(),
                file: Some(file.clone()),
                url: None,
            });
        }
        w.files.push(file);
    }
    Ok(w)
}

/// The product's identifier: the product list's, the catalog's, else its SKU when that is
/// itself one. None (and every image left out, with why) when there is none.
fn identifier(p: &Product, w: &mut Written) -> Option<String> {
    let reason = match &p.identifier {
        Some(raw) => match identify(raw) {
            Ok((id, _)) => return Some(id),
            Err(why) => format!("its identifier is not one Amazon names images by: {why}"),
        },
        None => match sku_as_identifier(&p.sku) {
            Some((id, _)) => return Some(id),
            // A SKU of 10, 12 or 13 digits was meant as one: say what is wrong with it.
            None if p.sku.chars().all(|c| c.is_ascii_digit())
                && [10, 12, 13].contains(&p.sku.len()) =>
            {
                let why = identify(&p.sku).err().unwrap_or_default();
                format!("its SKU looks like an identifier but is not one: {why}")
            }
            None => format!(
                "no ASIN, UPC, EAN, JAN or ISBN for product '{}': Amazon names images by one, never by the SKU; give it in a catalog's identifier column or with --identifiers",
                p.sku
            ),
        },
    };
    for image in &p.images {
        w.leave_out(&p.sku, image.handoff, reason.clone());
    }
    None
}

/// A zip of stored entries (JPEG and PNG do not deflate) at its root, with fixed times and
/// modes: the same images make the same bytes.
fn write_zip(t: &Target, file: &str, entries: &[Entry]) -> Result<(), ExportError> {
    let path = t.dir.join(file);
    let werr = |e: &dyn std::fmt::Display| ExportError::Write {
        path: path.display().to_string(),
        error: std::io::Error::other(e.to_string()),
    };
    let mut sources = Vec::new();
    for e in entries {
        let src = t
            .source(e.handoff)
            .ok_or_else(|| werr(&"an output has no file"))?;
        sources.push((e.name.as_str(), src));
    }
    crate::store::write_atomic_with(&path, |f| {
        let mut z = zip::ZipWriter::new(std::io::BufWriter::new(f));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644);
        for (name, src) in &sources {
            let bytes = src.read()?;
            z.start_file(*name, opts).map_err(std::io::Error::other)?;
            z.write_all(&bytes)?;
        }
        let mut inner = z.finish().map_err(std::io::Error::other)?;
        inner.flush()
    })
    .map_err(|error| ExportError::Write {
        path: path.display().to_string(),
        error,
    })
}
