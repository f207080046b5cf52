//! A stand-in for upstream release downloads: a plain HTTP file server over a directory laid
//! out as neuroscale's artifact mirror expects (`<mirror>/<host>/<path>`, see
//! `NEUROSCALE_ARTIFACT_MIRROR` in src/install/artifacts.rs). Tests fill it with small stand-in
//! artefacts, since this machine cannot download the real releases; the lock file neuroscale
//! writes on first download then pins those stand-ins.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use tokio::net::TcpListener;

/// Serves `root` on 127.0.0.1:0 until the task is aborted.
pub async fn serve(root: PathBuf) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let root = root.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let file = resolve(&root, request.uri().path());
                        async move {
                            let response = match file.and_then(|f| std::fs::read(f).ok()) {
                                Some(bytes) => Response::new(Full::new(Bytes::from(bytes)).boxed()),
                                None => Response::builder()
                                    .status(StatusCode::NOT_FOUND)
                                    .body(Full::new(Bytes::from_static(b"not found")).boxed())
                                    .expect("valid response"),
                            };
                            Ok::<_, Infallible>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((address, task))
}

/// The file under `root` a request path names; `None` for paths that would leave `root`.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    Some(root.join(relative))
}

/// Where the mirror must hold the stand-in for `url` (`https://host/path` → `root/host/path`).
pub fn path_for(root: &Path, url: &str) -> PathBuf {
    root.join(url.split_once("://").map(|(_, rest)| rest).unwrap_or(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_the_root() {
        assert!(resolve(Path::new("/m"), "/github.com/x.yaml").is_some());
        assert!(resolve(Path::new("/m"), "/../etc/passwd").is_none());
        assert_eq!(
            path_for(Path::new("/m"), "https://github.com/a/b.yaml"),
            Path::new("/m/github.com/a/b.yaml")
        );
    }
}
