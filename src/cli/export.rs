//! `shelfready export`: a listing export of an output folder's ready and approved outputs,
//! and the lines that say what went in and what was left out.

use std::path::{Path, PathBuf};

use super::CliError;
use crate::export::{export, ExportReport, Options};
use crate::handoff::BatchManifest;

/// The batch manifest an export reads, and the folder its paths are relative to: an output
/// folder (its manifest.json) or a manifest file.
pub fn read_manifest(input: &Path) -> Result<(BatchManifest, PathBuf), CliError> {
    let file = if input.is_dir() {
        input.join("manifest.json")
    } else {
        input.to_path_buf()
    };
    if !file.exists() {
        return Err(if input.exists() {
            CliError::Usage(format!(
                "{} has no manifest.json: give the output folder of `shelfready process`, or its manifest",
                input.display()
            ))
        } else {
            CliError::Missing(input.to_path_buf())
        });
    }
    let text = std::fs::read(&file).map_err(|error| {
        CliError::Store(crate::store::StoreError::Read {
            path: file.display().to_string(),
            error,
        })
    })?;
    let manifest: BatchManifest = serde_json::from_slice(&text).map_err(|e| {
        CliError::Usage(format!(
            "{} is not a shelfready batch manifest: {e}",
            file.display()
        ))
    })?;
    let root = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    Ok((manifest, root))
}

/// The `--identifiers` product list, by SKU.
pub fn read_products(
    file: &Path,
) -> Result<std::collections::HashMap<String, crate::handoff::Context>, CliError> {
    // The user named this file, so a link they chose is followed; its size is still bounded.
    let real = file
        .canonicalize()
        .map_err(|_| CliError::Missing(file.to_path_buf()))?;
    let bytes = crate::intake::read_no_follow(&real, crate::intake::catalog::MAX_FILE_BYTES)
        .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    crate::intake::product_list(&bytes)
        .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))
}

/// Runs the export of `input` into `out/<format>/`.
pub fn run(input: &Path, out: &Path, opts: &Options) -> Result<(ExportReport, PathBuf), CliError> {
    let (manifest, root) = read_manifest(input)?;
    let dir = out.join(opts.format.as_str());
    let root = crate::store::Objects::local(&root).map_err(crate::export::ExportError::from)?;
    let report = export(&manifest, &root, &input.display().to_string(), &dir, opts)?;
    Ok((report, dir))
}

/// What a seller reads: what was written, then each output left out with why.
pub fn render(report: &ExportReport, dir: &Path) -> String {
    let mut s = format!(
        "shelfready export {}: {} product(s), {} image(s) -> {}/\n",
        report.format.as_str(),
        report.products,
        report.included.len(),
        dir.display()
    );
    for f in &report.files {
        let inside = report
            .included
            .iter()
            .filter(|i| i.file.as_deref() == Some(f.name.as_str()))
            .count();
        if inside > 0 {
            s.push_str(&format!(
                "  {}  ({inside} images, {})\n",
                f.name,
                crate::spec::size_words(f.bytes)
            ));
        } else if !f.name.starts_with("images/") {
            s.push_str(&format!("  {}\n", f.name));
        }
    }
    let laid_out = report
        .files
        .iter()
        .filter(|f| f.name.starts_with("images/"))
        .count();
    if laid_out > 0 {
        s.push_str(&format!(
            "  images/  ({laid_out} files: upload the folder so that they are at --base-url)\n"
        ));
    }
    if report.included.is_empty() && report.left_out.is_empty() {
        s.push_str(&format!(
            "No output in the batch was made for {}: process the photos with its spec, or name specs with --spec.\n",
            report.format.as_str()
        ));
    } else if report.left_out.is_empty() {
        s.push_str("Nothing was left out.\n");
    } else {
        s.push_str(&format!(
            "\n{} output(s) left out ({}/export.json lists them):\n",
            report.left_out.len(),
            dir.display()
        ));
        const SHOWN: usize = 20;
        for l in report.left_out.iter().take(SHOWN) {
            s.push_str(&format!("  {}: {}\n", l.asset, l.reason));
        }
        if report.left_out.len() > SHOWN {
            s.push_str(&format!(
                "  ... and {} more\n",
                report.left_out.len() - SHOWN
            ));
        }
    }
    s
}
