//! Feeds that point at hosted images: a Shopify product CSV and a Google Merchant Center
//! TSV. The images are laid out under `images/` in the export folder, named by product and
//! position; their URLs are that path under `--base-url`, where the folder will be hosted.

use super::cells::spreadsheet_safe;
use super::{extension, slug, ExportError, Included, Product, ShopifyColumns, Target, Written};

/// Shopify keeps up to 250 images per product.
pub const SHOPIFY_IMAGES_MAX: usize = 250;
/// Shopify keeps at most this much alt text per image.
pub const SHOPIFY_ALT_MAX: usize = 512;
/// Merchant Center takes up to 10 additional images per product.
pub const GOOGLE_ADDITIONAL_MAX: usize = 10;
/// Merchant Center ids are 1-50 characters.
pub const GOOGLE_ID_MAX: usize = 50;

/// One hosted image: the output, its name in the export, its URL.
struct Hosted<'a> {
    image: &'a super::Image<'a>,
    name: String,
    url: String,
}

/// Lays out a product's images as `images/<name>-<n>.<ext>` (n from 1, in position order,
/// one per photo, at most `max`) and gives their URLs; those past `max` are left out with
/// `too_many` as the reason.
fn host<'a>(
    p: &'a Product<'a>,
    stem: &str,
    t: &Target,
    max: usize,
    too_many: &str,
    w: &mut Written,
) -> Result<Vec<Hosted<'a>>, ExportError> {
    let mut out: Vec<Hosted> = Vec::new();
    for photo in p.photos() {
        let image = photo[0];
        let h = image.handoff;
        if out.len() == max {
            w.leave_out(&p.sku, h, too_many);
            continue;
        }
        let name = format!("images/{stem}-{}.{}", out.len() + 1, extension(h));
        t.lay_out(h, &name)?;
        let url = t.url(&name).unwrap_or_default();
        out.push(Hosted { image, name, url });
    }
    Ok(out)
}

fn included(p: &Product, h: &Hosted) -> Included {
    Included {
        asset: h.image.handoff.id.clone(),
        product: p.sku.clone(),
        spec: h.image.handoff.goal.spec_id.clone(),
        name: h.name.clone(),
        file: None,
        url: Some(h.url.clone()),
    }
}

