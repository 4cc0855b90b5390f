//! One-off capture of miniupnpd's description and SCPD documents into `testdata/`.
//!
//! Run with `cargo test -p natkit-upnp-soap --test capture -- --ignored` (root, inside nothing:
//! the lab provides the router). It speaks plain HTTP/1.1 with the standard library so the
//! fixtures do not depend on this crate's own client.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

fn get(path: &str) -> String {
    let mut stream = TcpStream::connect(("192.168.77.1", 5000)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 192.168.77.1:5000\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

#[test]
#[ignore = "one-off: writes testdata/ from a live lab"]
fn capture_miniupnpd_documents() {
    let Some(lab) = natlab::Lab::for_test(natlab::LabConfig {
        natpmp: false,
        ..Default::default()
    }) else {
        return;
    };
    let documents = lab
        .lan()
        .run(|| {
            let root = get("/rootDesc.xml");
            let mut documents = vec![("rootDesc.xml".to_owned(), root.clone())];
            for part in root.split("<SCPDURL>").skip(1) {
                let path = part.split('<').next().unwrap().to_owned();
                let name = path.trim_start_matches('/').to_owned();
                documents.push((name, get(&path)));
            }
            documents
        })
        .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/miniupnpd");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in documents {
        std::fs::write(dir.join(name), body).unwrap();
    }
}
