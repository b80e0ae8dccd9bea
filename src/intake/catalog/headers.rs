//! Which column holds which field: header names matched forgivingly, synonyms included.

/// Header names understood for each field, compared after lowercasing and dropping
/// everything but letters and digits ("Item Number", "item_number" and "ITEM-NUMBER" are one).
pub const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "file",
        &[
            "file",
            "filename",
            "image",
            "imagefile",
            "imagename",
            "photo",
            "photofile",
            "picture",
            "path",
            "imagepath",
            "imageurl",
            "url",
            "imagelink",
            "link",
            "datei",
            "dateiname",
            "bild",
            "bilddatei",
            "bildname",
            "fichier",
            "nomdufichier",
            "archivo",
            "imagen",
        ],
    ),
    (
        "sku",
        &[
            "sku",
            "itemnumber",
            "itemno",
            "item",
            "articlenumber",
            "articleno",
            "itemcode",
            "productid",
            "productcode",
            "partnumber",
            "style",
            "stylenumber",
            "mpn",
            "variantsku",
            "sellersku",
            "artikelnummer",
            "artnr",
            "referenz",
            "reference",
            "referencia",
        ],
    ),
    (
        "position",
        &[
            "position",
            "pos",
            "imageposition",
            "order",
            "sequence",
            "index",
            "imagenumber",
            "imageno",
            "imgno",
            "photono",
            "photonumber",
            "photoposition",
            "picturenumber",
            "imageorder",
            "sortorder",
            "slot",
            "bildposition",
            "bildnr",
            "bildnummer",
            "reihenfolge",
        ],
    ),
    (
        "alt_text",
        &[
            "alttext",
            "alt",
            "imagealttext",
            "imagedescription",
            "imagealt",
            "alttag",
        ],
    ),
    (
        "title",
        &[
            "title",
            "producttitle",
            "productname",
            "name",
            "itemname",
            "description",
            "titel",
            "produktname",
            "bezeichnung",
            "titre",
            "titulo",
        ],
    ),
    (
        "identifier",
        &[
            "identifier",
            "asin",
            "upc",
            "ean",
            "gtin",
            "barcode",
            "isbn",
            "jan",
            "productidentifier",
            "upccode",
            "eancode",
            "gtin13",
            "gtin12",
            "gtin14",
            "ean13",
            "isbn13",
            "isbn10",
            "barcodenumber",
            "variantbarcode",
            "externalproductid",
            "codeean",
            "codeupc",
            "codebarres",
            "codebarre",
            "strichcode",
            "codigodebarras",
            "codigoean",
        ],
    ),
    (
        "handle",
        &[
            "handle",
            "producthandle",
            "urlhandle",
            "shopifyhandle",
            "slug",
        ],
    ),
];

pub(super) fn normalized(header: &str) -> String {
    // Accents fold to their letters first: `Référence` is `reference`, not `rfrence`.
    deunicode::deunicode(header.trim_start_matches('\u{feff}'))
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The column of `header` that holds `field`: the first synonym that names a column wins
/// (an `sku` column over an `item` one).
pub(super) fn column(header: &[String], field: &str) -> Option<usize> {
    let names = SYNONYMS
        .iter()
        .find(|(f, _)| *f == field)
        .map_or(&[][..], |(_, n)| *n);
    names
        .iter()
        .find_map(|n| header.iter().position(|h| normalized(h) == *n))
}