/// Shopify's product CSV: the columns it imports images by, in its template's order; one
/// row per image, the product's first row carrying its title. UTF-8, comma-separated,
/// fields with commas, quotes or line breaks quoted (quotes doubled).
pub fn shopify(products: &[Product], t: &Target) -> Result<Written, ExportError> {
    let mut w = Written::default();
    let header: [&str; 5] = match t.opts.shopify_columns {
        ShopifyColumns::Current => [
            "Title",
            "URL handle",
            "Product image URL",
            "Image position",
            "Image alt text",
        ],
        ShopifyColumns::Legacy => [
            "Handle",
            "Title",
            "Image Src",
            "Image Position",
            "Image Alt Text",
        ],
    };
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let cerr = |e: csv::Error| ExportError::Write {
        path: "products.csv".into(),
        error: std::io::Error::other(e.to_string()),
    };
    csv.write_record(header).map_err(cerr)?;
    let mut handles: Vec<String> = Vec::new();
    // Handles a catalog gives name products the shop has: a handle made from a title never
    // takes one of them.
    let given_handles: std::collections::HashSet<String> = products
        .iter()
        .filter_map(|p| p.handle.as_deref().map(slug))
        .filter(|h| !h.is_empty())
        .collect();
    for p in products {
        let title = p.title.as_deref().filter(|t| !t.trim().is_empty());
        let given = p.handle.as_deref().map(slug).filter(|h| !h.is_empty());
        // A product the shop has already is named by its handle, and needs no title; a new
        // one gets its handle from its title, as Shopify makes it.
        if given.is_none() && title.is_none() {
            for image in &p.images {
                w.leave_out(
                    &p.sku,
                    image.handoff,
                    format!("no title and no handle for product '{}': Shopify's import needs a product's Title (a new product) or its Handle (one the shop has); give one in a catalog's title or handle column, or with --identifiers (sku,title,handle)", p.sku),
                );
            }
            continue;
        }
        if p.images.is_empty() {
            continue;
        }
        let handle = match given {
            Some(h) if handles.contains(&h) => {
                for image in &p.images {
                    w.leave_out(
                        &p.sku,
                        image.handoff,
                        format!("its handle is another product's too: each product in the shop has its own; put the catalog's handle column right for product '{}'", p.sku),
                    );
                }
                continue;
            }
            Some(h) => h,
            None => {
                // Two products with one title keep apart by their SKUs.
                let mut handle = slug(title.unwrap_or_default());
                if handle.is_empty() || handles.contains(&handle) || given_handles.contains(&handle)
                {
                    handle = [handle, slug(&p.sku)]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join("-");
                }
                handle
            }
        };
        let title = title.unwrap_or_default();
        handles.push(handle.clone());
        let too_many = format!("Shopify keeps {SHOPIFY_IMAGES_MAX} images per product");
        let hosted = host(p, &handle, t, SHOPIFY_IMAGES_MAX, &too_many, &mut w)?;
        for (i, h) in hosted.iter().enumerate() {
            let alt: String = p
                .alt(h.image)
                .unwrap_or_default()
                .chars()
                .take(SHOPIFY_ALT_MAX)
                .collect();
            let position = (i + 1).to_string();
            let title = if i == 0 { title } else { "" };
            let (title, alt) = (spreadsheet_safe(title), spreadsheet_safe(&alt));
            let (title, alt) = (&*title, &*alt);
            let row: [&str; 5] = match t.opts.shopify_columns {
                ShopifyColumns::Current => [title, &handle, &h.url, &position, alt],
                ShopifyColumns::Legacy => [&handle, title, &h.url, &position, alt],
            };
            csv.write_record(row).map_err(cerr)?;
            w.included.push(included(p, h));
        }
    }
    let bytes = csv.into_inner().map_err(|e| ExportError::Write {
        path: "products.csv".into(),
        error: std::io::Error::other(e.to_string()),
    })?;
    t.write("products.csv", &bytes)?;
    w.files.push("products.csv".into());
    w.files.extend(w.included.iter().map(|i| i.name.clone()));
    Ok(w)
}

/// A Merchant Center supplemental feed of image links: `id`, `image_link`,
/// `additional_image_link` (up to 10, comma-separated, commas inside a URL encoded).
/// Tab-separated, UTF-8, one product per row; tabs and line breaks in a value become
/// spaces.
pub fn google(products: &[Product], t: &Target) -> Result<Written, ExportError> {
    let mut w = Written::default();
    let mut text = String::from("id\timage_link\tadditional_image_link\n");
    for p in products {
        if p.images.is_empty() {
            continue;
        }
        let id = spreadsheet_safe(&clean(&p.sku)).into_owned();
        if id.chars().count() > GOOGLE_ID_MAX {
            for image in &p.images {
                w.leave_out(
                    &p.sku,
                    image.handoff,
                    format!("the SKU is longer than the {GOOGLE_ID_MAX} characters a Merchant Center id may be"),
                );
            }
            continue;
        }
        let too_many = format!(
            "Merchant Center takes a main image and {GOOGLE_ADDITIONAL_MAX} additional ones"
        );
        let hosted = host(
            p,
            &slug(&p.sku),
            t,
            1 + GOOGLE_ADDITIONAL_MAX,
            &too_many,
            &mut w,
        )?;
        let mut links = Vec::new();
        for h in &hosted {
            links.push(h.url.replace(',', "%2C"));
            w.included.push(included(p, h));
        }
        let (main, more) = links.split_first().map_or(("", &[][..]), |(m, r)| (m, r));
        text.push_str(&format!("{id}\t{main}\t{}\n", more.join(",")));
    }
    t.write("feed.tsv", text.as_bytes())?;
    w.files.push("feed.tsv".into());
    w.files.extend(w.included.iter().map(|i| i.name.clone()));
    Ok(w)
}

/// A value for a tab-separated line: no tab or line break inside.
fn clean(v: &str) -> String {
    v.chars()
        .map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .to_string()
}
