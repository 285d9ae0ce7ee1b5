//! Embeds the built web client (`web/dist`, made by `npm run build` in `web/`) into the server.
//!
//! Writes `$OUT_DIR/web_assets.rs`: one `include_bytes!` per file of `web/dist`, sorted by URL
//! path. When `web/dist` does not exist (a fresh clone built without npm), the list is empty and
//! the server answers with a page that says how to build the client.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let web = manifest.join("../../web");
    let dist = web.join("dist");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("web_assets.rs");

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        // Cargo scans a watched directory recursively, so a new build of the bundle re-embeds it.
        println!("cargo:rerun-if-changed={}", dist.display());
        collect(&dist, &dist, &mut files);
    } else {
        // Watching the missing dist/ itself would rerun this script on every build; web/
        // changes when dist/ appears in it.
        println!("cargo:rerun-if-changed={}", web.display());
    }
    files.sort();

    let mut code = String::from(
        "/// The files of `web/dist`, sorted by path.\npub(crate) static ASSETS: &[Asset] = &[\n",
    );
    for (url_path, file) in &files {
        let file = file.canonicalize().expect("a listed file exists");
        let file = file.to_str().expect("paths under web/dist are UTF-8");
        writeln!(
            code,
            "    Asset {{ path: {url_path:?}, body: include_bytes!({file:?}) }},"
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    std::fs::write(&out, code).expect("OUT_DIR is writable");
}

/// Every file under `dir`, as (URL path from `root`, file path). Dot files are left out.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let relative = path.strip_prefix(root).expect("under root");
            let url_path: String = relative
                .components()
                .map(|c| {
                    format!(
                        "/{}",
                        c.as_os_str()
                            .to_str()
                            .expect("paths under web/dist are UTF-8")
                    )
                })
                .collect();
            files.push((url_path, path));
        }
    }
}
